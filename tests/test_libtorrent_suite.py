"""Every torrent in libtorrent's own test suite gets the answer libtorrent's
verdict implies: accepted, or a 400 naming libtorrent's reason, with nothing
left behind."""

from __future__ import annotations

import base64

import libtorrent as lt
import pytest

from revaer_actors.sources import torrent_id
from tests.daemon import Daemon
from tests.shared import LIBTORRENT_SUITE

SUITE = LIBTORRENT_SUITE


def _expected() -> list[tuple[str, str, str]]:
    rows = []
    for line in (SUITE / "expected.tsv").read_text().splitlines():
        name, verdict, rest = line.split("\t", 2)
        rows.append((name, verdict, rest))
    return rows


@pytest.fixture(scope="module")
def suite_daemon(module_daemon: Daemon) -> Daemon:
    return module_daemon


def test_the_suite_is_present() -> None:
    assert len(_expected()) > 60, f"fixtures missing under {SUITE}"


@pytest.mark.parametrize(("name", "verdict", "rest"), _expected())
def test_each_suite_torrent_gets_the_answer_libtorrent_implies(
    suite_daemon: Daemon, name: str, verdict: str, rest: str
) -> None:
    data = (SUITE / name).read_bytes()
    before = suite_daemon.catalog()
    body = {"metainfo": base64.b64encode(data).decode(), "paused": True}

    status, answer = suite_daemon.api("POST", "/v1/torrents", body)

    if verdict == "error":
        reason = rest.split("\t")[0]
        assert status == 400, answer
        assert answer["detail"] == f"libtorrent refused the torrent: {reason}"
        assert suite_daemon.catalog() == before
        return

    info_hash = torrent_id(lt.torrent_info(data).info_hashes())
    if info_hash in before:
        assert status == 409, answer
        return
    assert (status, answer) == (201, {"id": info_hash})
    stored = suite_daemon.api("GET", f"/v1/torrents/{info_hash}")[1]
    assert stored["state"] == "paused"
    assert stored["name"] == rest.split("\t")[0].strip("'")
