"""The orchestrator: owns the in-memory catalog and routes every message.

Engine events come up from the session actor and go to the torrent's actor,
started on demand and retired after a quiet spell. Commands from the API come
down as asks and are answered once the persistence actor has committed them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pykka

from revaer_actors.commands import Command, Move, Pause, Remove
from revaer_actors.domain import (
    EngineEvent,
    JobRecord,
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
from revaer_actors.errors import (
    EngineError,
    InvalidInput,
    RevaerError,
    TorrentExists,
    TorrentNotFound,
)
from revaer_actors.events import EventHub
from revaer_actors.folders import Folders
from revaer_actors.orchestrator_boot import ASK_TIMEOUT, OrchestratorBoot
from revaer_actors.pipeline import META_NAME
from revaer_actors.policy import FsOpsSettings
from revaer_actors.settings import (
    GoalDecision,
    Goals,
    Settings,
    apply_patch,
    goal_reached,
    overrides,
)
from revaer_actors.sources import AddRequest
from revaer_actors.ticker import Ticker
from revaer_actors.torrent import TorrentActor

log = logging.getLogger(__name__)

IDLE_CHECK_INTERVAL = 5.0
QUIET_SPELL = 30.0
GOAL_INTERVAL = 5.0
MAX_LIVE_ACTORS = 128
PROGRESS_EVENT_INTERVAL = 1.0


class OrchestratorActor(OrchestratorBoot, pykka.ThreadingActor):
    def __init__(
        self,
        persistence: Any,
        session: Any,
        fsops: Any,
        folders: Folders,
        settings: Settings,
        quiet_spell: float = QUIET_SPELL,
        fsops_settings: FsOpsSettings | None = None,
        events: EventHub | None = None,
    ) -> None:
        super().__init__()
        self._events = events if events is not None else EventHub()
        # When each torrent's progress was last published, to send at most
        # one progress event a second per torrent.
        self._progress_sent: dict[str, float] = {}
        self._persistence = persistence
        self._session = session
        self._fsops = fsops
        self._folders = folders
        # The file's settings; what the API changed is kept as overrides on top.
        self._file_settings = settings
        self._settings = settings
        self._quiet_spell = quiet_spell
        self._fsops_settings = fsops_settings or FsOpsSettings()
        # Torrents whose FsOps job is running: their views say "moving".
        self._moving: set[str] = set()
        self._catalog: dict[str, TorrentRecord] = {}
        # Moves a user asked for; FsOps owns every other storage move.
        self._user_moves: dict[str, str] = {}
        # User moves a crash interrupted, redone at boot: rechecked once they
        # land, since a copy cut short may be among the files they kept.
        self._redone_moves: set[str] = set()
        self._actors: dict[str, pykka.ActorRef[TorrentActor]] = {}
        self._ticker = Ticker("torrent-idle", IDLE_CHECK_INTERVAL, self._tell_idle)
        self._goal_ticker = Ticker("seeding-goals", GOAL_INTERVAL, self._tell_goals)

    def on_start(self) -> None:
        # One proxy for the timers: building a proxy inspects the whole actor,
        # too much work to repeat several times a second.
        self._me = self.actor_ref.proxy()
        self._ticker.start()
        self._goal_ticker.start()

    def on_stop(self) -> None:
        self._ticker.stop()
        self._goal_ticker.stop()
        for ref in self._actors.values():
            ref.stop()
        self._actors.clear()

    def _tell_idle(self) -> None:
        self._me.retire_idle_actors()

    def _tell_goals(self) -> None:
        self._me.check_seeding_goals()

    # Settings and seeding goals.

    def settings(self) -> dict[str, Any]:
        """The settings in effect, and libtorrent's values for the same keys."""
        body = self._settings.as_json()
        body["engine"] = self._session.engine_settings().get(timeout=ASK_TIMEOUT)
        body["folders"] = self._folders.as_json()
        return body

    def change_folders(self, downloads: str | None, library: str | None) -> None:
        """New torrents download to `downloads` and are filed into `library`.

        Committed before it applies; torrents that already have a place keep it.
        """
        chosen = self._folders.prepare(downloads, library)
        if chosen == self._folders.as_json():
            return
        self._persistence.save_folders(chosen).get(timeout=ASK_TIMEOUT)
        self._folders.apply(chosen)
        log.info("folders changed downloads=%s library=%s", *chosen.values())
        self._events.publish("settings_changed", keys=sorted(chosen))

    def update_settings(self, body: Any) -> dict[str, Any]:
        """Validates, commits, then applies a partial settings update."""
        updated = apply_patch(self._settings, body)
        self._persistence.save_settings_overrides(
            overrides(self._file_settings, updated)
        ).get(timeout=ASK_TIMEOUT)
        self._session.apply_settings(updated).get(timeout=ASK_TIMEOUT)
        self._settings = updated
        log.info("settings changed keys=%s", ",".join(sorted(body)))
        current = self.settings()
        self._events.publish("settings_changed", keys=sorted(body))
        return current

    def check_seeding_goals(self) -> None:
        """Pauses or removes seeds that met their ratio or seeding-time goal."""
        candidates = {
            info_hash: goals
            for info_hash, record in self._catalog.items()
            if record.state in (TorrentState.SEEDING, TorrentState.COMPLETED)
            and (goals := self._goals(record)) != Goals()
        }
        if not candidates:
            return

        stats = self._session.share_stats(list(candidates)).get(timeout=ASK_TIMEOUT)
        for info_hash, status in stats.items():
            record = self._catalog.get(info_hash)
            if record is None or status.state not in (
                TorrentState.SEEDING,
                TorrentState.COMPLETED,
            ):
                continue
            snapshot = record.evolve(
                uploaded=status.uploaded,
                downloaded=status.downloaded,
                total_done=status.total_done,
            )
            decision = goal_reached(
                candidates[info_hash],
                snapshot.ratio,
                status.seeding_seconds / 60,
                self._settings.goal_action,
            )
            if decision is not None:
                self._act_on_goal(info_hash, decision)

    def _goals(self, record: TorrentRecord) -> Goals:
        own = Goals(record.ratio_limit, record.seeding_time_limit)
        goals = self._settings.goals_for(record.category, own)
        active = [
            limit
            for limit in (goals.ratio_limit, goals.seeding_time_limit)
            if limit is not None and limit >= 0
        ]
        return goals if active else Goals()

    def _act_on_goal(self, info_hash: str, decision: GoalDecision) -> None:
        log.info(
            "seeding goal reached info_hash=%s action=%s reason=%s",
            info_hash,
            decision.action,
            decision.reason,
        )
        command: Command | Remove = (
            Remove(delete_data=False) if decision.action == "remove" else Pause()
        )
        try:
            self.command(info_hash, command)
        except RevaerError as exc:
            log.warning(
                "seeding goal action failed info_hash=%s cause=%s", info_hash, exc
            )

    # Commands.

    def add(self, request: AddRequest) -> str:
        info_hash = request.parsed.info_hash
        if info_hash in self._catalog:
            # As qBittorrent does: the duplicate is refused, but the trackers it
            # brings are added to the torrent that is already there.
            merged = self._session.merge_trackers(
                info_hash, request.parsed.trackers
            ).get(timeout=ASK_TIMEOUT)
            raise TorrentExists(info_hash, merged)

        save_path = self._save_path(request.save_path, info_hash)
        self._refuse_shared_payload(save_path, request.parsed.name)
        # The torrent's own policy must work with its category's and the
        # defaults; refused now rather than when the download has finished.
        self._fsops_settings.policy_for(request.category, dict(request.fsops))
        record = TorrentRecord(
            info_hash=info_hash,
            name=request.parsed.name,
            state=TorrentState.PAUSED if request.paused else TorrentState.QUEUED,
            paused=request.paused,
            save_path=save_path,
            added_at=datetime.now(UTC),
            category=request.category,
            tags=request.tags,
            sequential=request.sequential,
            first_last_piece=request.first_last_piece,
            download_limit=request.download_limit,
            upload_limit=request.upload_limit,
            ratio_limit=request.ratio_limit,
            seeding_time_limit=request.seeding_time_limit,
            selection=request.selection,
            magnet=request.magnet,
            metainfo=request.metainfo,
            files=request.parsed.files,
            total_size=request.parsed.total_size,
            fsops=request.fsops,
            content_layout=request.content_layout,
        )
        self._persistence.add_torrent(record).get(timeout=ASK_TIMEOUT)
        self._catalog[info_hash] = record
        self._events.publish(
            "torrent_added",
            info_hash,
            name=record.name,
            category=record.category,
            tags=list(record.tags),
            state=record.state.value,
        )
        self._add_to_engine(record)
        log.info(
            "torrent added info_hash=%s name=%s category=%s",
            info_hash,
            record.name,
            record.category,
        )
        return info_hash

    def command(self, info_hash: str, command: Command | Remove) -> TorrentRecord:
        """Runs a user command; answers once it is committed and applied."""
        if info_hash not in self._catalog:
            raise TorrentNotFound(info_hash)

        if isinstance(command, Remove):
            return self._remove(info_hash, command.delete_data)
        if isinstance(command, Move):
            return self._move(info_hash, command.save_path)
        actor = self._actor(info_hash)
        record: TorrentRecord = actor.apply(command).get(timeout=ASK_TIMEOUT)
        self._replace(record)
        return record

    def _move(self, info_hash: str, asked: str) -> TorrentRecord:
        record = self._catalog[info_hash]
        save_path = self._save_path(asked, info_hash)
        if Path(save_path) == Path(record.save_path):
            return record
        self._refuse_shared_payload(save_path, record.name)

        try:
            Path(save_path).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(
                f"cannot create {save_path}: {exc.strerror}", field="/save_path"
            ) from None
        # Committed before the answer: a crash after it finishes the move at
        # boot instead of going on in the old folder.
        self._persistence.begin_move(info_hash, save_path).get(timeout=ASK_TIMEOUT)
        self._user_moves[info_hash] = save_path
        try:
            self._session.move_storage(info_hash, save_path).get(timeout=ASK_TIMEOUT)
        except Exception:
            self._user_moves.pop(info_hash, None)
            self._persistence.record_move_dropped(info_hash, save_path)
            raise
        log.info("torrent move requested info_hash=%s to=%s", info_hash, save_path)
        return record

    def _remove(self, info_hash: str, delete_data: bool) -> TorrentRecord:
        self._persistence.remove_torrent(info_hash).get(timeout=ASK_TIMEOUT)

        ref = self._actors.pop(info_hash, None)
        if ref is not None:
            ref.stop()
        record = self._catalog.pop(info_hash)
        self._progress_sent.pop(info_hash, None)
        self._events.publish("removed", info_hash, delete_data=delete_data)
        self._fsops.forget(info_hash)
        self._session.remove(info_hash, delete_data, _own_folder(record)).get(
            timeout=ASK_TIMEOUT
        )
        if delete_data:
            _drop_meta_of_seeded_payload(record)
        log.info("torrent removed info_hash=%s delete_data=%s", info_hash, delete_data)
        return record

    def _save_path(self, asked: str | None, info_hash: str) -> str:
        """Where the torrent downloads: by default a folder of its own.

        Torrents often share a name ("temp", "Season 1"); in one shared folder
        they would write into each other's files. A folder per info hash makes
        that impossible. A folder the user names must lie inside the downloads
        or library folder, and may not hold another torrent of the same name.
        """
        if asked is None:
            return str(self._folders.downloads / info_hash)

        path = Path(asked)
        if not path.is_absolute():
            path = self._folders.downloads / path
        resolved = path.resolve()
        roots = (self._folders.downloads.resolve(), self._folders.library.resolve())
        if not any(resolved.is_relative_to(root) for root in roots):
            raise InvalidInput(
                "save_path must be inside the downloads or the library folder",
                field="/save_path",
            )
        return str(resolved)

    def _refuse_shared_payload(self, save_path: str, name: str) -> None:
        target = (save_path, name.casefold())
        for other in self._catalog.values():
            if (other.save_path, other.name.casefold()) == target:
                raise InvalidInput(
                    f"torrent {other.info_hash} already downloads {name!r} into "
                    f"{save_path}; choose another save_path",
                    field="/save_path",
                )

    def list_torrents(self) -> list[TorrentRecord]:
        return [self._view(record) for record in self._catalog.values()]

    def user_moves(self) -> set[str]:
        """Torrents whose payload a user move is carrying elsewhere right now."""
        return set(self._user_moves)

    def get_torrent(self, info_hash: str) -> TorrentRecord:
        record = self._catalog.get(info_hash)
        if record is None:
            raise TorrentNotFound(info_hash)
        return self._view(record)

    def _view(self, record: TorrentRecord) -> TorrentRecord:
        if record.info_hash in self._moving:
            return record.evolve(state=TorrentState.MOVING)
        return record

    def job_running(self, info_hash: str, running: bool) -> None:
        """Told by FsOps when a torrent's job starts and stops running."""
        if running:
            self._moving.add(info_hash)
        else:
            self._moving.discard(info_hash)

    def retry_job(self, job_id: int) -> JobRecord:
        """Puts a failed job back in the queue and hands it to FsOps."""
        job: JobRecord = self._persistence.reopen_job(job_id).get(timeout=ASK_TIMEOUT)
        record = self._catalog.get(job.torrent_id)
        if record is not None:
            self._fsops.post_process(record)
        log.info("fs job retry asked job_id=%d info_hash=%s", job_id, job.torrent_id)
        return job

    def torrent_detail(self, info_hash: str) -> dict[str, Any]:
        """The catalog's record with libtorrent's live view beside it."""
        record = self.get_torrent(info_hash)
        body = record.as_json()
        goals = self._settings.goals_for(
            record.category, Goals(record.ratio_limit, record.seeding_time_limit)
        )
        body["goals"] = {
            "ratio_limit": goals.ratio_limit,
            "seeding_time_limit": goals.seeding_time_limit,
            "action": self._settings.goal_action,
        }
        live = self._session.inspect(info_hash).get(timeout=ASK_TIMEOUT)
        body["trackers"] = live["trackers"] if live else []
        body["engine"] = live["engine"] if live else None
        progress = live["file_progress"] if live else []
        for entry in body["files"]:
            index = entry["index"]
            size = entry["size"]
            done = progress[index] if index < len(progress) else 0
            entry["progress"] = round(done / size, 6) if size else 1.0
        return body

    # Events, told from below.

    def on_engine_event(self, event: EngineEvent) -> None:
        route = _ROUTES.get(type(event))
        if route is not None:
            route(self, event)

    def catalog_updated(self, record: TorrentRecord) -> None:
        if record.info_hash in self._catalog:
            self._replace(record)

    def _replace(self, record: TorrentRecord) -> None:
        """Keeps the newer record and tells live clients what changed."""
        info_hash = record.info_hash
        old = self._catalog[info_hash]
        self._catalog[info_hash] = record

        if not old.files and record.files:
            self._events.publish(
                "files_discovered",
                info_hash,
                name=record.name,
                files=len(record.files),
                total_size=record.total_size,
            )
        if old.state != record.state:
            self._events.publish(
                "state_changed",
                info_hash,
                previous=old.state.value,
                state=record.state.value,
                message=record.state_message,
            )
        if old.completed_at is None and record.completed_at is not None:
            self._events.publish("completed", info_hash, name=record.name)
        self._maybe_publish_progress(old, record)

    def _maybe_publish_progress(
        self, old: TorrentRecord, record: TorrentRecord
    ) -> None:
        moved = (old.progress, old.download_rate, old.upload_rate) != (
            record.progress,
            record.download_rate,
            record.upload_rate,
        )
        now = time.monotonic()
        last = self._progress_sent.get(record.info_hash, 0.0)
        if moved and now - last >= PROGRESS_EVENT_INTERVAL:
            self._progress_sent[record.info_hash] = now
            self._events.publish(
                "progress",
                record.info_hash,
                progress=record.progress,
                download_rate=record.download_rate,
                upload_rate=record.upload_rate,
                eta=record.eta,
            )

    def torrent_relocated(
        self, info_hash: str, save_path: str, library_path: str
    ) -> None:
        actor = self._actor(info_hash)
        if actor is not None:
            actor.on_relocated(save_path, library_path)

    def retire_idle_actors(self, quiet: float | None = None) -> None:
        quiet = self._quiet_spell if quiet is None else quiet
        for info_hash, ref in list(self._actors.items()):
            try:
                idle = ref.proxy().retire_if_idle(quiet).get(timeout=5)
            except (pykka.ActorDeadError, pykka.Timeout):
                idle = True
            if idle:
                ref.stop()
                del self._actors[info_hash]
                log.debug("torrent actor retired info_hash=%s", info_hash)

    def _actor(self, info_hash: str) -> Any:
        """The torrent's actor proxy, started from the catalog if it is not running."""
        ref = self._actors.get(info_hash)
        if ref is not None and ref.is_alive():
            return ref.proxy()

        record = self._catalog.get(info_hash)
        if record is None:
            return None
        if len(self._actors) >= MAX_LIVE_ACTORS:
            # Each actor is a thread: past the cap, every actor whose torrent
            # is not transferring or checking is retired now rather than after
            # its quiet spell (a bulk add would otherwise start one per torrent).
            self.retire_idle_actors(quiet=0.0)
        ref = TorrentActor.start(
            record, self._persistence, self._session, self._fsops, self._publisher()
        )
        self._actors[info_hash] = ref
        return ref.proxy()

    def _publisher(self) -> Callable[[TorrentRecord], object]:
        me = self._me
        return lambda record: me.catalog_updated(record)

    def _on_status(self, event: TorrentStatus) -> None:
        actor = self._actor(event.info_hash)
        if actor is not None:
            actor.on_status(event)

    def _on_metadata(self, event: MetadataReceived) -> None:
        actor = self._actor(event.info_hash)
        if actor is not None:
            actor.on_metadata(event)

    def _on_finished(self, event: TorrentFinished) -> None:
        actor = self._actor(event.info_hash)
        if actor is not None:
            actor.on_finished()

    def _on_resume_data(self, event: ResumeDataSaved) -> None:
        actor = self._actor(event.info_hash)
        if actor is not None:
            actor.on_resume_data(event)

    def _on_error(self, event: TorrentErrored) -> None:
        actor = self._actor(event.info_hash)
        if actor is not None:
            actor.on_error(event)

    def _on_tracker_failed(self, event: TrackerFailed) -> None:
        actor = self._actor(event.info_hash)
        if actor is not None:
            actor.on_tracker_error(event)

    def _on_storage_failed(self, event: StorageFailed) -> None:
        actor = self._actor(event.info_hash)
        if actor is not None:
            actor.on_storage_error(event)

    def _on_storage_moved(self, event: StorageMoved) -> None:
        if self._user_moves.pop(event.info_hash, None) is None:
            self._fsops.storage_moved(event.info_hash, event.path)
            return

        # The payload left wherever FsOps filed it, so it has no library path.
        self._persistence.record_moved(event.info_hash, event.path)
        actor = self._actor(event.info_hash)
        if actor is not None:
            actor.on_relocated(event.path, None)
        log.info("torrent moved info_hash=%s to=%s", event.info_hash, event.path)
        if event.info_hash in self._redone_moves:
            self._redone_moves.discard(event.info_hash)
            log.info("torrent rechecked after its move info_hash=%s", event.info_hash)
            try:
                self._session.recheck(event.info_hash).get(timeout=ASK_TIMEOUT)
            except EngineError as exc:
                log.warning(
                    "recheck failed info_hash=%s cause=%s", event.info_hash, exc.detail
                )

    def _on_storage_move_failed(self, event: StorageMoveFailed) -> None:
        asked = self._user_moves.pop(event.info_hash, None)
        if asked is None:
            self._fsops.storage_move_failed(event.info_hash, event.error)
            return
        self._redone_moves.discard(event.info_hash)
        self._persistence.record_move_dropped(event.info_hash, asked)

        log.warning(
            "torrent move failed info_hash=%s cause=%s", event.info_hash, event.error
        )
        record = self._catalog.get(event.info_hash)
        if record is not None:
            self._persistence.record_state(
                event.info_hash, record.state, f"move failed: {event.error}"
            )


_ROUTES: dict[type, Callable[[OrchestratorActor, Any], None]] = {
    TorrentStatus: OrchestratorActor._on_status,
    MetadataReceived: OrchestratorActor._on_metadata,
    TorrentFinished: OrchestratorActor._on_finished,
    ResumeDataSaved: OrchestratorActor._on_resume_data,
    TorrentErrored: OrchestratorActor._on_error,
    StorageMoved: OrchestratorActor._on_storage_moved,
    StorageFailed: OrchestratorActor._on_storage_failed,
    TrackerFailed: OrchestratorActor._on_tracker_failed,
    StorageMoveFailed: OrchestratorActor._on_storage_move_failed,
}


def _own_folder(record: TorrentRecord) -> str | None:
    """The folder only this torrent uses: its default download folder (named
    after its id), or the payload folder a NoSubfolder torrent seeds from."""
    save_path = Path(record.save_path)
    if save_path.name == record.info_hash:
        return record.save_path
    if record.library_path is not None and save_path == Path(record.library_path):
        return record.save_path
    return None


def _drop_meta_of_seeded_payload(record: TorrentRecord) -> None:
    """With its data deleted, a torrent that seeded from the library leaves no
    `.revaer.meta` behind. A copy or hardlink filed into the library is the
    user's and stays, and so does its meta file."""
    if record.library_path is None:
        return
    payload = Path(record.library_path)
    # A NoSubfolder torrent seeds from inside its payload folder.
    if Path(record.save_path) not in (payload.parent, payload):
        return
    meta = payload.with_name(payload.name + META_NAME)
    try:
        owner = json.loads(meta.read_text()).get("info_hash")
    except (OSError, ValueError, AttributeError):
        return
    if owner == record.info_hash:
        meta.unlink(missing_ok=True)
        log.info("meta file removed info_hash=%s path=%s", record.info_hash, meta)
