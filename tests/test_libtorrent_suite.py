"""Every torrent in libtorrent's own test suite gets the answer libtorrent's
verdict implies: accepted, or a 400 naming libtorrent's reason, with nothing
left behind."""

from __future__ import annotations

import ast
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
    # expected.tsv holds libtorrent's first paths, padding files included; the
    # catalog leaves those out. The paths are where libtorrent writes the
    # data: a duplicated path is renamed (bar.txt, bar.1.txt), never listed
    # twice, or FsOps would file one file and lose the other.
    first_paths = ast.literal_eval(rest.split("\t")[2])
    layout = lt.torrent_info(data).layout()
    pad = lt.file_storage.flag_pad_file
    real = [p for i, p in enumerate(first_paths) if not layout.file_flags(i) & pad]
    listed = [f["path"] for f in stored["files"]]
    assert listed[: len(real)] == real
    assert len(set(listed)) == len(listed), listed


RENAMED = {
    "duplicate_files.torrent": "temp/foo/bar.1.txt",
    "empty_path_multi.torrent": "temp/_.1",
    "invalid_directory_name.torrent": "test2/_/foo.1",
    "invalid_filename2.torrent": "est2/_/_.1",
    "v2_invalid_filename2.torrent": "test/_.1",
}


@pytest.mark.parametrize(("name", "renamed"), sorted(RENAMED.items()))
def test_a_duplicated_path_is_listed_under_the_name_libtorrent_writes(
    suite_daemon: Daemon, name: str, renamed: str
) -> None:
    data = (SUITE / name).read_bytes()
    info_hash = torrent_id(lt.torrent_info(data).info_hashes())
    body = {"metainfo": base64.b64encode(data).decode(), "paused": True}
    suite_daemon.api("POST", "/v1/torrents", body)

    status, stored = suite_daemon.api("GET", f"/v1/torrents/{info_hash}")

    assert status == 200, stored
    assert renamed in [f["path"] for f in stored["files"]]
