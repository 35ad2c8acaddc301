"""Every revaer state reads as the qBittorrent state string clients expect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from revaer_actors.domain import FileEntry, TorrentRecord, TorrentState
from revaer_actors.qbittorrent_view import (
    Context,
    SyncState,
    matches_filter,
    state_of,
    torrent_json,
)
from revaer_actors.settings import Goals, Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def record(state: TorrentState, **changes: Any) -> TorrentRecord:
    return TorrentRecord(
        info_hash="ab" * 20,
        name="Show",
        state=state,
        save_path="/downloads/x",
        added_at=NOW,
        total_size=100,
        **changes,
    )


@pytest.mark.parametrize(
    ("state", "changes", "expected"),
    [
        (TorrentState.QUEUED, {}, "queuedDL"),
        (TorrentState.QUEUED, {"progress": 1.0}, "queuedUP"),
        (TorrentState.CHECKING, {}, "checkingDL"),
        (TorrentState.CHECKING, {"completed_at": NOW}, "checkingUP"),
        (TorrentState.FETCHING_METADATA, {}, "metaDL"),
        (TorrentState.FETCHING_METADATA, {"force_start": True}, "forcedMetaDL"),
        (TorrentState.DOWNLOADING, {"download_rate": 10}, "downloading"),
        (TorrentState.DOWNLOADING, {}, "stalledDL"),
        (TorrentState.DOWNLOADING, {"force_start": True}, "forcedDL"),
        # Rechecked after completion and fetching data again: not complete.
        (TorrentState.DOWNLOADING, {"completed_at": NOW, "progress": 0.5}, "stalledDL"),
        (TorrentState.SEEDING, {"upload_rate": 5}, "uploading"),
        (TorrentState.SEEDING, {}, "stalledUP"),
        (TorrentState.SEEDING, {"force_start": True}, "forcedUP"),
        (TorrentState.COMPLETED, {}, "stalledUP"),
        (TorrentState.PAUSED, {"paused": True}, "stoppedDL"),
        (TorrentState.PAUSED, {"paused": True, "progress": 1.0}, "stoppedUP"),
        (
            TorrentState.PAUSED,
            {"paused": True, "state_message": "storage error: disk full"},
            "error",
        ),
        (TorrentState.FAILED, {"state_message": "boom"}, "error"),
    ],
)
def test_state_strings(
    state: TorrentState, changes: dict[str, Any], expected: str
) -> None:
    assert state_of(record(state, **changes), moving=False) == expected


@pytest.mark.parametrize("state", list(TorrentState))
def test_a_running_fsops_job_makes_every_state_moving(state: TorrentState) -> None:
    assert state_of(record(state, progress=1.0), moving=True) == "moving"


def test_rids_cycle_and_an_unknown_rid_gets_a_full_update() -> None:
    sync = SyncState(rid=1_000_000)
    empty = {
        "torrents": {},
        "categories": {},
        "tags": [],
        "trackers": {},
        "server_state": {"a": 1},
    }

    first = sync.answer(0, empty)
    again = sync.answer(first["rid"], empty)
    lost = sync.answer(first["rid"], {**empty, "tags": ["t"]})
    unknown = sync.answer(999, empty)

    assert first["rid"] == 1 and first["full_update"] is True
    assert again == {"rid": 2}
    # The answer with rid 2 was lost: asking with rid 1 again is still a delta.
    assert lost == {"rid": 3, "tags": ["t"]}
    assert unknown["full_update"] is True


def test_a_filed_copy_is_what_clients_are_pointed_at() -> None:
    """A copy or hardlink leaves a seed in downloads; the library copy is the
    one to import, so save_path and content_path name it."""
    seed = record(
        TorrentState.SEEDING,
        progress=1.0,
        library_path="/library/tv/Show",
        files=(FileEntry("Show/e1.mkv", 60), FileEntry("Show/e2.mkv", 40, 1)),
    ).evolve(save_path="/downloads/ab")
    moved = seed.evolve(save_path="/library/tv", library_path=None)

    filed = torrent_json(seed, Context(Settings()))
    unfiled = torrent_json(moved, Context(Settings()))

    assert (filed["save_path"], filed["content_path"]) == (
        "/library/tv",
        "/library/tv/Show",
    )
    assert filed["root_path"] == "/library/tv/Show"
    assert (unfiled["save_path"], unfiled["content_path"]) == (
        "/library/tv",
        "/library/tv/Show",
    )


@pytest.mark.parametrize(
    ("name", "stopped_done", "stopped_unfinished"),
    [
        ("stoppedUP", True, False),
        ("pausedUP", True, False),
        ("stoppedDL", False, True),
        ("pausedDL", False, True),
        ("stopped", True, True),
        ("paused", True, True),
        # qBittorrent treats a filter it does not know as `all`.
        ("no-such-filter", True, True),
    ],
)
def test_state_names_work_as_filters_in_both_spellings(
    name: str, stopped_done: bool, stopped_unfinished: bool
) -> None:
    done = record(TorrentState.PAUSED, paused=True, progress=1.0)
    unfinished = record(TorrentState.PAUSED, paused=True)
    seeding = record(TorrentState.SEEDING)

    def selected(item: TorrentRecord) -> bool:
        return matches_filter(name, state_of(item, moving=False), item)

    assert (selected(done), selected(unfinished)) == (stopped_done, stopped_unfinished)
    assert selected(seeding) is (name in ("no-such-filter",))


def test_a_goal_inherited_from_the_category_is_reported_as_the_torrents_own() -> None:
    settings = Settings(
        ratio_limit=5.0,
        seeding_time_limit=9000,
        categories={"tv": Goals(ratio_limit=2.0, seeding_time_limit=1440)},
    )
    in_tv = record(TorrentState.SEEDING, category="tv")
    own = record(TorrentState.SEEDING, category="tv", ratio_limit=-1.0)
    uncategorized = record(TorrentState.SEEDING)

    tv_view = torrent_json(in_tv, Context(settings))
    own_view = torrent_json(own, Context(settings))
    global_view = torrent_json(uncategorized, Context(settings))

    assert (tv_view["ratio_limit"], tv_view["seeding_time_limit"]) == (2.0, 1440)
    assert (tv_view["max_ratio"], tv_view["max_seeding_time"]) == (2.0, 1440)
    assert (own_view["ratio_limit"], own_view["seeding_time_limit"]) == (-1.0, 1440)
    assert (own_view["max_ratio"], own_view["max_seeding_time"]) == (-1, 1440)
    # Nothing of its own nor from a category: -2, the global preference.
    assert (global_view["ratio_limit"], global_view["seeding_time_limit"]) == (-2, -2)
    assert (global_view["max_ratio"], global_view["max_seeding_time"]) == (5.0, 9000)
