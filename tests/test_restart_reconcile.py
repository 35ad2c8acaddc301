"""Boot reconciles what a crash left half done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libtorrent as lt
import psycopg

from revaer_actors import sources
from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload, make_torrent


def _job(daemon: Daemon) -> Any:
    jobs = daemon.cli_json("jobs")
    return jobs[0] if jobs and jobs[0]["status"] in ("moved", "failed") else None


def test_a_crash_between_the_move_and_its_commit_resumes_from_the_library(
    daemon: Daemon, seeder: Seeder, database_url: str
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv")
    first = daemon.wait_for(lambda: _job(daemon), "the first move")
    library = daemon.data_dir / "library" / "tv" / "Show.S01"
    downloads = daemon.data_dir / "downloads" / seeder.info_hash
    daemon.kill9()
    seeder.close()

    # What a kill -9 after libtorrent moved the files, but before the `moved`
    # commit, leaves behind (a real crash cannot be timed that finely on demand).
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE revaer_runtime.fs_jobs SET status = 'moving', stage = 'transfer'"
        )
        conn.execute(
            "UPDATE revaer_runtime.torrents SET save_path = %s, library_path = NULL",
            (str(downloads),),
        )
    daemon.start()

    job = daemon.wait_for(lambda: _job(daemon), "the interrupted job to settle")
    torrent = daemon.wait_for(
        lambda: (t := daemon.cli_json("ls")[0])["state"] == "seeding" and t,
        "the torrent to seed from the library",
    )
    assert job["status"] == "moved"
    assert job["id"] == first["id"]
    assert job["dst_path"] == str(library)
    assert torrent["save_path"] == str(library.parent)
    assert torrent["library_path"] == str(library)
    assert torrent["progress"] == 1.0
    assert (library / "Show.S01E01.mkv").read_bytes() == (
        seeder.payload / "Show.S01E01.mkv"
    ).read_bytes()
    assert not (downloads / "Show.S01").exists()


def test_unreadable_resume_data_is_replaced_by_a_recheck_not_a_lost_torrent(
    daemon: Daemon, seeder: Seeder, database_url: str
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv")
    daemon.wait_for(lambda: _job(daemon), "the download to be filed")
    daemon.stop()
    seeder.close()

    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE revaer_runtime.torrents SET resume_data = 'garbage'")
    daemon.start()

    torrent = daemon.wait_for(
        lambda: (t := daemon.cli_json("ls")) and t[0]["state"] == "seeding" and t[0],
        "the torrent to seed again after a recheck",
    )
    assert torrent["progress"] == 1.0
    # Why it was rechecked stays in the row once it seeds again.
    assert torrent["state_message"].startswith("resume data unreadable (")
    assert torrent["state_message"].endswith("; re-added and rechecked")
    assert "resume data rejected" in daemon.log()
    assert daemon.cli_json("jobs") == [_job(daemon)]


def test_files_missing_at_boot_are_said_and_rechecked(
    daemon: Daemon, seeder: Seeder
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv")
    daemon.wait_for(lambda: _job(daemon), "the download to be filed")
    daemon.stop()
    seeder.close()
    library = daemon.data_dir / "library" / "tv" / "Show.S01"
    # Only the second file: every file is checked, not just the first.
    (library / "extras" / "readme.txt").unlink()

    daemon.start()

    torrent = daemon.wait_for(
        lambda: (t := daemon.cli_json("ls")[0])["state"] != "seeding" and t,
        "the recheck to notice the missing files",
    )
    assert torrent["state_message"] == (
        "files missing on disk at boot; rechecked, missing data is fetched again"
    )
    assert torrent["progress"] < 1.0
    assert "torrent files missing at boot" in daemon.log()


def test_a_stored_torrent_that_no_longer_parses_fails_in_its_row_not_the_boot(
    daemon: Daemon, database_url: str, tmp_path: Path
) -> None:
    hashes = []
    for n in range(3):
        payload = make_payload(tmp_path / "payloads", f"Thing{n}", {"a.bin": 40_000}, n)
        path = tmp_path / f"thing{n}.torrent"
        path.write_bytes(make_torrent(payload))
        hashes.append(daemon.cli("add", str(path), "--paused").stdout.strip())
    broken, magnet_broken, *fine = hashes
    daemon.stop()

    # What a damaged row looks like: metainfo that does not decode, and a
    # magnet that does not parse, with no resume data to fall back on.
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE revaer_runtime.torrents SET resume_data = NULL,"
            " metainfo = 'd4:infoi1e' WHERE info_hash = %s",
            (broken,),
        )
        conn.execute(
            "UPDATE revaer_runtime.torrents SET resume_data = NULL,"
            " metainfo = NULL, magnet = 'magnet:?xt=urn:btih:zz' WHERE info_hash = %s",
            (magnet_broken,),
        )
    daemon.start()

    rows = {t["id"]: t for t in daemon.torrents()}
    assert set(rows) == set(hashes)
    assert rows[broken]["state"] == "failed"
    assert rows[broken]["state_message"].startswith(
        "libtorrent refused the torrent: stored metainfo does not load"
    )
    assert rows[magnet_broken]["state"] == "failed"
    assert "magnet link does not parse" in rows[magnet_broken]["state_message"]
    assert [rows[h]["state"] for h in fine] == ["paused"]
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT state, state_message FROM revaer_runtime.torrents"
            " WHERE info_hash = %s",
            (broken,),
        ).fetchone()
    assert stored is not None
    assert stored[0] == "failed"
    assert "stored metainfo does not load" in stored[1]


def test_resume_data_of_another_torrent_is_refused_for_a_recheck(
    daemon: Daemon, database_url: str, tmp_path: Path
) -> None:
    hashes = []
    for n in range(2):
        payload = make_payload(tmp_path / "payloads", f"Other{n}", {"a.bin": 40_000}, n)
        path = tmp_path / f"other{n}.torrent"
        path.write_bytes(make_torrent(payload))
        hashes.append(daemon.cli("add", str(path), "--paused").stdout.strip())
    daemon.stop()  # saves every torrent's resume data
    first, second = hashes

    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE revaer_runtime.torrents SET resume_data ="
            " (SELECT resume_data FROM revaer_runtime.torrents WHERE info_hash = %s)"
            " WHERE info_hash = %s",
            (first, second),
        )
    daemon.start()

    rows = {t["id"]: t for t in daemon.torrents()}
    assert set(rows) == set(hashes)
    assert rows[second]["name"] == "Other1"
    assert rows[second]["state_message"].startswith(
        f"resume data unreadable (it is for another torrent ({first}))"
    )
    assert rows[first]["state_message"] is None


def _resume_row(database_url: str, info_hash: str) -> bytes | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT resume_data FROM revaer_runtime.torrents WHERE info_hash = %s",
            (info_hash,),
        ).fetchone()
    assert row is not None
    return None if row[0] is None else bytes(row[0])


def _paused_in(blob: bytes | None) -> bool | None:
    """The paused flag libtorrent would restore from this blob (None: no blob)."""
    if blob is None:
        return None
    params = lt.read_resume_data(blob)
    assert sources.torrent_id(params.info_hashes)  # it parses, for a torrent
    return bool(params.flags & lt.torrent_flags.paused)


def _next_blob(
    daemon: Daemon, database_url: str, info_hash: str, previous: bytes | None
) -> bytes:
    """The first resume data stored after `previous`. Waited for well under
    the 30 s timer (session.RESUME_INTERVAL), so the command's own save is
    the one found, not the timer's."""
    blob: bytes = daemon.wait_for(
        lambda: (b := _resume_row(database_url, info_hash)) != previous and b,
        "new resume data in the row",
        timeout=15.0,
    )
    return blob


def test_pause_and_resume_each_store_resume_data_saying_so(
    daemon: Daemon, database_url: str, tmp_path: Path
) -> None:
    # No seeder: the torrent stays a download, so only the commands change it.
    payload = make_payload(tmp_path / "payloads", "Pausable", {"a.bin": 40_000}, 3)
    path = tmp_path / "pausable.torrent"
    path.write_bytes(make_torrent(payload))
    info_hash = daemon.cli("add", str(path)).stdout.strip()
    before = _resume_row(database_url, info_hash)

    action = f"/v1/torrents/{info_hash}/action"
    assert daemon.api("POST", action, {"type": "pause"})[0] == 200
    paused = _next_blob(daemon, database_url, info_hash, before)
    assert daemon.api("POST", action, {"type": "resume"})[0] == 200
    resumed = _next_blob(daemon, database_url, info_hash, paused)

    assert before is None or _paused_in(before) is False
    # The first blob stored after each command already says what it did.
    assert _paused_in(paused) is True
    assert _paused_in(resumed) is False
    # And a restart brings it back as it was last left: running.
    daemon.stop()
    daemon.start()
    assert _paused_in(_resume_row(database_url, info_hash)) is False
    assert daemon.api("GET", f"/v1/torrents/{info_hash}")[1]["paused"] is False
