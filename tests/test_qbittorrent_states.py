"""Every revaer state reads as the qBittorrent state string clients expect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from revaer_actors.domain import FileEntry, TorrentRecord, TorrentState
from revaer_actors.qbittorrent_view import Context, SyncState, state_of, torrent_json
from revaer_actors.settings import Settings

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
