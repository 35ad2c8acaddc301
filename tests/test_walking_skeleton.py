"""End to end: a real daemon downloads from a real seeder on 127.0.0.1, files the
payload in the library, and remembers all of it after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.daemon import Daemon
from tests.seeder import Seeder


def _torrent(daemon: Daemon, info_hash: str) -> dict[str, Any]:
    return next(t for t in daemon.cli_json("ls") if t["id"] == info_hash)


def _moved_job(daemon: Daemon) -> Any:
    jobs = daemon.cli_json("jobs")
    return jobs if jobs and jobs[0]["status"] == "moved" else None


def test_magnet_download_is_filed_in_the_library_and_survives_a_restart(
    daemon: Daemon, seeder: Seeder
) -> None:
    added = daemon.cli("add", seeder.magnet, "--category", "tv")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == seeder.info_hash

    jobs = daemon.wait_for(lambda: _moved_job(daemon), "the fs job to be moved")

    library = daemon.data_dir / "library" / "tv" / "Show.S01"
    for source in sorted(seeder.payload.rglob("*")):
        if source.is_file():
            target = library / source.relative_to(seeder.payload)
            assert target.read_bytes() == source.read_bytes(), target
    # The torrent's own download folder is tidied away once the move emptied it.
    own_folder = daemon.data_dir / "downloads" / seeder.info_hash
    assert not own_folder.exists()
    assert len(jobs) == 1
    job = jobs[0]
    assert job["torrent_id"] == seeder.info_hash
    assert job["transfer_mode"] == "move"
    assert job["dst_path"] == str(library)
    assert job["src_path"] == str(own_folder / "Show.S01")
    assert job["attempt"] == 1 and job["last_error"] is None

    torrent = daemon.wait_for(
        lambda: (t := _torrent(daemon, seeder.info_hash))["state"] == "seeding" and t,
        "the torrent to seed",
    )
    assert torrent["library_path"] == str(library)
    assert torrent["category"] == "tv"
    assert torrent["progress"] == 1.0
    assert torrent["completed_at"] is not None

    assert daemon.stop() == 0
    seeder.close()
    daemon.start()

    restored = daemon.wait_for(
        lambda: (t := _torrent(daemon, seeder.info_hash))["state"] == "seeding" and t,
        "the restored torrent to seed from the library",
    )
    assert restored["library_path"] == str(library)
    assert restored["save_path"] == str(library.parent)
    assert restored["completed_at"] == torrent["completed_at"]
    assert restored["name"] == "Show.S01"
    assert {f["path"] for f in restored["files"]} == {
        "Show.S01/Show.S01E01.mkv",
        "Show.S01/extras/readme.txt",
    }
    assert daemon.cli_json("jobs") == jobs
    assert not own_folder.exists()


def test_torrent_file_added_paused_stays_paused_and_is_not_downloaded(
    daemon: Daemon, seeder: Seeder, tmp_path: Path
) -> None:
    torrent_file = tmp_path / "show.torrent"
    torrent_file.write_bytes(seeder.metainfo)

    added = daemon.cli("add", str(torrent_file), "--paused", "--category", "tv")

    assert added.returncode == 0, added.stderr
    status = daemon.cli_json("status", seeder.info_hash)
    assert status["state"] == "paused"
    assert status["total_size"] == sum(
        p.stat().st_size for p in seeder.payload.rglob("*") if p.is_file()
    )

    assert daemon.stop() == 0
    daemon.start()

    assert daemon.cli_json("status", seeder.info_hash)["state"] == "paused"
    assert daemon.cli_json("jobs") == []
    assert not (daemon.data_dir / "library" / "tv").exists()


def test_removing_with_its_data_leaves_nothing_of_a_filed_torrent(
    daemon: Daemon, seeder: Seeder
) -> None:
    assert daemon.cli("add", seeder.magnet, "--category", "tv").returncode == 0
    daemon.wait_for(lambda: _moved_job(daemon), "the fs job to be moved")
    library = daemon.data_dir / "library" / "tv"
    meta = library / "Show.S01.revaer.meta"
    assert meta.exists()

    removed = daemon.cli("action", seeder.info_hash, "remove", "--delete-data")

    assert removed.returncode == 0, removed.stderr
    daemon.wait_for(
        lambda: not (library / "Show.S01").exists(), "libtorrent to delete the files"
    )
    assert not meta.exists()
    assert daemon.cli_json("ls") == []
