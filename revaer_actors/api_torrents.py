"""/v1/torrents: list, detail, add, actions and file selection."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from revaer_actors import listing, sources
from revaer_actors.api_common import SERVICES, json_body, parse_json
from revaer_actors.commands import Remove, parse_action, parse_select
from revaer_actors.errors import InvalidInput, TorrentNotFound
from revaer_actors.fetch import fetch_torrent


async def list_torrents(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query = listing.parse_query(request.query)
    records = await services.bridge.ask(services.orchestrator.list_torrents())
    shown, cursor = listing.page(records, query)
    return web.json_response({"items": [r.as_json() for r in shown], "next": cursor})


async def get_torrent(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    info_hash = _torrent_id(request)
    detail = await services.bridge.ask(services.orchestrator.torrent_detail(info_hash))
    return web.json_response(detail)


async def _multipart_body(request: web.Request) -> dict[str, Any]:
    """A .torrent file part (`torrent`), and optionally an `options` JSON part."""
    body: dict[str, Any] = {}
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("nested multipart bodies are not accepted")
        data = await part.read(decode=True)
        if part.name in ("torrent", "metainfo"):
            body["metainfo"] = base64.b64encode(data).decode()
        elif part.name == "options":
            options = parse_json(bytes(data))
            if not isinstance(options, dict):
                raise InvalidInput("options must be a JSON object", field="/options")
            body.update({k: v for k, v in options.items() if k != "metainfo"})
        else:
            raise InvalidInput(
                f"unknown form part {part.name!r}", field=f"/{part.name}"
            )
    return body


async def torrent_action(request: web.Request) -> web.Response:
    info_hash = _torrent_id(request)
    command = parse_action(await json_body(request))
    record = await _command(request, info_hash, command)
    if isinstance(command, Remove):
        return web.json_response({"id": info_hash, "removed": True})
    return web.json_response(record.as_json())


async def torrent_select(request: web.Request) -> web.Response:
    info_hash = _torrent_id(request)
    command = parse_select(await json_body(request))
    record = await _command(request, info_hash, command)
    return web.json_response(record.as_json())


def _torrent_id(request: web.Request) -> str:
    info_hash = request.match_info["id"]
    if not sources.is_torrent_id(info_hash):
        raise TorrentNotFound(info_hash)
    return info_hash


async def _command(request: web.Request, info_hash: str, command: Any) -> Any:
    services = request.app[SERVICES]
    return await services.bridge.ask(services.orchestrator.command(info_hash, command))


async def add_torrent(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if request.content_type == "multipart/form-data":
        try:
            body = await _multipart_body(request)
        except (ValueError, AssertionError, HttpProcessingError) as exc:
            # aiohttp's multipart parser: bad boundaries, encodings or headers.
            raise InvalidInput(f"malformed multipart body: {exc}") from None
    else:
        body = await json_body(request)

    if isinstance(body, dict) and isinstance(body.get("url"), str):
        fetched = await fetch_torrent(body.pop("url"))
        if fetched.magnet is not None:
            body["magnet"] = fetched.magnet
        else:
            body["metainfo"] = base64.b64encode(fetched.metainfo or b"").decode()
    add = await services.bridge.run(sources.parse_add_request, body)
    info_hash = await services.bridge.ask(services.orchestrator.add(add))
    return web.json_response(
        {"id": info_hash},
        status=201,
        headers={"Location": f"/v1/torrents/{info_hash}"},
    )
