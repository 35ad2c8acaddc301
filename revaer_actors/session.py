"""The session actor: owns the libtorrent session; every call into it goes here.

A pump thread waits on libtorrent's alert queue and asks the actor to drain it,
so alerts are popped and translated on the actor's own thread. Translated
events go to the subscriber (the orchestrator) by `tell`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libtorrent as lt
import pykka

from revaer_actors.domain import EngineEvent, TorrentStatus
from revaer_actors.errors import EngineError
from revaer_actors.session_alerts import AlertHandlers, status_event
from revaer_actors.session_params import (
    TOP_PRIORITY,
    edge_pieces,
    engine_params,
    first_last_piece_priority,
)
from revaer_actors.session_params import EngineAdd as EngineAdd  # re-exported
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
# How often changed torrents save resume data: the most a kill -9 can cost a
# download in progress before the boot recheck finds the rest.
RESUME_INTERVAL = 30.0
ALERT_QUEUE_WARN = 0.8


class SessionActor(AlertHandlers, pykka.ThreadingActor):
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
        self._clear_after_delete: dict[str, Path] = {}

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
        params, note = engine_params(spec)
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
            first_last_piece_priority(handle, True)
        log.info("engine added torrent info_hash=%s", spec.info_hash)
        return note

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
        first_last_piece_priority(handle, spec.first_last_piece)
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
                "first_last_piece": bool(edge_pieces(handle))
                and all(
                    handle.piece_priority(piece) == TOP_PRIORITY
                    for piece in edge_pieces(handle)
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
                result[info_hash] = status_event(handle.status(), info_hash)
        return result

    def recheck(self, info_hash: str) -> None:
        handle = self._handle(info_hash)
        handle.clear_error()
        handle.force_recheck()

    def reannounce(self, info_hash: str) -> None:
        self._handle(info_hash).force_reannounce()

    def remove(
        self, info_hash: str, delete_data: bool, own_folder: str | None = None
    ) -> None:
        """OWN_FOLDER, a folder only this torrent used, goes too once libtorrent
        has deleted the files (it leaves the folders it was given)."""
        handle = self._handles.pop(info_hash, None)
        if handle is None or not handle.is_valid():
            return
        flags = lt.session.delete_files if delete_data else 0
        if delete_data and own_folder is not None:
            self._clear_after_delete[info_hash] = Path(own_folder)
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

    def _handle(self, info_hash: str) -> Any:
        handle = self._handles.get(info_hash)
        if handle is None or not handle.is_valid():
            raise EngineError("torrent is not in the engine", info_hash=info_hash)
        return handle


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
