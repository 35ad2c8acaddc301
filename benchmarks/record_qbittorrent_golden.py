"""Records the shape of a real qBittorrent's Web API answers for the golden test.

    python benchmarks/record_qbittorrent_golden.py [OUTPUT]

Starts Debian's qbittorrent-nox on 127.0.0.1 with a throwaway profile (DHT,
LSD, PeX and UPnP off), seeds a small payload from a libtorrent session on
127.0.0.1, adds it to qBittorrent by magnet with a category and a tag, waits
until it has downloaded, then records the field names and JSON types of
`torrents/info`, `torrents/properties`, `torrents/files`,
`torrents/categories` and `sync/maindata`. The default OUTPUT is
tests/fixtures/qbittorrent_golden.json; tests/test_qbittorrent_golden.py
compares our façade against it, so CI needs no qbittorrent-nox.

JSON does not tell integers from fractions (Qt writes 1.0 as 1), so both are
recorded as "number". Only the qbittorrent-nox process this script started is
stopped, by its PID.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.daemon import free_port  # noqa: E402
from tests.seeder import Seeder, make_payload  # noqa: E402

DEFAULT_OUTPUT = ROOT / "tests" / "fixtures" / "qbittorrent_golden.json"
TIMEOUT = 120.0


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape(item: dict[str, Any]) -> dict[str, str]:
    return {key: json_type(value) for key, value in sorted(item.items())}


def write_profile(profile: Path, downloads: Path) -> None:
    config = profile / "qBittorrent" / "config"
    config.mkdir(parents=True)
    (config / "qBittorrent.conf").write_text(
        "[LegalNotice]\nAccepted=true\n\n"
        "[BitTorrent]\nSession\\DHTEnabled=false\nSession\\LSDEnabled=false\n"
        "Session\\PeXEnabled=false\nSession\\Interface=lo\n"
        "Session\\InterfaceName=lo\nSession\\InterfaceAddress=127.0.0.1\n"
        f"Session\\DefaultSavePath={downloads}\n\n"
        "[Preferences]\n"
        "WebUI\\LocalHostAuth=false\nWebUI\\Address=127.0.0.1\n"
        "Connection\\Interface=lo\nConnection\\InterfaceAddress=127.0.0.1\n"
        "Bittorrent\\DHT=false\nBittorrent\\LSD=false\nBittorrent\\PeX=false\n"
        "Connection\\UPnP=false\n"
        f"Downloads\\SavePath={downloads}\n"
    )


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v2/"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar())
        )

    def call(self, path: str, form: dict[str, str] | None = None) -> bytes:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        with self.opener.open(self.base + path, data=data, timeout=30) as response:
            return bytes(response.read())

    def json(self, path: str) -> Any:
        return json.loads(self.call(path))

    def wait(self, predicate: Any, what: str) -> Any:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                value = predicate()
            except OSError:
                value = None
            if value:
                return value
            time.sleep(0.5)
        raise TimeoutError(f"qbittorrent-nox: timed out waiting for {what}")


def record(work: Path, binary: str) -> dict[str, Any]:
    payload = make_payload(
        work / "seed", "Golden.S01", {"Golden.S01E01.mkv": 1 << 20, "info.txt": 300}
    )
    seeder = Seeder(payload)
    profile, port = work / "profile", free_port()
    write_profile(profile, work / "downloads")
    process = subprocess.Popen(
        [binary, f"--profile={profile}", f"--webui-port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = Api(port)
    try:
        version = api.wait(lambda: api.call("app/version").decode(), "the Web API")
        web_api = api.call("app/webapiVersion").decode()
        api.call("torrents/createCategory", {"category": "tv", "savePath": ""})
        first = api.json("sync/maindata")
        api.call(
            "torrents/add",
            {"urls": seeder.magnet, "category": "tv", "tags": "golden"},
        )
        done = api.wait(
            lambda: [t for t in api.json("torrents/info") if t["progress"] >= 1.0],
            "the download",
        )
        info_hash = done[0]["hash"]
        delta = api.json(f"sync/maindata?rid={first['rid']}")
        full = api.json("sync/maindata")
        torrents = api.json("torrents/info")
        return {
            "app_version": version,
            "webapi_version": web_api,
            "torrents/info": shape(torrents[0]),
            "torrents/properties": shape(
                api.json(f"torrents/properties?hash={info_hash}")
            ),
            "torrents/files": shape(api.json(f"torrents/files?hash={info_hash}")[0]),
            "torrents/categories": shape(api.json("torrents/categories")["tv"]),
            "sync/maindata": shape(full),
            "sync/maindata/delta": shape(delta),
            "sync/maindata/torrents": shape(full["torrents"][info_hash]),
            "sync/maindata/categories": shape(full["categories"]["tv"]),
            "sync/maindata/server_state": shape(full["server_state"]),
        }
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=60)
        seeder.close()


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    binary = shutil.which("qbittorrent-nox")
    if binary is None:
        sys.exit("qbittorrent-nox is not installed (Debian: qbittorrent-nox)")
    work = Path(tempfile.mkdtemp(prefix="revaer-golden-"))
    try:
        shapes = record(work, binary)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fixture = {
        "_header": (
            "Recorded by benchmarks/record_qbittorrent_golden.py from Debian's "
            f"qbittorrent-nox {shapes['app_version']} (Web API "
            f"{shapes['webapi_version']}) on 127.0.0.1, with a throwaway profile, "
            "after one magnet with category 'tv' and tag 'golden' downloaded from "
            "a loopback libtorrent seeder. Values are field name -> JSON type; "
            "integers and fractions are both 'number'. Rerun the script to refresh."
        ),
        **shapes,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(fixture, indent=2, sort_keys=True) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
