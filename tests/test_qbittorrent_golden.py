"""Our qBittorrent-compatible answers have the field names and JSON types of a
real qBittorrent (tests/fixtures/qbittorrent_golden.json, recorded from
qbittorrent-nox 4.5.2 by benchmarks/record_qbittorrent_golden.py), plus the
fields qBittorrent 5.x added that clients read."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from tests.daemon import Daemon
from tests.seeder import Seeder

FIXTURE = Path(__file__).parent / "fixtures" / "qbittorrent_golden.json"
# torrents/info fields that 4.6.7 lacks and 5.0 serves (docs/qbittorrent-api.md).
FIVE_X_TORRENT = {
    "popularity": "number",
    "root_path": "string",
    "reannounce": "number",
    "comment": "string",
    "private": "boolean",
    "has_metadata": "boolean",
}
# torrents/properties fields that the 4.5 recording lacks and HEAD serves
# (docs/qbittorrent-api.md, `torrents/properties`).
FIVE_X_PROPERTIES = {
    "popularity": "number",
    "private": "boolean",
    "has_metadata": "boolean",
    "progress": "number",
}
TIMEOUT = 30


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def mismatches(expected: dict[str, str], ours: dict[str, Any]) -> list[str]:
    """Fields missing from ours or of another type; extra fields are fine.

    A field qBittorrent sent as null may be of any type here.
    """
    problems = []
    for name, kind in sorted(expected.items()):
        if name not in ours:
            problems.append(f"{name}: missing")
        elif kind != "null" and json_type(ours[name]) != kind:
            problems.append(f"{name}: {json_type(ours[name])}, expected {kind}")
    return problems


def test_fields_and_types_match_a_real_qbittorrent(
    daemon: Daemon, seeder: Seeder
) -> None:
    golden = json.loads(FIXTURE.read_text())
    api = daemon.api_url + "/api/v2/"
    password = (daemon.data_dir / "qbittorrent-password").read_text().strip()
    client = requests.Session()
    client.post(
        api + "auth/login",
        data={"username": "admin", "password": password},
        timeout=TIMEOUT,
    )
    client.post(api + "torrents/createCategory", data={"category": "tv"})
    client.post(
        api + "torrents/add",
        data={"urls": seeder.magnet, "category": "tv", "tags": "golden"},
        timeout=TIMEOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        info = client.get(api + "torrents/info", timeout=TIMEOUT).json()
        if info and info[0]["state"] == "stalledUP":
            break
        time.sleep(0.1)
    info_hash = seeder.info_hash

    ours = {
        "torrents/info": client.get(api + "torrents/info").json()[0],
        "torrents/properties": client.get(
            api + "torrents/properties", params={"hash": info_hash}
        ).json(),
        "torrents/files": client.get(
            api + "torrents/files", params={"hash": info_hash}
        ).json()[0],
        "torrents/categories": client.get(api + "torrents/categories").json()["tv"],
    }
    first = client.get(api + "sync/maindata").json()
    client.post(api + "torrents/addTags", data={"hashes": info_hash, "tags": "x"})
    delta = client.get(api + "sync/maindata", params={"rid": first["rid"]}).json()
    full = client.get(api + "sync/maindata").json()
    ours |= {
        "sync/maindata": full,
        "sync/maindata/delta": delta,
        "sync/maindata/torrents": full["torrents"][info_hash],
        "sync/maindata/categories": full["categories"]["tv"],
        "sync/maindata/server_state": full["server_state"],
    }

    assert info[0]["state"] == "stalledUP"
    report = {
        endpoint: mismatches(golden[endpoint], ours[endpoint])
        for endpoint in ours
        if endpoint != "sync/maindata/delta"
    }
    # A delta carries what changed: its keys must be ones qBittorrent sends.
    report["sync/maindata/delta"] = [
        f"{name}: not a maindata key"
        for name in ours["sync/maindata/delta"]
        if name not in golden["sync/maindata"] and not name.endswith("_removed")
    ]
    report["5.x torrent fields"] = mismatches(
        FIVE_X_TORRENT, ours["torrents/info"]
    ) + mismatches(FIVE_X_TORRENT, ours["sync/maindata/torrents"])
    report["5.x properties fields"] = mismatches(
        FIVE_X_PROPERTIES, ours["torrents/properties"]
    )
    assert {k: v for k, v in report.items() if v} == {}
    assert "hash" not in ours["sync/maindata/torrents"]
