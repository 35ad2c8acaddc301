"""libtorrent's alerts and statuses in our terms: one table from libtorrent's
states to ours, one table from alert types to handlers, and the events they emit.

The handlers are methods of `AlertHandlers`, which SessionActor inherits: they
run on the actor's thread, read its handles and tell its subscriber.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libtorrent as lt

from revaer_actors import sources
from revaer_actors.domain import (
    EngineEvent,
    MetadataReceived,
    ResumeDataSaved,
    StorageFailed,
    StorageMoved,
    StorageMoveFailed,
    TorrentErrored,
    TorrentFinished,
    TorrentState,
    TorrentStatus,
    TrackerFailed,
)

log = logging.getLogger(__name__)

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


class AlertHandlers:
    """Translates alerts into engine events for the subscriber.

    Mixed into SessionActor, which owns `_handles` (our id to each handle) and
    `_sink` (the subscriber).
    """

    _handles: dict[str, Any]
    _sink: Callable[[EngineEvent], object] | None
    _clear_after_delete: dict[str, Path]

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
            self._emit(status_event(status, self._id_of(status.info_hashes)))

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

    def _on_files_deleted(self, alert: Any) -> None:
        # The handle is gone by now: the alert's hashes name the torrent. A
        # magnet that never had metadata gets "deletion failed" (nothing to
        # delete), which leaves its folder just as empty.
        hashes = alert.info_hashes
        for key in (str(hashes.v1), str(hashes.v2)[:40]):
            folder = self._clear_after_delete.pop(key, None)
            if folder is not None:
                _remove_empty_folders(folder)
                log.info("torrent folder cleared info_hash=%s path=%s", key, folder)

    def _on_alert_dropped(self, alert: Any) -> None:
        log.warning("libtorrent alert queue overflowed; alerts were dropped")


def status_event(status: Any, info_hash: str) -> TorrentStatus:
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


def _seconds(duration: Any) -> int:
    seconds = getattr(duration, "total_seconds", None)
    return int(seconds()) if callable(seconds) else int(duration)


_HANDLERS: dict[type, Callable[[AlertHandlers, Any], None]] = {
    lt.state_update_alert: AlertHandlers._on_state_update,
    lt.metadata_received_alert: AlertHandlers._on_metadata,
    lt.torrent_finished_alert: AlertHandlers._on_finished,
    lt.save_resume_data_alert: AlertHandlers._on_resume_data,
    lt.storage_moved_alert: AlertHandlers._on_storage_moved,
    lt.storage_moved_failed_alert: AlertHandlers._on_storage_move_failed,
    lt.torrent_error_alert: AlertHandlers._on_torrent_error,
    lt.file_error_alert: AlertHandlers._on_file_error,
    lt.tracker_error_alert: AlertHandlers._on_tracker_error,
    lt.torrent_deleted_alert: AlertHandlers._on_files_deleted,
    lt.torrent_delete_failed_alert: AlertHandlers._on_files_deleted,
    lt.alerts_dropped_alert: AlertHandlers._on_alert_dropped,
}


def _remove_empty_folders(top: Path) -> None:
    """Removes TOP and the folders under it that are empty; rmdir refuses a
    folder with anything in it, so no file is ever touched."""
    for folder, _, _ in os.walk(top, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _named_error(alert: Any) -> str:
    """The alert's message, led by its errno's name (ENOSPC, EACCES, EXDEV)
    when the error is the system's, so that an operator reads it plainly."""
    code = alert.error
    name = errno.errorcode.get(code.value())
    if name is None or code.category().name() not in ("system", "generic"):
        return str(alert.message())
    return f"{name}: {alert.message()}"
