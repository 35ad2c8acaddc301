"""The torrent actor: the state machine of one torrent while it is active.

It lives only while its torrent has something to do; after a quiet spell the
orchestrator retires it, and the next event for the torrent starts a fresh one
from the catalog's snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pykka

from revaer_actors.commands import (
    Command,
    ForceStart,
    Pause,
    Priority,
    Reannounce,
    Recheck,
    Resume,
)
from revaer_actors.domain import (
    MetadataReceived,
    ResumeDataSaved,
    StorageFailed,
    TorrentErrored,
    TorrentRecord,
    TorrentState,
    TorrentStatus,
    TrackerFailed,
)
from revaer_actors.session_params import RESUME_UNREADABLE, EngineAdd

log = logging.getLogger(__name__)

ASK_TIMEOUT = 30.0
STORAGE_ERROR = "storage error: "

# At most four progress writes a second per torrent; state changes always go.
PROGRESS_INTERVAL = 0.25


class TorrentActor(pykka.ThreadingActor):
    def __init__(
        self,
        record: TorrentRecord,
        persistence: Any,
        session: Any,
        fsops: Any,
        publish: Callable[[TorrentRecord], object],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._record = record
        self._persistence = persistence
        self._session = session
        self._fsops = fsops
        self._publish = publish
        self._clock = clock
        self._last_message = clock()
        self._last_progress = 0.0
        self._unsent_progress: TorrentStatus | None = None

    def on_stop(self) -> None:
        # The throttle may have held back the last progress update; write it now
        # so a retired torrent's row shows where it stopped.
        if self._unsent_progress is not None:
            self._persistence.record_progress(self._unsent_progress)

    def _update(self, **changes: Any) -> None:
        self._last_message = self._clock()
        self._record = self._record.evolve(**changes)
        self._publish(self._record)

    def on_status(self, status: TorrentStatus) -> None:
        record = self._record
        # A message explains the state until the torrent is healthy again: an
        # error while it fails, a note (files missing, storage error) until it
        # seeds or completes, or until it leaves the failed state.
        if status.state is TorrentState.FAILED:
            message = status.error
        elif (record.state_message or "").startswith(RESUME_UNREADABLE):
            # Why it was rechecked stays visible, also once it seeds again.
            message = record.state_message
        elif record.state is TorrentState.FAILED or status.state in (
            TorrentState.SEEDING,
            TorrentState.COMPLETED,
        ):
            message = None
        else:
            message = record.state_message
        if status.state is not record.state or message != record.state_message:
            log.info(
                "torrent state changed info_hash=%s from=%s to=%s",
                record.info_hash,
                record.state,
                status.state,
            )
            self._persistence.record_state(record.info_hash, status.state, message)

        now = self._clock()
        if now - self._last_progress >= PROGRESS_INTERVAL or status.progress >= 1.0:
            self._last_progress = now
            self._unsent_progress = None
            self._persistence.record_progress(status)
        else:
            self._unsent_progress = status

        self._update(
            state=status.state,
            state_message=message,
            progress=status.progress,
            download_rate=status.download_rate,
            upload_rate=status.upload_rate,
            total_done=status.total_done,
            total_size=status.total_size,
            uploaded=status.uploaded,
            downloaded=status.downloaded,
            seeding_seconds=status.seeding_seconds,
            queue_position=status.queue_position,
            num_peers=status.num_peers,
            num_seeds=status.num_seeds,
        )

    def on_metadata(self, event: MetadataReceived) -> None:
        log.info(
            "torrent metadata received info_hash=%s name=%s files=%d",
            event.info_hash,
            event.name,
            len(event.files),
        )
        self._persistence.record_metadata(
            event.info_hash, event.name, event.metainfo, event.files, event.total_size
        )
        self._update(
            name=event.name,
            files=event.files,
            total_size=event.total_size,
            metainfo=event.metainfo,
        )
        if not self._record.selection.is_default or self._record.first_last_piece:
            # A magnet's selection rules (and its first and last pieces) can
            # only be applied now that its files are known.
            self._session.configure(EngineAdd.from_record(self._record)).get(
                timeout=ASK_TIMEOUT
            )

    def on_finished(self) -> None:
        record = self._record
        if record.completed_at is None:
            completed_at = datetime.now(UTC)
            log.info("torrent completed info_hash=%s", record.info_hash)
            self._persistence.record_completed(record.info_hash, completed_at)
            self._update(completed_at=completed_at)

        # FsOps decides whether there is anything to do: a torrent whose job is
        # already done finishes again after every restart and recheck.
        self._fsops.post_process(self._record)

    def on_resume_data(self, event: ResumeDataSaved) -> None:
        self._persistence.record_resume_data(event.info_hash, event.data)
        self._last_message = self._clock()

    def on_error(self, event: TorrentErrored) -> None:
        log.warning("torrent error info_hash=%s cause=%s", event.info_hash, event.error)
        self._persistence.record_state(
            event.info_hash, TorrentState.FAILED, event.error
        )
        self._update(state=TorrentState.FAILED, state_message=event.error)

    def apply(self, command: Command) -> TorrentRecord:
        """Commits what the command changes, then applies it to libtorrent."""
        after_storage_error = (
            isinstance(command, Resume | ForceStart)
            and self._record.state_message is not None
            and self._record.state_message.startswith(STORAGE_ERROR)
        )
        record = command.apply_to(self._record)
        if after_storage_error:
            record = record.evolve(state_message=None)
            self._persistence.record_state(record.info_hash, record.state, None)
        if record != self._record:
            self._persistence.save_settings(record).get(timeout=ASK_TIMEOUT)
            self._update(**_settings(record), state_message=record.state_message)
            log.info(
                "torrent command applied info_hash=%s command=%s",
                record.info_hash,
                type(command).__name__.lower(),
            )

        if isinstance(command, Recheck):
            self._session.recheck(record.info_hash).get(timeout=ASK_TIMEOUT)
        elif isinstance(command, Priority):
            self._session.queue_move(record.info_hash, command.move).get(
                timeout=ASK_TIMEOUT
            )
        elif isinstance(command, Reannounce):
            self._session.reannounce(record.info_hash).get(timeout=ASK_TIMEOUT)
        else:
            self._session.configure(EngineAdd.from_record(record)).get(
                timeout=ASK_TIMEOUT
            )
        if after_storage_error:
            # Writes that failed on a full disk leave pieces whose data does
            # not match its hashes; a recheck finds them before they are
            # downloaded again.
            # TODO(hybrid torrents after ENOSPC): a hybrid (v1+v2) torrent can
            # still stop later with "v1 and v2 hashes do not describe the same
            # data"; find the state the recheck leaves behind and clear it.
            self._session.recheck(record.info_hash).get(timeout=ASK_TIMEOUT)
        return self._record

    def on_tracker_error(self, event: TrackerFailed) -> None:
        # Trackers fail and recover all the time; worth a line and the last
        # message in the view, not a state change.
        log.info(
            "tracker error info_hash=%s url=%s cause=%s",
            event.info_hash,
            event.url,
            event.error,
        )
        self._update(tracker_error=f"{event.url}: {event.error}")

    def on_storage_error(self, event: StorageFailed) -> None:
        """Pauses the torrent with the reason; resuming retries the storage."""
        message = f"{STORAGE_ERROR}{event.error}; resume once it is fixed"
        log.warning(
            "torrent paused on storage error info_hash=%s cause=%s",
            event.info_hash,
            event.error,
        )
        record = Pause().apply_to(self._record).evolve(state_message=message)
        # Told, not asked: during a database outage the pause must still
        # happen in libtorrent, and the flag and the reason wait in the
        # outbox like any engine event.
        self._persistence.record_settings(record)
        self._persistence.record_state(record.info_hash, record.state, message)
        self._update(**_settings(record), state_message=message)
        self._session.configure(EngineAdd.from_record(record)).get(timeout=ASK_TIMEOUT)

    def on_relocated(self, save_path: str, library_path: str | None) -> None:
        self._update(save_path=save_path, library_path=library_path)

    def retire_if_idle(self, quiet: float) -> bool:
        """True when nothing happened for `quiet` seconds; the caller then stops us."""
        idle = self._clock() - self._last_message >= quiet
        active = self._record.state in (
            TorrentState.DOWNLOADING,
            TorrentState.CHECKING,
            TorrentState.FETCHING_METADATA,
        )
        return idle and not active


def _settings(record: TorrentRecord) -> dict[str, Any]:
    """The fields a user command may change."""
    return {
        "paused": record.paused,
        "state": record.state,
        "category": record.category,
        "tags": record.tags,
        "sequential": record.sequential,
        "download_limit": record.download_limit,
        "upload_limit": record.upload_limit,
        "ratio_limit": record.ratio_limit,
        "seeding_time_limit": record.seeding_time_limit,
        "selection": record.selection,
        "force_start": record.force_start,
        "first_last_piece": record.first_last_piece,
    }
