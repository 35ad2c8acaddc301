"""Domain types shared by the actors: states, records and engine events.

Everything here is immutable. Actors hand these values to each other by message,
so no actor can change what another one holds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from revaer_actors.selection import PRIORITY_NAMES, FileSelection


class TorrentState(enum.StrEnum):
    QUEUED = "queued"
    CHECKING = "checking"
    FETCHING_METADATA = "fetching_metadata"
    DOWNLOADING = "downloading"
    SEEDING = "seeding"
    COMPLETED = "completed"
    PAUSED = "paused"
    FAILED = "failed"
    # Only in views: shown while an FsOps job runs, never stored.
    MOVING = "moving"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    MOVING = "moving"
    MOVED = "moved"
    FAILED = "failed"
    SKIPPED = "skipped"


class ContentLayout(enum.StrEnum):
    """How a torrent's files sit in its save folder, as qBittorrent names them.

    Stored as the layout that took effect: `subfolder` only for a torrent that
    had no root folder of its own, `no_subfolder` only for one that had.
    """

    ORIGINAL = "original"
    SUBFOLDER = "subfolder"
    NO_SUBFOLDER = "no_subfolder"


class TransferMode(enum.StrEnum):
    MOVE = "move"
    COPY = "copy"
    HARDLINK = "hardlink"
    HARDLINK_OR_COPY = "hardlink_or_copy"


@dataclass(frozen=True)
class FileEntry:
    """A real file of a torrent; `index` is libtorrent's, which counts pad files."""

    path: str
    size: int
    index: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "path": self.path, "size": self.size}


@dataclass(frozen=True)
class TorrentRecord:
    """One torrent as the catalog knows it. `info_hash` is its id."""

    info_hash: str
    name: str
    state: TorrentState
    save_path: str
    added_at: datetime
    category: str | None = None
    tags: tuple[str, ...] = ()
    paused: bool = False
    sequential: bool = False
    # The first and last piece of each wanted file before the rest.
    first_last_piece: bool = False
    download_limit: int | None = None
    upload_limit: int | None = None
    ratio_limit: float | None = None
    seeding_time_limit: int | None = None
    selection: FileSelection = FileSelection()
    force_start: bool = False
    queue_position: int = -1
    uploaded: int = 0
    downloaded: int = 0
    seeding_seconds: int = 0
    num_peers: int = 0
    num_seeds: int = 0
    tracker_error: str | None = None
    state_message: str | None = None
    library_path: str | None = None
    # Where an acknowledged user move is taking the payload, until it lands.
    move_to: str | None = None
    progress: float = 0.0
    download_rate: int = 0
    upload_rate: int = 0
    total_done: int = 0
    total_size: int = 0
    completed_at: datetime | None = None
    magnet: str | None = None
    metainfo: bytes | None = field(default=None, repr=False)
    resume_data: bytes | None = field(default=None, repr=False)
    # As they are on disk, relative to save_path: with content_layout applied.
    files: tuple[FileEntry, ...] = ()
    # The torrent's own FsOps policy keys (validated), over its category's.
    fsops: tuple[tuple[str, Any], ...] = ()
    content_layout: ContentLayout = ContentLayout.ORIGINAL

    def evolve(self, **changes: Any) -> TorrentRecord:
        return replace(self, **changes)

    @property
    def ratio(self) -> float:
        """Uploaded over downloaded, as qBittorrent counts it."""
        denominator = max(self.downloaded, self.total_done)
        return self.uploaded / denominator if denominator else 0.0

    @property
    def eta(self) -> int | None:
        """Seconds left at the current rate; None when unknown or done."""
        left = self.total_size - self.total_done
        if left <= 0 or self.download_rate <= 0:
            return None
        return -(-left // self.download_rate)

    def file_priorities(self) -> tuple[int, ...]:
        """The priority of each entry of `files`, in the same order."""
        return self.selection.priorities([(f.index, f.path) for f in self.files])

    def engine_priorities(self) -> tuple[int, ...]:
        """Priorities by libtorrent file index; pad files (the gaps) get 0."""
        if not self.files:
            return ()
        levels = [0] * (max(f.index for f in self.files) + 1)
        for entry, level in zip(self.files, self.file_priorities(), strict=True):
            levels[entry.index] = level
        return tuple(levels)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.info_hash,
            "name": self.name,
            "state": self.state.value,
            "state_message": self.state_message,
            "progress": round(self.progress, 6),
            "download_rate": self.download_rate,
            "upload_rate": self.upload_rate,
            "total_done": self.total_done,
            "total_size": self.total_size,
            "category": self.category,
            "tags": list(self.tags),
            "paused": self.paused,
            "sequential": self.sequential,
            "download_limit": self.download_limit,
            "upload_limit": self.upload_limit,
            "ratio_limit": self.ratio_limit,
            "seeding_time_limit": self.seeding_time_limit,
            "selection": self.selection.as_json(),
            "force_start": self.force_start,
            "queue_position": self.queue_position,
            "uploaded": self.uploaded,
            "downloaded": self.downloaded,
            "ratio": round(self.ratio, 4),
            "seeding_time": self.seeding_seconds,
            "eta": self.eta,
            "num_peers": self.num_peers,
            "num_seeds": self.num_seeds,
            "tracker_error": self.tracker_error,
            "save_path": self.save_path,
            "library_path": self.library_path,
            "added_at": self.added_at.isoformat(),
            "completed_at": _iso(self.completed_at),
            "fsops": fsops_json(self.fsops),
            "files": [
                {**f.as_json(), "priority": PRIORITY_NAMES[p]}
                for f, p in zip(self.files, self.file_priorities(), strict=True)
            ],
        }


@dataclass(frozen=True)
class JobRecord:
    """One post-processing run of one torrent."""

    id: int
    torrent_id: str
    status: JobStatus
    stage: str
    transfer_mode: TransferMode
    src_path: str
    dst_path: str | None
    attempt: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    next_retry_at: datetime | None = None
    policy: dict[str, Any] | None = field(default=None, hash=False)
    plan: dict[str, Any] | None = field(default=None, hash=False, repr=False)
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "torrent_id": self.torrent_id,
            "status": self.status.value,
            "stage": self.stage,
            "transfer_mode": self.transfer_mode.value,
            "src_path": self.src_path,
            "dst_path": self.dst_path,
            "attempt": self.attempt,
            "last_error": self.last_error,
            "next_retry_at": _iso(self.next_retry_at),
            "note": self.note,
            "policy": self.policy,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def fsops_json(changes: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """A torrent's policy keys as JSON (glob tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in changes}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# Engine events: what the session actor tells the orchestrator about libtorrent.


@dataclass(frozen=True)
class TorrentStatus:
    """A state_update_alert entry, already translated into our states."""

    info_hash: str
    name: str
    state: TorrentState
    progress: float
    download_rate: int
    upload_rate: int
    total_done: int
    total_size: int
    save_path: str
    error: str | None = None
    uploaded: int = 0
    downloaded: int = 0
    seeding_seconds: int = 0
    queue_position: int = -1
    num_peers: int = 0
    num_seeds: int = 0


@dataclass(frozen=True)
class MetadataReceived:
    info_hash: str
    name: str
    metainfo: bytes = field(repr=False)
    files: tuple[FileEntry, ...]
    total_size: int


@dataclass(frozen=True)
class TorrentFinished:
    info_hash: str


@dataclass(frozen=True)
class ResumeDataSaved:
    info_hash: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class StorageMoved:
    info_hash: str
    path: str


@dataclass(frozen=True)
class StorageMoveFailed:
    info_hash: str
    error: str


@dataclass(frozen=True)
class StorageFailed:
    """libtorrent could not read or write the payload (full disk, permissions)."""

    info_hash: str
    error: str


@dataclass(frozen=True)
class TrackerFailed:
    info_hash: str
    url: str
    error: str


@dataclass(frozen=True)
class TorrentErrored:
    info_hash: str
    error: str


EngineEvent = (
    TorrentStatus
    | MetadataReceived
    | TorrentFinished
    | ResumeDataSaved
    | StorageMoved
    | StorageMoveFailed
    | StorageFailed
    | TrackerFailed
    | TorrentErrored
)
