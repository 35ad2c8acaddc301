"""Post-processing never leaves the library and never overwrites."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revaer_actors.domain import TorrentRecord, TorrentState
from revaer_actors.errors import RevaerError
from revaer_actors.fsops import plan_destination
from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload


def _record(name: str, category: str | None) -> TorrentRecord:
    return TorrentRecord(
        info_hash="ab" * 20,
        name=name,
        state=TorrentState.SEEDING,
        save_path="/downloads",
        added_at=datetime.now(UTC),
        category=category,
    )


@given(
    name=st.text(min_size=1, max_size=40),
    category=st.none() | st.text(min_size=1, max_size=20),
)
def test_a_planned_destination_is_inside_the_library_or_refused(
    tmp_path_factory: pytest.TempPathFactory, name: str, category: str | None
) -> None:
    library = tmp_path_factory.getbasetemp() / "library"

    try:
        destination = plan_destination(library, _record(name, category))
    except RevaerError:
        return

    root = library.resolve()
    assert destination.payload.resolve().is_relative_to(root)
    assert destination.payload.resolve() != root


@pytest.mark.parametrize("name", ["..", "../../etc", "/etc/passwd", "."])
def test_hostile_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(RevaerError, match="outside the library"):
        plan_destination(tmp_path / "library", _record(name, "tv"))


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
    assert second["last_error"] == f"destination already exists: {library}"
    assert (library / "Show.S01E01.mkv").read_bytes() == (
        seeder.payload / "Show.S01E01.mkv"
    ).read_bytes()
    own_folder = daemon.data_dir / "downloads" / other.info_hash / "Show.S01"
    assert (own_folder / "Show.S01E01.mkv").read_bytes() == (
        other.payload / "Show.S01E01.mkv"
    ).read_bytes()
