"""Fetching a .torrent from an http(s) URL, as indexers hand them out.

Indexers (and Prowlarr) often answer a download link with a redirect to a
magnet, so a redirect to `magnet:` is followed into a magnet source.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp

from revaer_actors.errors import InvalidInput
from revaer_actors.sources import MAX_METAINFO_BYTES

FETCH_TIMEOUT = 30.0
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Fetched:
    magnet: str | None = None
    metainfo: bytes | None = None


async def fetch_torrent(url: str) -> Fetched:
    """Downloads a .torrent (at most MAX_METAINFO_BYTES) or follows to a magnet.

    TODO(when the API is exposed beyond loopback): this fetches any http(s)
    address the caller names, as qBittorrent does; an allow-list of hosts would
    stop it being used to probe the daemon's network.
    """
    _check_scheme(url)
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                fetched, url = await _get(client, url)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise InvalidInput(
                    f"cannot fetch the torrent: {exc or type(exc).__name__}",
                    field="/url",
                ) from None
            if fetched is not None:
                return fetched
    raise InvalidInput(f"more than {MAX_REDIRECTS} redirects", field="/url")


async def _get(client: aiohttp.ClientSession, url: str) -> tuple[Fetched | None, str]:
    async with client.get(url, allow_redirects=False) as response:
        if response.status in (301, 302, 303, 307, 308):
            target = urljoin(url, response.headers.get("Location", ""))
            if target.startswith("magnet:"):
                return Fetched(magnet=target), url
            _check_scheme(target)
            return None, target
        if response.status != 200:
            raise InvalidInput(
                f"fetching the torrent answered HTTP {response.status}", field="/url"
            )
        return Fetched(metainfo=await _read_limited(response)), url


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    if (response.content_length or 0) > MAX_METAINFO_BYTES:
        raise InvalidInput(
            f"the torrent at the URL is larger than {MAX_METAINFO_BYTES} bytes",
            field="/url",
        )
    data = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        data.extend(chunk)
        if len(data) > MAX_METAINFO_BYTES:
            raise InvalidInput(
                f"the torrent at the URL is larger than {MAX_METAINFO_BYTES} bytes",
                field="/url",
            )
    return bytes(data)


def _check_scheme(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("url must be an http or https address", field="/url")
