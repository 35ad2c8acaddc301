"""The session actor: owns the libtorrent session; every call into it goes here.

A pump thread waits on libtorrent's alert queue and asks the actor to drain it,
so alerts are popped and translated on the actor's own thread. Translated
events go to the subscriber (the orchestrator) by `tell`.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libtorrent as lt
import pykka

from revaer_actors import layout, sources
from revaer_actors.domain import (
    EngineEvent,
    MetadataReceived,
    ResumeDataSaved,
    StorageFailed,
    StorageMoved,
    StorageMoveFailed,
    TorrentErrored,
    TorrentFinished,
    TorrentRecord,
    TorrentState,
    TorrentStatus,
    TrackerFailed,
)
from revaer_actors.errors import EngineError, InvalidInput
from revaer_actors.settings import Settings
from revaer_actors.ticker import Ticker

log = logging.getLogger(__name__)

ALERT_MASK = (
    lt.alert_category.error
    | lt.alert_category.status
    | lt.alert_category.storage
    | lt.alert_category.tracker
)
STATUS_INTERVAL = 0.25
# The start of the note a torrent keeps when its resume data could not be used.
RESUME_UNREADABLE = "resume data unreadable"
# How often changed torrents save resume data: the most a kill -9 can cost a
# download in progress before the boot recheck finds the rest.
RESUME_INTERVAL = 30.0
ALERT_QUEUE_WARN = 0.8

# One table from libtorrent's states to ours. Paused and errored torrents are
# decided from the status flags before this table is read.
LT_STATES: dict[Any, TorrentState] = {
    lt.torrent_status.queued_for_checking: TorrentState.CHECKING,
    lt.torrent_status.checking_files: TorrentState.CHECKING,
    lt.torrent_status.checking_resume_data: TorrentState.CHECKING,
    lt.torrent_status.allocating: TorrentState.CHECKING,
    lt.torrent_status.downloading_metadata: TorrentState.FETCHING_METADATA,
    lt.torrent_status.downloading: TorrentState.DOWNLOADING,
    lt.torrent_status.finished: TorrentState.COMPLETED,
    lt.torrent_status.seeding: TorrentState.SEEDING,
}


@dataclass(frozen=True)
class EngineAdd:
    """What the engine needs to add or restore one torrent."""

    info_hash: str
    save_path: str
    paused: bool = False
    sequential: bool = False
    first_last_piece: bool = False
    download_limit: int | None = None
    upload_limit: int | None = None
    force_start: bool = False
    file_priorities: tuple[int, ...] = ()
    selective: bool = False
    # The content layout's paths by file index, given again at every load.
    renamed_files: tuple[tuple[int, str], ...] = ()
    magnet: str | None = None
    metainfo: bytes | None = field(default=None, repr=False)
    resume_data: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_record(cls, record: TorrentRecord) -> EngineAdd:
        return cls(
            info_hash=record.info_hash,
            save_path=record.save_path,
            paused=record.paused,
            sequential=record.sequential,
            first_last_piece=record.first_last_piece,
            download_limit=record.download_limit,
            upload_limit=record.upload_limit,
            force_start=record.force_start,
            file_priorities=record.engine_priorities(),
            selective=not record.selection.is_default,
            renamed_files=layout.renamed_files(record),
            magnet=record.magnet,
            metainfo=record.metainfo,
            resume_data=record.resume_data,
        )


TOP_PRIORITY = 7


def _edge_pieces(handle: Any) -> list[int]:
    """The first and last piece of every wanted, non-empty file."""
    info = handle.torrent_file()
    if info is None:
        return []
    layout = info.layout()
    wanted = handle.get_file_priorities()
    pieces: set[int] = set()
    for index in range(layout.num_files()):
        size = layout.file_size(index)
        padding = layout.file_flags(index) & layout.flag_pad_file
        if size <= 0 or padding or wanted[index] == 0:
            continue
        pieces.add(int(info.map_file(index, 0, 0).piece))
        pieces.add(int(info.map_file(index, size - 1, 0).piece))
    return sorted(pieces)


def _first_last_piece(handle: Any, enabled: bool) -> None:
    """qBittorrent's firstLastPiecePrio: the edge pieces at top priority, so a
    media file can be previewed early; off, the pieces follow their files."""
    pieces = _edge_pieces(handle)
    if not pieces:
        return
    if enabled:
        handle.prioritize_pieces([(piece, TOP_PRIORITY) for piece in pieces])
    elif any(handle.piece_priority(piece) == TOP_PRIORITY for piece in pieces):
        handle.prioritize_files(handle.get_file_priorities())


class SessionActor(pykka.ThreadingActor):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._settings = settings
        self._session: Any = None
        self._handles: dict[str, Any] = {}
        self._sink: Callable[[EngineEvent], object] | None = None
        self._pump_stop = threading.Event()
        self._pump = threading.Thread(target=self._pump_alerts, name="lt-alerts")
        self._ticker = Ticker("lt-status", STATUS_INTERVAL, self._tell_status)
        self._resume_ticker = Ticker(
            "lt-resume", RESUME_INTERVAL, self._tell_save_resume
        )
        self._resume_waiters: dict[str, Any] = {}

    def on_start(self) -> None:
        self._session = lt.session(self._pack(self._settings))  # type: ignore[call-overload]
        # One proxy for the timers: building a proxy inspects the whole actor,
        # too much work to repeat several times a second.
        self._me = self.actor_ref.proxy()
        self._pump.start()
        self._ticker.start()
        self._resume_ticker.start()
        log.info(
            "engine started listen=%s port=%d",
            self._settings.listen,
            self._session.listen_port(),
        )

    def on_stop(self) -> None:
        self._ticker.stop()
        self._resume_ticker.stop()
        self._pump_stop.set()
        self._session.pause()
        log.info("engine stopped")

    def on_failure(self, *args: Any) -> None:
        self._ticker.stop()
        self._resume_ticker.stop()
        self._pump_stop.set()

    @staticmethod
    def _pack(settings: Settings) -> dict[str, Any]:
        return {
            **settings.engine_pack(),
            "alert_mask": int(ALERT_MASK),
            "alert_queue_size": 10_000,
            "user_agent": "revaer-actors",
        }

    def probe(self) -> dict[str, Any]:
        """A cheap answer for /health/full: proves the actor is serving."""
        return {"torrents": len(self._handles), "version": lt.__version__}

    def engine_settings(self) -> dict[str, Any]:
        """What libtorrent itself holds for the keys our settings decide."""
        current = self._session.get_settings()
        return {key: current[key] for key in self._settings.engine_pack()}

    def apply_settings(self, settings: Settings) -> None:
        """Applies changed global settings to the running session at once."""
        self._session.apply_settings(self._pack(settings))
        if settings.pex != self._settings.pex:
            for handle in self._handles.values():
                if not handle.is_valid():
                    continue
                if settings.pex:
                    handle.unset_flags(lt.torrent_flags.disable_pex)
                else:
                    handle.set_flags(lt.torrent_flags.disable_pex)
        self._settings = settings
        log.info("engine settings applied listen=%s", settings.listen)

    def subscribe(self, sink: Callable[[EngineEvent], object]) -> None:
        self._sink = sink

    def listen_port(self) -> int:
        return int(self._session.listen_port())

    # Commands.

    def add_torrent(self, spec: EngineAdd) -> str | None:
        """Adds or restores a torrent. Returns a note when resume data was unusable."""
        params, note = self._params(spec)
        params.save_path = spec.save_path
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        if not self._settings.pex:
            params.flags |= lt.torrent_flags.disable_pex
        # update_subscribe: resume data may not carry it, and without it the
        # torrent never shows up in state_update_alert.
        params.flags |= (
            lt.torrent_flags.duplicate_is_error | lt.torrent_flags.update_subscribe
        )
        if spec.paused:
            params.flags |= lt.torrent_flags.paused
        elif not spec.force_start:
            # Auto-managed torrents are started and queued by libtorrent within
            # the active_downloads / active_seeds limits.
            params.flags |= lt.torrent_flags.auto_managed
        if spec.sequential:
            params.flags |= lt.torrent_flags.sequential_download
        else:
            params.flags &= ~lt.torrent_flags.sequential_download
        params.download_limit = spec.download_limit or -1
        params.upload_limit = spec.upload_limit or -1
        params.flags &= ~lt.torrent_flags.upload_mode
        if spec.renamed_files:
            params.renamed_files = dict(spec.renamed_files)
        if spec.file_priorities:
            params.file_priorities = list(spec.file_priorities)
        elif spec.selective and spec.magnet is not None:
            # The files are unknown until the metadata arrives, so request no
            # piece until the torrent actor has applied the selection rules
            # (configure() lifts upload mode). default_dont_download would do
            # the same, but it makes the torrent "finished" at once, which
            # drops the peers for a minute.
            params.flags |= lt.torrent_flags.upload_mode

        try:
            handle = self._session.add_torrent(params)
        except RuntimeError as exc:
            raise EngineError(str(exc), info_hash=spec.info_hash) from exc
        self._handles[spec.info_hash] = handle
        if spec.first_last_piece:
            # Resume data keeps piece priorities, but file priorities set
            # above reset them; a magnet gets them once its metadata is here.
            _first_last_piece(handle, True)
        log.info("engine added torrent info_hash=%s", spec.info_hash)
        return note

    def _params(self, spec: EngineAdd) -> tuple[Any, str | None]:
        note = None
        if spec.resume_data is not None:
            try:
                params = lt.read_resume_data(spec.resume_data)
                found = sources.torrent_id(params.info_hashes)
                if found != spec.info_hash:
                    # Another torrent's blob in this row: loading it would
                    # seed someone else's data under this torrent's id.
                    raise RuntimeError(f"it is for another torrent ({found})")
                return params, None
            except RuntimeError as exc:
                note = f"{RESUME_UNREADABLE} ({exc}); re-added and rechecked"
                log.warning(
                    "resume data rejected info_hash=%s cause=%s", spec.info_hash, exc
                )
        # A stored torrent that no longer parses (a limit tightened since, a
        # damaged row) is a refusal like any other: the caller marks it failed
        # with this message instead of the daemon failing to boot.
        if spec.metainfo is not None:
            try:
                return sources.load_metainfo(spec.metainfo), note
            except InvalidInput as exc:
                reason = exc.detail.removeprefix("libtorrent refused the torrent: ")
                raise EngineError(
                    f"stored metainfo does not load: {reason}",
                    info_hash=spec.info_hash,
                ) from exc
        if spec.magnet is not None:
            try:
                return lt.parse_magnet_uri(spec.magnet), note
            except RuntimeError as exc:
                raise EngineError(
                    f"magnet link does not parse: {exc}", info_hash=spec.info_hash
                ) from exc
        raise EngineError(
            "torrent has neither metainfo nor magnet", info_hash=spec.info_hash
        )

    def configure(self, spec: EngineAdd) -> None:
        """Applies the user's options to a torrent that is already loaded.

        Its resume data is saved at once: a pause or resume is a change of
        state that a crash before the next timed save must not undo. Asked
        for last: libtorrent answers requests in order, so a save asked before
        the pause would describe the torrent as it was before it.
        """
        handle = self._handle(spec.info_hash)
        if spec.paused:
            handle.unset_flags(lt.torrent_flags.auto_managed)
            handle.pause(lt.torrent_handle.graceful_pause)
        elif spec.force_start:
            handle.clear_error()
            handle.unset_flags(lt.torrent_flags.auto_managed)
            handle.resume()
        else:
            # A storage error stopped the torrent; resuming says it is fixed.
            handle.clear_error()
            handle.set_flags(lt.torrent_flags.auto_managed)
            handle.resume()
        if spec.sequential:
            handle.set_flags(lt.torrent_flags.sequential_download)
        else:
            handle.unset_flags(lt.torrent_flags.sequential_download)
        handle.set_download_limit(spec.download_limit or -1)
        handle.set_upload_limit(spec.upload_limit or -1)
        if spec.file_priorities and handle.status().has_metadata:
            handle.prioritize_files(list(spec.file_priorities))
            handle.unset_flags(lt.torrent_flags.upload_mode)
        _first_last_piece(handle, spec.first_last_piece)
        handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)

    def merge_trackers(self, info_hash: str, urls: tuple[str, ...]) -> int:
        """Adds the trackers the torrent does not have yet; returns how many."""
        handle = self._handles.get(info_hash)
        if handle is None or not handle.is_valid() or not urls:
            return 0

        known = {entry["url"] for entry in handle.trackers()}
        new = [url for url in dict.fromkeys(urls) if url not in known]
        for url in new:
            handle.add_tracker({"url": url, "tier": 0})
        if new:
            handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)
            log.info("trackers merged info_hash=%s count=%d", info_hash, len(new))
        return len(new)

    def inspect(self, info_hash: str) -> dict[str, Any] | None:
        """libtorrent's own view of one torrent, for the detail view.

        None when the torrent is not loaded (it failed to load, or is being
        removed).
        """
        handle = self._handles.get(info_hash)
        if handle is None or not handle.is_valid():
            return None

        status = handle.status()
        flags = status.flags
        return {
            "engine": {
                "paused": bool(flags & lt.torrent_flags.paused),
                "auto_managed": bool(flags & lt.torrent_flags.auto_managed),
                "sequential": bool(flags & lt.torrent_flags.sequential_download),
                "download_limit": handle.download_limit(),
                "upload_limit": handle.upload_limit(),
                "save_path": status.save_path,
                "queue_position": int(status.queue_position),
                "first_last_piece": bool(_edge_pieces(handle))
                and all(
                    handle.piece_priority(piece) == TOP_PRIORITY
                    for piece in _edge_pieces(handle)
                ),
            },
            "trackers": [_tracker(entry) for entry in handle.trackers()],
            "file_progress": (
                list(handle.file_progress(lt.file_progress_flags_t.piece_granularity))
                if status.has_metadata
                else []
            ),
            "file_priorities": (
                list(handle.get_file_priorities()) if status.has_metadata else []
            ),
        }

    def queue_move(self, info_hash: str, move: str) -> None:
        handle = self._handle(info_hash)
        {
            "top": handle.queue_position_top,
            "bottom": handle.queue_position_bottom,
            "up": handle.queue_position_up,
            "down": handle.queue_position_down,
        }[move]()

    def share_stats(self, info_hashes: list[str]) -> dict[str, TorrentStatus]:
        """Fresh status of these torrents, for seeding goals.

        state_update_alert only reports torrents whose transfer changed, so an
        idle seed's seeding time has to be read here.
        """
        result = {}
        for info_hash in info_hashes:
            handle = self._handles.get(info_hash)
            if handle is not None and handle.is_valid():
                result[info_hash] = _status_event(handle.status(), info_hash)
        return result

    def recheck(self, info_hash: str) -> None:
        handle = self._handle(info_hash)
        handle.clear_error()
        handle.force_recheck()

    def reannounce(self, info_hash: str) -> None:
        self._handle(info_hash).force_reannounce()

    def remove(self, info_hash: str, delete_data: bool) -> None:
        handle = self._handles.pop(info_hash, None)
        if handle is None or not handle.is_valid():
            return
        flags = lt.session.delete_files if delete_data else 0
        self._session.remove_torrent(handle, flags)
        log.info(
            "engine removed torrent info_hash=%s delete_data=%s",
            info_hash,
            delete_data,
        )

    def move_storage(
        self,
        info_hash: str,
        path: str,
        replace: bool = False,
        keep_existing: bool = False,
    ) -> None:
        """Moves the payload; never over existing files unless `replace`.

        `replace` is only for finishing a move a crash interrupted, whose
        partial copies at the destination are the torrent's own.
        `keep_existing` uses files already at the destination, which FsOps
        checked are identical, and moves the rest.
        """
        handle = self._handle(info_hash)
        if replace:
            flags = lt.move_flags_t.always_replace_files
        elif keep_existing:
            flags = lt.move_flags_t.dont_replace
        else:
            flags = lt.move_flags_t.fail_if_exist
        handle.move_storage(path, flags)

    def save_all_resume_data(self, timeout: float = 10.0) -> list[tuple[str, bytes]]:
        """Asks every torrent for resume data and waits for the answers.

        Alerts that arrive meanwhile are translated as usual, so nothing is lost.
        """
        waiting = set()
        for info_hash, handle in self._handles.items():
            if handle.is_valid():
                handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)
                waiting.add(info_hash)

        saved: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            self._session.wait_for_alert(100)
            for alert in self._session.pop_alerts():
                info_hash = self._alert_hash(alert)
                if isinstance(alert, lt.save_resume_data_alert):
                    saved.append((info_hash, lt.write_resume_data_buf(alert.params)))
                    waiting.discard(info_hash)
                elif isinstance(alert, lt.save_resume_data_failed_alert):
                    waiting.discard(info_hash)
                else:
                    self._translate(alert)
        if waiting:
            log.warning("resume data not saved in time count=%d", len(waiting))
        return saved

    # Alerts.

    def drain(self) -> None:
        for alert in self._session.pop_alerts():
            self._translate(alert)

    def _tell_save_resume(self) -> None:
        self._me.save_changed_resume_data()

    def save_changed_resume_data(self) -> int:
        """Asks every torrent whose state changed since its last save to save."""
        asked = 0
        for handle in self._handles.values():
            if handle.is_valid() and handle.need_save_resume_data():
                handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)
                asked += 1
        return asked

    def _tell_status(self) -> None:
        self._me.post_status()

    def post_status(self) -> None:
        self._session.post_torrent_updates()

    def _pump_alerts(self) -> None:
        while not self._pump_stop.is_set():
            if self._session.wait_for_alert(250) is None:
                continue
            try:
                self._me.drain().get(timeout=30)
            except pykka.ActorDeadError:
                return
            except Exception:
                log.exception("alert drain failed")

    def _translate(self, alert: Any) -> None:
        handler = _HANDLERS.get(type(alert))
        if handler is None:
            return
        try:
            handler(self, alert)
        except Exception:
            # One alert we cannot read must not cost the rest of the batch.
            log.exception("alert handler failed alert=%s", type(alert).__name__)

    def _emit(self, event: EngineEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    def _alert_hash(self, alert: Any) -> str:
        return self._id_of(alert.handle.info_hashes())

    def _id_of(self, hashes: Any) -> str:
        """Our id for a handle's hashes, as it was when the torrent was added.

        A torrent added by its v2 hash (urn:btmh) learns its v1 hash with the
        metadata; its id must not change then, or its events would be lost.
        """
        if hashes.has_v1() and str(hashes.v1) in self._handles:
            return str(hashes.v1)
        if hashes.has_v2() and str(hashes.v2)[:40] in self._handles:
            return str(hashes.v2)[:40]
        return sources.torrent_id(hashes)

    def _on_state_update(self, alert: Any) -> None:
        for status in alert.status:
            self._emit(_status_event(status, self._id_of(status.info_hashes)))

    def _on_metadata(self, alert: Any) -> None:
        info_hash = self._alert_hash(alert)
        info = alert.handle.torrent_file()
        # The info dict is framed byte for byte, never re-encoded: re-encoding a
        # non-canonical dict would change the info hash. write_torrent_file()
        # refuses here because v2 piece layers arrive only with the payload.
        metainfo = b"d4:info" + bytes(info.info_section()) + b"e"
        files = sources.files_of(info)
        self._emit(
            MetadataReceived(
                info_hash=info_hash,
                name=info.name(),
                metainfo=metainfo,
                files=files,
                total_size=sum(f.size for f in files),
            )
        )
        alert.handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)

    def _on_finished(self, alert: Any) -> None:
        info_hash = self._alert_hash(alert)
        alert.handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)
        # A magnet added with selection rules starts with every file skipped,
        # so libtorrent calls it finished the moment its metadata arrives.
        # Nothing wanted is not a completed download.
        if alert.handle.status().total_wanted == 0:
            return
        self._emit(TorrentFinished(info_hash))

    def _on_resume_data(self, alert: Any) -> None:
        blob = lt.write_resume_data_buf(alert.params)
        self._emit(ResumeDataSaved(self._alert_hash(alert), blob))

    def _on_storage_moved(self, alert: Any) -> None:
        info_hash = self._alert_hash(alert)
        alert.handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)
        self._emit(StorageMoved(info_hash, alert.storage_path()))

    def _on_storage_move_failed(self, alert: Any) -> None:
        error = _named_error(alert)
        if alert.op == lt.operation_t.file_stat and alert.error.value() == 0:
            # fail_if_exist found a file at the destination (the stat that
            # found it succeeded) and moved nothing: "Success" would mislead.
            error = f"EEXIST: {alert.message()}"
        self._emit(StorageMoveFailed(self._alert_hash(alert), error))

    def _on_tracker_error(self, alert: Any) -> None:
        self._emit(
            TrackerFailed(self._alert_hash(alert), alert.tracker_url(), alert.message())
        )

    def _on_file_error(self, alert: Any) -> None:
        alert.handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)
        self._emit(StorageFailed(self._alert_hash(alert), alert.message()))

    def _on_torrent_error(self, alert: Any) -> None:
        alert.handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)
        self._emit(TorrentErrored(self._alert_hash(alert), alert.message()))

    def _on_alert_dropped(self, alert: Any) -> None:
        log.warning("libtorrent alert queue overflowed; alerts were dropped")

    def _handle(self, info_hash: str) -> Any:
        handle = self._handles.get(info_hash)
        if handle is None or not handle.is_valid():
            raise EngineError("torrent is not in the engine", info_hash=info_hash)
        return handle


def _status_event(status: Any, info_hash: str) -> TorrentStatus:
    error = status.errc.message() if status.errc.value() else None
    paused = status.flags & lt.torrent_flags.paused
    managed = status.flags & lt.torrent_flags.auto_managed
    if paused and not managed:
        # Paused by the user, or by us after a storage error: resumable.
        state = TorrentState.PAUSED
    elif error:
        state = TorrentState.FAILED
    elif paused:
        state = TorrentState.QUEUED
    else:
        state = LT_STATES.get(status.state, TorrentState.CHECKING)
    return TorrentStatus(
        info_hash=info_hash,
        name=status.name,
        state=state,
        progress=float(status.progress),
        download_rate=_rate(status, status.download_payload_rate, downloading=True),
        upload_rate=_rate(status, status.upload_payload_rate),
        total_done=int(status.total_wanted_done),
        total_size=int(status.total_wanted),
        save_path=status.save_path,
        error=error,
        uploaded=int(status.all_time_upload),
        downloaded=int(status.all_time_download),
        seeding_seconds=_seconds(status.seeding_duration),
        queue_position=int(status.queue_position),
        num_peers=int(status.num_peers),
        num_seeds=int(status.num_seeds),
    )


def _rate(status: Any, rate: float, downloading: bool = False) -> int:
    """libtorrent stops ticking a torrent's rates once its last peer leaves, so
    the last figure would stay on a seed for good; no peers means no transfer,
    and a finished torrent downloads nothing."""
    if status.num_peers == 0 or (downloading and status.is_finished):
        return 0
    return int(rate)


def _tracker(entry: dict[str, Any]) -> dict[str, Any]:
    """A tracker's url and how its last announce went."""
    error = entry.get("last_error") or {}
    message = entry.get("message") or ""
    if error.get("value"):
        status = "error"
    elif entry.get("updating"):
        status = "updating"
    elif entry.get("verified"):
        status = "working"
    else:
        status = "not contacted"
    return {
        "url": entry["url"],
        "tier": entry["tier"],
        "status": status,
        "message": message,
    }


def _seconds(duration: Any) -> int:
    seconds = getattr(duration, "total_seconds", None)
    return int(seconds()) if callable(seconds) else int(duration)


_HANDLERS: dict[type, Callable[[SessionActor, Any], None]] = {
    lt.state_update_alert: SessionActor._on_state_update,
    lt.metadata_received_alert: SessionActor._on_metadata,
    lt.torrent_finished_alert: SessionActor._on_finished,
    lt.save_resume_data_alert: SessionActor._on_resume_data,
    lt.storage_moved_alert: SessionActor._on_storage_moved,
    lt.storage_moved_failed_alert: SessionActor._on_storage_move_failed,
    lt.torrent_error_alert: SessionActor._on_torrent_error,
    lt.file_error_alert: SessionActor._on_file_error,
    lt.tracker_error_alert: SessionActor._on_tracker_error,
    lt.alerts_dropped_alert: SessionActor._on_alert_dropped,
}


def _named_error(alert: Any) -> str:
    """The alert's message, led by its errno's name (ENOSPC, EACCES, EXDEV)
    when the error is the system's, so that an operator reads it plainly."""
    code = alert.error
    name = errno.errorcode.get(code.value())
    if name is None or code.category().name() not in ("system", "generic"):
        return str(alert.message())
    return f"{name}: {alert.message()}"
