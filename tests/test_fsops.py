"""Post-processing never leaves the library and never overwrites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload


def _jobs_settled(daemon: Daemon, count: int) -> Any:
    jobs = daemon.cli_json("jobs")
    settled = [j for j in jobs if j["status"] in ("moved", "failed")]
    return jobs if len(settled) == count else None


def test_a_second_torrent_with_the_same_name_fails_instead_of_overwriting(
    daemon: Daemon, seeder: Seeder, tmp_path: Path
) -> None:
    other = Seeder(
        make_payload(tmp_path / "other", "Show.S01", {"Show.S01E01.mkv": 5000}, seed=9)
    )
    try:
        daemon.cli("add", seeder.magnet, "--category", "tv")
        daemon.wait_for(lambda: _jobs_settled(daemon, 1), "the first job")
        daemon.cli("add", other.magnet, "--category", "tv")
        jobs = daemon.wait_for(lambda: _jobs_settled(daemon, 2), "the second job")
    finally:
        other.close()

    library = daemon.data_dir / "library" / "tv" / "Show.S01"
    first, second = sorted(jobs, key=lambda j: j["id"])
    assert first["status"] == "moved"
    assert second["status"] == "failed"
    assert second["stage"] == "plan"
    assert second["last_error"] == f"destination already exists: {library}"
    assert (library / "Show.S01E01.mkv").read_bytes() == (
        seeder.payload / "Show.S01E01.mkv"
    ).read_bytes()
    own_folder = daemon.data_dir / "downloads" / other.info_hash / "Show.S01"
    assert (own_folder / "Show.S01E01.mkv").read_bytes() == (
        other.payload / "Show.S01E01.mkv"
    ).read_bytes()
