"""How a revaer torrent looks through the qBittorrent Web API: states, fields
and units exactly as Sonarr, Radarr, qbittorrent-api and VueTorrent read them.

Everything here is pure: it takes catalog records and returns JSON-ready dicts.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import libtorrent as lt

from revaer_actors.domain import ContentLayout, TorrentRecord, TorrentState
from revaer_actors.settings import Goals, Settings

MAX_ETA = 8_640_000  # qBittorrent's "infinite / unknown" eta
MAX_RATIO = 9999.0
GLOBAL = -2  # per-torrent share limit: use the global one
UNLIMITED = -1
STORAGE_ERROR = "storage error: "
MAX_RID = 1_000_000

DOWNLOADING = {
    "downloading",
    "metaDL",
    "forcedMetaDL",
    "stalledDL",
    "checkingDL",
    "stoppedDL",
    "queuedDL",
    "forcedDL",
}
UPLOADING = {"uploading", "stalledUP", "checkingUP", "queuedUP", "forcedUP"}
STOPPED = {"stoppedDL", "stoppedUP"}
ERRORED = {"error", "missingFiles"}
CHECKING = {"checkingUP", "checkingDL", "checkingResumeData"}


def is_complete(record: TorrentRecord) -> bool:
    """Whether the wanted data is all there now, by the catalog's last status.

    Not `completed_at`: a torrent that completed once may be downloading
    again after a recheck, and right after a fast download the finished event
    can arrive before the first status that shows its progress.
    """
    if record.state in (TorrentState.SEEDING, TorrentState.COMPLETED):
        return True
    return record.total_size > 0 and record.progress >= 1.0


def state_of(record: TorrentRecord, moving: bool) -> str:
    """qBittorrent's state string, derived in qBittorrent's order.

    `moving` wins over everything: while FsOps files the download, Sonarr must
    not import from a folder that is being emptied.
    """
    # A view state for a running FsOps job, where the catalog has one.
    if moving or record.state == "moving":
        return "moving"
    done = is_complete(record)
    suffix = "UP" if done else "DL"
    if record.state is TorrentState.FAILED:
        return "error"
    if record.paused or record.state is TorrentState.PAUSED:
        message = record.state_message or ""
        return "error" if message.startswith(STORAGE_ERROR) else "stopped" + suffix
    if record.state is TorrentState.FETCHING_METADATA:
        return "forcedMetaDL" if record.force_start else "metaDL"
    if record.state is TorrentState.CHECKING:
        finished_before = done or record.completed_at is not None
        return "checkingUP" if finished_before else "checkingDL"
    if record.state is TorrentState.QUEUED:
        return "queued" + suffix
    if done:
        if record.force_start:
            return "forcedUP"
        return "uploading" if record.upload_rate > 0 else "stalledUP"
    if record.force_start:
        return "forcedDL"
    return "downloading" if record.download_rate > 0 else "stalledDL"


def matches_filter(name: str, state: str, record: TorrentRecord) -> bool:
    """`torrents/info?filter=`; the pre-5.0 names paused/resumed too, and the
    stopped/paused state names (pausedUP and the like) that older clients send.
    """
    active = record.download_rate > 0 or record.upload_rate > 0
    tests = {
        "downloading": state in DOWNLOADING,
        "seeding": state in UPLOADING,
        "completed": is_complete(record),
        "stopped": state in STOPPED,
        "paused": state in STOPPED,
        # State names as filters, the 5.x ones and their ≤4.6 spellings.
        "stoppedUP": state == "stoppedUP",
        "pausedUP": state == "stoppedUP",
        "stoppedDL": state == "stoppedDL",
        "pausedDL": state == "stoppedDL",
        "running": state not in STOPPED,
        "resumed": state not in STOPPED,
        "active": active,
        "inactive": not active,
        "stalled": state in ("stalledUP", "stalledDL"),
        "stalled_uploading": state == "stalledUP",
        "stalled_downloading": state == "stalledDL",
        "checking": state in CHECKING,
        "moving": state == "moving",
        "errored": state in ERRORED,
    }
    # qBittorrent treats an unknown filter as `all`.
    return tests.get(name, True)


@dataclass(frozen=True)
class Meta:
    """What the metainfo (or magnet) says, parsed once per torrent."""

    infohash_v1: str = ""
    infohash_v2: str = ""
    private: bool | None = None
    trackers: tuple[str, ...] = ()
    piece_size: int = 0
    pieces_num: int = 0
    comment: str = ""
    created_by: str = ""
    creation_date: int = -1
    piece_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)


def _meta_of_metainfo(metainfo: bytes) -> Meta:
    info = lt.torrent_info(metainfo)
    hashes = info.info_hashes()
    # Sizes and piece ranges only: layout() has the metainfo's own paths,
    # not the ones on disk (see sources.files_of), but the same sizes.
    storage = info.layout()
    ranges = {}
    for index in range(storage.num_files()):
        size = storage.file_size(index)
        first = info.map_file(index, 0, 0).piece
        last = info.map_file(index, max(size - 1, 0), 0).piece
        ranges[index] = (int(first), int(last))
    return Meta(
        infohash_v1=str(hashes.v1) if hashes.has_v1() else "",
        infohash_v2=str(hashes.v2) if hashes.has_v2() else "",
        private=bool(info.priv()),
        trackers=tuple(entry.url for entry in info.trackers()),
        piece_size=int(info.piece_length()),
        pieces_num=int(info.num_pieces()),
        comment=info.comment(),
        created_by=info.creator(),
        creation_date=int(info.creation_date()) or -1,
        piece_ranges=ranges,
    )


def _meta_of_magnet(magnet: str) -> Meta:
    params = lt.parse_magnet_uri(magnet)
    hashes = params.info_hashes
    return Meta(
        infohash_v1=str(hashes.v1) if hashes.has_v1() else "",
        infohash_v2=str(hashes.v2) if hashes.has_v2() else "",
        trackers=tuple(params.trackers),
    )


# Parsed once per torrent and source, keyed by id: a listing of thousands of
# torrents must not parse their metainfo again at every poll.
_META: collections.OrderedDict[tuple[str, bool], Meta] = collections.OrderedDict()
_META_LOCK = threading.Lock()
MAX_META = 20_000


def meta_of(record: TorrentRecord) -> Meta:
    key = (record.info_hash, record.metainfo is not None)
    with _META_LOCK:
        meta = _META.get(key)
    if meta is not None:
        return meta
    try:
        if record.metainfo:
            meta = _meta_of_metainfo(record.metainfo)
        elif record.magnet:
            meta = _meta_of_magnet(record.magnet)
    except RuntimeError:
        meta = None
    meta = meta or Meta(infohash_v1=record.info_hash)
    with _META_LOCK:
        _META[key] = meta
        while len(_META) > MAX_META:
            _META.popitem(last=False)
    return meta


def magnet_uri(record: TorrentRecord, meta: Meta) -> str:
    topics = []
    if meta.infohash_v1:
        topics.append(f"xt=urn:btih:{meta.infohash_v1}")
    if meta.infohash_v2:
        topics.append(f"xt=urn:btmh:1220{meta.infohash_v2}")
    parts = topics or [f"xt=urn:btih:{record.info_hash}"]
    parts.append("dn=" + quote(record.name, safe=""))
    parts += ["tr=" + quote(url, safe="") for url in meta.trackers]
    return "magnet:?" + "&".join(parts)


def save_path(record: TorrentRecord) -> str:
    """The folder holding the payload: in the library once FsOps filed it.

    Whatever the transfer (a move, or a copy that leaves a seed behind), the
    filed copy is the one a client should import. Files without a root folder
    (NoSubfolder) lie in the save path itself, as in qBittorrent.
    """
    loose = record.content_layout is ContentLayout.NO_SUBFOLDER
    if record.library_path:
        library = Path(record.library_path)
        return str(library if loose else library.parent)
    return record.save_path


def content_path(record: TorrentRecord) -> str:
    """The file for a single-file torrent, the root folder otherwise (the save
    path itself when there is none)."""
    layout = record.content_layout
    if record.library_path:
        if layout is ContentLayout.SUBFOLDER and len(record.files) == 1:
            # FsOps filed the folder Subfolder made; the file is inside.
            name = PurePosixPath(record.files[0].path).name
            return str(Path(record.library_path) / name)
        return record.library_path
    base = Path(record.save_path)
    if len(record.files) == 1:
        return str(base / record.files[0].path)
    if layout is ContentLayout.NO_SUBFOLDER:
        return str(base)
    return str(base / record.name)


def root_path(record: TorrentRecord) -> str:
    if not record.files or record.content_layout is ContentLayout.NO_SUBFOLDER:
        return ""
    if record.content_layout is ContentLayout.SUBFOLDER:
        if record.library_path:
            return record.library_path
        return str(Path(record.save_path) / record.files[0].path.split("/", 1)[0])
    if len(record.files) == 1 and "/" not in record.files[0].path:
        return ""
    return content_path(record)


def _epoch(value: Any) -> int:
    return int(value.timestamp()) if value is not None else -1


def _limit(value: int | None) -> int:
    return value if value else UNLIMITED


def _share(value: float | int | None) -> float | int:
    return GLOBAL if value is None else value


@dataclass(frozen=True)
class Context:
    """What a listing needs beyond the records themselves."""

    settings: Settings
    moving: frozenset[str] = frozenset()
    now: float = field(default_factory=time.time)


def ratio(record: TorrentRecord) -> float:
    value = record.ratio
    return -1.0 if value >= MAX_RATIO else round(value, 4)


def eta(record: TorrentRecord) -> int:
    seconds = record.eta
    return MAX_ETA if seconds is None or seconds > MAX_ETA else int(seconds)


def torrent_json(record: TorrentRecord, ctx: Context) -> dict[str, Any]:
    """One element of `torrents/info` (and, without `hash`, of maindata)."""
    meta = meta_of(record)
    state = state_of(record, record.info_hash in ctx.moving)
    own = Goals(record.ratio_limit, record.seeding_time_limit)
    goals = ctx.settings.goals_for(record.category, own)
    inherited = per_torrent_goals(record, ctx.settings)
    size = record.total_size
    done = min(record.total_done, size) if size else record.total_done
    total = sum(f.size for f in record.files) or size
    added = _epoch(record.added_at)
    completed = _epoch(record.completed_at)
    active = record.download_rate > 0 or record.upload_rate > 0
    leechers = max(record.num_peers - record.num_seeds, 0)
    return {
        "hash": record.info_hash,
        "infohash_v1": meta.infohash_v1,
        "infohash_v2": meta.infohash_v2,
        "name": record.name,
        "magnet_uri": magnet_uri(record, meta),
        "size": size,
        "total_size": total,
        "progress": round(record.progress, 6),
        "dlspeed": record.download_rate,
        "upspeed": record.upload_rate,
        "downloaded": record.downloaded,
        "uploaded": record.uploaded,
        "downloaded_session": record.downloaded,
        "uploaded_session": record.uploaded,
        "amount_left": max(size - done, 0),
        "completed": done,
        "eta": eta(record),
        "state": state,
        "category": record.category or "",
        "tags": ", ".join(record.tags),
        "save_path": save_path(record),
        "download_path": "",
        "content_path": content_path(record),
        "root_path": root_path(record),
        "ratio": ratio(record),
        "ratio_limit": _share(inherited.ratio_limit),
        "seeding_time_limit": _share(inherited.seeding_time_limit),
        "inactive_seeding_time_limit": GLOBAL,
        "max_ratio": _share_effective(goals.ratio_limit),
        "max_seeding_time": _share_effective(goals.seeding_time_limit),
        "max_inactive_seeding_time": UNLIMITED,
        "seeding_time": record.seeding_seconds,
        # TODO(active time): carry libtorrent's active_duration in the status
        # events; until then this is the seeding time, a lower bound.
        "time_active": record.seeding_seconds,
        "added_on": added,
        "completion_on": completed,
        "seen_complete": completed,
        "last_activity": int(ctx.now) if active else max(added, completed),
        "priority": record.queue_position + 1 if record.queue_position >= 0 else 0,
        "num_seeds": record.num_seeds,
        "num_leechs": leechers,
        "num_complete": record.num_seeds,
        "num_incomplete": leechers,
        "dl_limit": _limit(record.download_limit),
        "up_limit": _limit(record.upload_limit),
        "seq_dl": record.sequential,
        "f_l_piece_prio": record.first_last_piece,
        "force_start": record.force_start,
        "super_seeding": False,
        "auto_tmm": False,
        "tracker": "",
        "trackers_count": len(meta.trackers),
        "availability": -1,
        "popularity": 0.0,
        "reannounce": 0,
        "comment": meta.comment,
        "private": meta.private if record.files else None,
        "has_metadata": bool(record.files),
        "total_wasted": 0,
    }


def per_torrent_goals(record: TorrentRecord, settings: Settings) -> Goals:
    """The torrent's own goal, else its category's; None (-2) for the global.

    qBittorrent up to 5.1 has no category share limits, so a client reading
    -2 takes the global preference (Sonarr's seed-limit check does): a goal
    the torrent inherits from its category is reported as its own.
    """
    by_category = settings.categories.get(record.category or "", Goals())
    ratio = record.ratio_limit
    minutes = record.seeding_time_limit
    return Goals(
        ratio_limit=by_category.ratio_limit if ratio is None else ratio,
        seeding_time_limit=(
            by_category.seeding_time_limit if minutes is None else minutes
        ),
    )


def _share_effective(value: float | int | None) -> float | int:
    return UNLIMITED if value is None or value < 0 else value


def properties_json(record: TorrentRecord, ctx: Context) -> dict[str, Any]:
    view = torrent_json(record, ctx)
    meta = meta_of(record)
    elapsed = max(int(ctx.now) - view["added_on"], 0)
    have = int(record.progress * meta.pieces_num) if meta.pieces_num else 0
    return {
        "hash": record.info_hash,
        "infohash_v1": view["infohash_v1"],
        "infohash_v2": view["infohash_v2"],
        "name": record.name,
        "save_path": view["save_path"],
        "download_path": "",
        "comment": meta.comment,
        "created_by": meta.created_by,
        "creation_date": meta.creation_date,
        "addition_date": view["added_on"],
        "completion_date": view["completion_on"],
        "last_seen": view["seen_complete"],
        "time_elapsed": elapsed,
        "seeding_time": record.seeding_seconds,
        "eta": view["eta"],
        "nb_connections": record.num_peers,
        "nb_connections_limit": -1,
        "total_downloaded": record.downloaded,
        "total_downloaded_session": record.downloaded,
        "total_uploaded": record.uploaded,
        "total_uploaded_session": record.uploaded,
        "total_wasted": 0,
        "dl_speed": record.download_rate,
        "dl_speed_avg": record.downloaded // elapsed if elapsed else 0,
        "up_speed": record.upload_rate,
        "up_speed_avg": record.uploaded // elapsed if elapsed else 0,
        "dl_limit": view["dl_limit"],
        "up_limit": view["up_limit"],
        "seeds": record.num_seeds,
        "seeds_total": record.num_seeds,
        "peers": view["num_leechs"],
        "peers_total": view["num_leechs"],
        "share_ratio": view["ratio"],
        "popularity": 0.0,
        "reannounce": 0,
        "total_size": view["total_size"],
        "pieces_num": meta.pieces_num if record.files else -1,
        "piece_size": meta.piece_size if record.files else -1,
        "pieces_have": have if record.files else -1,
        "is_private": bool(meta.private),
        "private": view["private"],
        "has_metadata": view["has_metadata"],
        "progress": view["progress"],
    }


# libtorrent's priorities (0..7) as qBittorrent names them: 0 skip, 1 normal,
# 6 high, 7 maximum.
def _file_priority(level: int) -> int:
    if level <= 0:
        return 0
    if level >= 7:
        return 7
    return 6 if level >= 5 else 1


def files_json(
    record: TorrentRecord, live: dict[str, Any] | None, indexes: set[int] | None
) -> list[dict[str, Any]]:
    meta = meta_of(record)
    progress = live["file_progress"] if live else []
    levels = record.file_priorities()
    result: list[dict[str, Any]] = []
    for position, (entry, level) in enumerate(zip(record.files, levels, strict=True)):
        if indexes is not None and position not in indexes:
            continue
        done = progress[entry.index] if entry.index < len(progress) else 0
        item = {
            "index": position,
            "name": entry.path,
            "size": entry.size,
            "progress": round(done / entry.size, 6) if entry.size else 1.0,
            "priority": _file_priority(level),
            "piece_range": list(meta.piece_ranges.get(entry.index, (0, 0))),
            "availability": -1,
        }
        if not result:
            item["is_seed"] = is_complete(record)
        result.append(item)
    return result


_TRACKER_STATUS = {"not contacted": 1, "working": 2, "updating": 3, "error": 4}


def trackers_json(live: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not live:
        return []
    return [
        {
            "url": entry["url"],
            "status": _TRACKER_STATUS.get(entry["status"], 1),
            "tier": entry["tier"],
            "num_peers": -1,
            "num_seeds": -1,
            "num_leeches": -1,
            "num_downloaded": -1,
            "msg": entry["message"],
        }
        for entry in live["trackers"]
    ]


def category_json(name: str, library: Path) -> dict[str, Any]:
    """FsOps files a category's downloads into <library>/<category>."""
    return {"name": name, "savePath": str(library / name), "download_path": None}


@dataclass
class SyncState:
    """What one client session was last sent by sync/maindata, by rid."""

    rid: int = 0
    sent: dict[int, dict[str, Any]] = field(default_factory=dict)

    def answer(self, asked: int, snapshot: dict[str, Any]) -> dict[str, Any]:
        """A delta against what the client acknowledged, else a full update."""
        base = self.sent.get(asked) if asked else None
        self.rid = self.rid % MAX_RID + 1
        # Keep the last two: a client whose answer got lost asks again with
        # the rid before, and still gets a delta.
        self.sent = {k: v for k, v in self.sent.items() if k == asked}
        self.sent[self.rid] = snapshot
        if base is None:
            return {"rid": self.rid, "full_update": True, **snapshot}
        return {"rid": self.rid, **delta(base, snapshot)}


def delta(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key in ("torrents", "categories"):
        changed, removed = _dict_delta(old[key], new[key])
        if changed:
            body[key] = changed
        if removed:
            body[f"{key}_removed"] = removed
    added = [tag for tag in new["tags"] if tag not in old["tags"]]
    gone = [tag for tag in old["tags"] if tag not in new["tags"]]
    if added:
        body["tags"] = added
    if gone:
        body["tags_removed"] = gone
    trackers = {
        url: hashes
        for url, hashes in new["trackers"].items()
        if old["trackers"].get(url) != hashes
    }
    if trackers:
        body["trackers"] = trackers
    removed_trackers = [url for url in old["trackers"] if url not in new["trackers"]]
    if removed_trackers:
        body["trackers_removed"] = removed_trackers
    server = {
        k: v for k, v in new["server_state"].items() if old["server_state"].get(k) != v
    }
    if server:
        body["server_state"] = server
    return body


def _dict_delta(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    changed = {}
    for key, item in new.items():
        before = old.get(key)
        if before is None:
            changed[key] = item
            continue
        keys = {k: v for k, v in item.items() if before.get(k) != v}
        if keys:
            changed[key] = keys
    return changed, [key for key in old if key not in new]


# Every field of a torrents/info element: the names `sort` accepts.
INFO_FIELDS = frozenset(
    torrent_json(
        TorrentRecord(
            info_hash="0" * 40,
            name="",
            state=TorrentState.QUEUED,
            save_path="/",
            added_at=datetime.fromtimestamp(0, UTC),
        ),
        Context(Settings()),
    )
)
