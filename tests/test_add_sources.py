"""Adding from a URL, from a multipart upload, and adding a duplicate."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import Daemon
from tests.seeder import Seeder


class _Indexer(BaseHTTPRequestHandler):
    """A loopback 'indexer': serves the .torrent, a magnet redirect, a 404
    and an oversized file."""

    metainfo = b""
    magnet = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/show.torrent":
            self._send(200, self.metainfo)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/show.torrent")
            self.end_headers()
        elif self.path == "/to-magnet":
            self.send_response(302)
            self.send_header("Location", self.magnet)
            self.end_headers()
        elif self.path == "/huge":
            self._send(200, b"d" * (17 * 1024 * 1024))
        else:
            self._send(404, b"no")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def indexer(seeder: Seeder) -> Iterator[str]:
    handler = type(
        "Indexer",
        (_Indexer,),
        {
            "metainfo": seeder.metainfo,
            "magnet": seeder.magnet,
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/show.torrent", "/redirect", "/to-magnet"])
def test_a_url_is_fetched_by_the_daemon(
    daemon: Daemon, seeder: Seeder, indexer: str, path: str
) -> None:
    added = daemon.cli("add", indexer + path, "--paused", "--category", "tv")

    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == seeder.info_hash
    assert daemon.cli_json("status", seeder.info_hash)["category"] == "tv"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/missing", "fetching the torrent answered HTTP 404"),
        ("/huge", "the torrent at the URL is larger than 16777216 bytes"),
    ],
)
def test_a_bad_url_is_a_400_and_changes_nothing(
    daemon: Daemon, indexer: str, path: str, detail: str
) -> None:
    status, problem = daemon.api("POST", "/v1/torrents", {"url": indexer + path})

    assert status == 400
    assert problem["detail"] == detail
    assert daemon.api("GET", "/v1/torrents")[1]["items"] == []


def test_a_non_http_url_is_refused(daemon: Daemon) -> None:
    status, problem = daemon.api("POST", "/v1/torrents", {"url": "file:///etc/passwd"})

    assert status == 400
    assert problem["invalid_params"][0]["name"] == "/url"


def test_a_multipart_upload_with_options_is_added(
    daemon: Daemon, seeder: Seeder
) -> None:
    boundary = "revaerboundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="torrent"; filename="a.torrent"\r\n'
            "Content-Type: application/x-bittorrent\r\n\r\n"
        ).encode()
        + seeder.metainfo
        + (
            f"\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="options"\r\n\r\n'
            '{"category": "tv", "paused": true, "tags": ["up"]}'
            f"\r\n--{boundary}--\r\n"
        ).encode()
    )
    request = urllib.request.Request(
        daemon.api_url + "/v1/torrents",
        data=body,
        method="POST",
        headers=daemon.headers(f"multipart/form-data; boundary={boundary}"),
    )

    with urllib.request.urlopen(request, timeout=30) as response:
        status = response.status

    torrent = daemon.cli_json("status", seeder.info_hash)
    assert status == 201
    assert (torrent["category"], torrent["tags"], torrent["state"]) == (
        "tv",
        ["up"],
        "paused",
    )


def test_a_duplicate_is_a_409_and_its_trackers_are_merged(
    daemon: Daemon, seeder: Seeder, tmp_path: Path
) -> None:
    daemon.cli("add", seeder.magnet, "--paused")
    magnet = seeder.magnet + "&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce"

    status, problem = daemon.api("POST", "/v1/torrents", {"magnet": magnet})
    again = daemon.api("POST", "/v1/torrents", {"magnet": magnet})

    assert status == 409
    assert problem["detail"] == (
        f"torrent {seeder.info_hash} is already in the catalog;"
        " 1 new tracker(s) merged into it"
    )
    assert again[1]["detail"] == (
        f"torrent {seeder.info_hash} is already in the catalog"
    )
    assert len(daemon.cli_json("ls")) == 1
