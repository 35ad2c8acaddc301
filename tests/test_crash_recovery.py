"""kill -9 at awkward moments: nothing is fetched twice, nothing is left half
done, and no job is duplicated."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg

from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload

PAYLOAD = 6 * 1024 * 1024


def _progress(daemon: Daemon, info_hash: str) -> float:
    return float(daemon.api("GET", f"/v1/torrents/{info_hash}")[1]["progress"])


def _moved(daemon: Daemon) -> Any:
    jobs = daemon.cli_json("jobs")
    return jobs if jobs and jobs[0]["status"] in ("moved", "failed") else None


def test_a_magnet_killed_mid_download_resumes_instead_of_starting_over(
    daemon: Daemon, tmp_path: Path
) -> None:
    payload = make_payload(tmp_path / "slow", "Slow", {"big.bin": PAYLOAD}, seed=3)
    seeder = Seeder(payload, upload_limit=1024 * 1024)
    try:
        info_hash = daemon.cli("add", seeder.magnet).stdout.strip()
        daemon.wait_for(
            lambda: _progress(daemon, info_hash) >= 0.5, "half the download"
        )
        daemon.kill9()
        sent_before_crash = seeder.uploaded()

        daemon.start()
        daemon.wait_for(lambda: _moved(daemon), "the download to finish", 120)
        sent_after_crash = seeder.uploaded() - sent_before_crash
    finally:
        seeder.close()

    library = daemon.data_dir / "library" / "Slow" / "big.bin"
    assert library.read_bytes() == (payload / "big.bin").read_bytes()
    # Starting over would send the whole payload again.
    assert sent_after_crash < 0.75 * PAYLOAD, sent_after_crash
    assert "rechecking downloads" in daemon.log()


def test_injected_crash_mid_move_finishes_the_move_without_a_second_job(
    daemon: Daemon, seeder: Seeder, database_url: str
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv")
    first = daemon.wait_for(lambda: _moved(daemon), "the first move")[0]
    daemon.kill9()
    seeder.close()

    # Injected: what a kill -9 halfway through a cross-device move leaves (the
    # full source, a truncated copy at the destination, the job still
    # `moving`). A real crash cannot be timed that finely on demand.
    library = daemon.data_dir / "library" / "tv" / "Show.S01"
    source = daemon.data_dir / "downloads" / seeder.info_hash / "Show.S01"
    shutil.copytree(library, source)
    episode = library / "Show.S01E01.mkv"
    episode.write_bytes(episode.read_bytes()[: PAYLOAD // 10])
    (library / "extras" / "readme.txt").unlink()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE revaer_runtime.fs_jobs SET status = 'moving', stage = 'transfer'"
        )
        conn.execute(
            "UPDATE revaer_runtime.torrents SET save_path = %s, library_path = NULL",
            (str(source.parent),),
        )
    daemon.start()

    jobs = daemon.wait_for(lambda: _moved(daemon), "the resumed move")
    torrent = daemon.wait_for(
        lambda: (t := daemon.cli_json("ls")[0])["state"] == "seeding" and t,
        "the torrent to seed from the library",
    )
    assert [j["id"] for j in jobs] == [first["id"]]
    assert jobs[0]["status"] == "moved"
    assert torrent["library_path"] == str(library)
    for name in ("Show.S01E01.mkv", "extras/readme.txt"):
        assert (library / name).read_bytes() == (seeder.payload / name).read_bytes()
    assert not source.exists()


def test_a_failed_job_is_not_reopened_at_every_restart(
    daemon: Daemon, seeder: Seeder
) -> None:
    (daemon.data_dir / "library" / "Show.S01").mkdir(parents=True)
    daemon.cli("add", seeder.magnet)
    failed = daemon.wait_for(lambda: _moved(daemon), "the job to fail")

    for _ in range(2):
        daemon.stop()
        daemon.start()
        daemon.wait_for(
            lambda: daemon.cli_json("ls")[0]["state"] == "seeding", "seeding"
        )

    assert failed[0]["status"] == "failed"
    assert daemon.cli_json("jobs") == failed


def test_a_v2_magnet_keeps_its_id_when_the_v1_hash_arrives(
    daemon: Daemon, seeder: Seeder
) -> None:
    added = daemon.cli("add", seeder.v2_magnet, "--category", "tv")
    info_hash = added.stdout.strip()

    jobs = daemon.wait_for(lambda: _moved(daemon), "the v2 download to be filed")
    torrent = daemon.wait_for(
        lambda: (t := daemon.cli_json("status", info_hash))["state"] == "seeding" and t,
        "the v2 torrent to seed",
    )

    assert info_hash == str(seeder.info.info_hashes().v2)[:40]
    assert jobs[0]["status"] == "moved" and jobs[0]["torrent_id"] == info_hash
    assert torrent["name"] == "Show.S01"


def test_a_move_acknowledged_just_before_a_kill_is_finished_at_boot(
    daemon: Daemon, seeder: Seeder, database_url: str
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv")
    daemon.wait_for(lambda: _moved(daemon), "the download to be filed")
    filed = daemon.data_dir / "library" / "tv" / "Show.S01"
    archive = daemon.data_dir / "library" / "archive"

    answer = daemon.api(
        "POST",
        f"/v1/torrents/{seeder.info_hash}/action",
        {"type": "move", "save_path": str(archive)},
    )
    daemon.kill9()  # at once: before the move's landing can be written
    # No peer to fetch from: a torrent that went on in the old folder would
    # stay there at 0 % instead of hiding it by downloading again.
    seeder.close()
    daemon.start()

    torrent = daemon.wait_for(
        lambda: (
            (t := daemon.cli_json("status", seeder.info_hash))["state"] == "seeding"
            and t["save_path"] == str(archive)
            and t
        ),
        "the interrupted move to land and the torrent to seed from there",
    )
    with psycopg.connect(database_url) as conn:
        row = daemon.wait_for(
            lambda: (
                (
                    r := conn.execute(
                        "SELECT save_path, move_to FROM revaer_runtime.torrents"
                    ).fetchone()
                )
                and r[1] is None
                and r
            ),
            "the landed move in the row",
        )

    assert answer[0] == 200
    assert torrent["progress"] == 1.0
    assert row == (str(archive), None)
    assert (archive / "Show.S01" / "Show.S01E01.mkv").read_bytes() == (
        seeder.payload / "Show.S01E01.mkv"
    ).read_bytes()
    assert not (filed / "Show.S01E01.mkv").exists()
    assert "interrupted user move resumed" in daemon.log()
