"""The persistence actor: the only writer to the catalog.

Commands that a user is told succeeded go through `ask` methods, which commit
before they answer. Engine events arrive by `tell` and wait in an ordered
outbox; progress is coalesced per torrent (latest wins). Both are flushed in one
transaction at least once a second. When the database is unreachable the outbox
keeps every event in order and is written once the database is back.

The outbox is bounded per torrent, however long an outage lasts: one pending
write per column-setting kind (metadata, settings, resume data, location, a
dropped move, completion; a newer one replaces an older one, which leaves the
row as applying both would), one coalesced progress row, and up to
MAX_TRANSITIONS_PER_TORRENT state transitions, each written to the state
history in order. Past that cap the oldest intermediate transition is dropped
(the first and the latest are always kept), with a WARNING naming the torrent
and the revaer_persistence_transitions_dropped_total counter. The outbox itself is
a plain class, `persistence_outbox.Outbox`, which this actor owns and flushes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import psycopg
import pykka
from psycopg_pool import ConnectionPool, PoolTimeout

from revaer_actors import metrics, repository
from revaer_actors.domain import (
    FileEntry,
    JobRecord,
    JobStatus,
    TorrentRecord,
    TorrentState,
    TorrentStatus,
    TransferMode,
)
from revaer_actors.errors import (
    DatabaseUnavailable,
    JobNotRetryable,
    LastActiveKey,
    TorrentExists,
    TorrentNotFound,
)
from revaer_actors.events import EventHub
from revaer_actors.persistence_outbox import (
    MAX_TRANSITIONS_PER_TORRENT as MAX_TRANSITIONS_PER_TORRENT,  # re-exported
)
from revaer_actors.persistence_outbox import Outbox, Write
from revaer_actors.ticker import Ticker

log = logging.getLogger(__name__)

T = TypeVar("T")

FLUSH_INTERVAL = 0.5
# While degraded, the database is probed on this backoff with a short pool
# timeout, instead of every flush and command waiting out the pool's timeout
# while engine events pile up in the mailbox.
PROBE_TIMEOUT = 0.5
PROBE_BACKOFF_FIRST = 0.25
PROBE_BACKOFF_MAX = 4.0
# At shutdown, how long to keep trying to write the last events.
FINAL_FLUSH_SECONDS = 5.0
FINAL_FLUSH_PAUSE = 0.25

_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
# SQLSTATE classes of errors that belong to one row's data (22 data exception,
# 23 integrity constraint violation): only those writes may be dropped. Any
# other refusal (read-only database, missing privilege or table) is the
# database's state, not the row's, and is waited out like an outage.
_ROW_ERROR_CLASSES = ("22", "23")


def _row_error(exc: psycopg.Error) -> bool:
    return (exc.sqlstate or "")[:2] in _ROW_ERROR_CLASSES


class PersistenceActor(pykka.ThreadingActor):
    def __init__(
        self,
        pool: ConnectionPool,
        events: EventHub | None = None,
        final_flush_seconds: float = FINAL_FLUSH_SECONDS,
    ) -> None:
        super().__init__()
        self._pool = pool
        self._final_flush_seconds = final_flush_seconds
        self._events = events if events is not None else EventHub()
        # Each running job's stage and when it entered it, for stage timings.
        self._job_stages: dict[int, tuple[str, float]] = {}
        # The writes waiting for the next flush (see persistence_outbox).
        self._outbox = Outbox()
        # The most events waiting at once (outbox and mailbox) since asked.
        self._depth_peak = 0
        self._degraded = False
        self._next_probe = 0.0
        self._probe_backoff = PROBE_BACKOFF_FIRST
        # Rows committed by flushes, for benchmarks and metrics.
        self.rows_written = 0
        self._on_recovery: Callable[[], object] | None = None
        self._flush_told = threading.Event()
        self._ticker = Ticker("persistence-flush", FLUSH_INTERVAL, self._tell_flush)

    def on_start(self) -> None:
        # One proxy for the timers: building a proxy inspects the whole actor,
        # too much work to repeat several times a second.
        self._me = self.actor_ref.proxy()
        self._ticker.start()

    def on_stop(self) -> None:
        """Writes what is left, retrying for a while: a database that has
        just come back may still be reconnecting."""
        self._ticker.stop()
        self.drain()

    def drain(self) -> int:
        """Flushes until nothing is pending or the final-flush time is over;
        returns what is still unwritten (the daemon's shutdown asks, to know
        whether this run ended durably)."""
        deadline = time.monotonic() + self._final_flush_seconds
        pending = self.flush(probe=True)
        while pending and time.monotonic() < deadline:
            time.sleep(FINAL_FLUSH_PAUSE)
            pending = self.flush(probe=True)
        if pending:
            log.warning("persistence stopped with unwritten events count=%d", pending)
        return pending

    def subscribe(self, on_recovery: Callable[[], object]) -> None:
        """Who to tell when the database is reachable again after an outage."""
        self._on_recovery = on_recovery

    def _tell_flush(self) -> None:
        # One timed flush in the mailbox at a time: during an outage each one
        # waits out the pool's timeout, and a pile of them would keep commands
        # waiting far longer than it takes to answer them 503.
        if self._flush_told.is_set():
            return
        self._flush_told.set()
        self._me.flush()

    # Commands: answered only after the transaction committed.

    def add_torrent(self, record: TorrentRecord) -> None:
        def insert(conn: psycopg.Connection[Any]) -> bool:
            return repository.insert_torrent(conn, record)

        if not self._commit(insert):
            raise TorrentExists(record.info_hash)
        log.info("torrent stored info_hash=%s name=%s", record.info_hash, record.name)

    def save_settings(self, record: TorrentRecord) -> None:
        if not self._commit(lambda conn: repository.update_settings(conn, record)):
            raise TorrentNotFound(record.info_hash)

    def load_scope(self, scope: str) -> dict[str, Any]:
        """Settings stored under a scope of their own (e.g. 'qbittorrent')."""
        return self._commit(lambda conn: repository.select_settings(conn, scope))

    def save_scope(self, scope: str, value: dict[str, Any]) -> None:
        self._commit(lambda conn: repository.upsert_settings(conn, scope, value))

    def load_categories(self) -> list[str]:
        return self._commit(repository.select_categories)

    def add_category(self, name: str) -> bool:
        """True when the category is new; committed before the answer."""
        return self._commit(lambda conn: repository.insert_category(conn, name))

    def remove_categories(self, names: list[str]) -> list[str]:
        return self._commit(lambda conn: repository.delete_categories(conn, names))

    def remove_torrent(self, info_hash: str) -> None:
        if not self._commit(lambda conn: repository.delete_torrent(conn, info_hash)):
            raise TorrentNotFound(info_hash)
        log.info("torrent forgotten info_hash=%s", info_hash)

    def load_settings(self) -> dict[str, Any]:
        return self._commit(lambda conn: repository.select_settings(conn, "global"))

    def load_folders(self) -> dict[str, Any]:
        return self._commit(lambda conn: repository.select_settings(conn, "folders"))

    def save_folders(self, value: dict[str, str]) -> None:
        self._commit(lambda conn: repository.upsert_settings(conn, "folders", value))

    def save_settings_overrides(self, value: dict[str, Any]) -> None:
        self._commit(lambda conn: repository.upsert_settings(conn, "global", value))

    def api_keys(self) -> list[dict[str, Any]]:
        return self._commit(repository.select_api_keys)

    def issue_api_key(self, name: str, key_hash: str) -> dict[str, Any]:
        row = self._commit(lambda conn: repository.insert_api_key(conn, name, key_hash))
        log.info("api key issued key_id=%s name=%s", row["id"], name)
        return row

    def revoke_api_key(self, key_id: int) -> dict[str, Any] | None:
        def write(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
            active = [
                r["id"]
                for r in repository.select_api_keys(conn)
                if r["revoked_at"] is None
            ]
            if active == [key_id]:
                raise LastActiveKey(
                    "this is the last active key; issue another one before "
                    "revoking it, or nobody could use the API again"
                )
            return repository.revoke_api_key(conn, key_id)

        row = self._commit(write)
        if row is not None:
            log.info("api key revoked key_id=%s", key_id)
        return row

    def load_catalog(self) -> list[TorrentRecord]:
        return self._commit(repository.select_torrents)

    def open_job(
        self, torrent_id: str, mode: TransferMode, src_path: str
    ) -> JobRecord | None:
        job = self._commit(
            lambda conn: repository.insert_job(conn, torrent_id, mode, src_path)
        )
        if job is not None:
            self._job_changed(job, "fsops_started")
        return job

    def latest_job(self, torrent_id: str) -> JobRecord | None:
        return self._commit(lambda conn: repository.select_latest_job(conn, torrent_id))

    def open_jobs(self) -> list[JobRecord]:
        jobs = self._commit(repository.select_jobs)
        return [j for j in jobs if j.status in (JobStatus.PENDING, JobStatus.MOVING)]

    def update_job(
        self, job_id: int, status: JobStatus, stage: str, **changes: Any
    ) -> JobRecord:
        """One job transition and its history row, committed before it answers.

        `changes` are repository.update_job's keywords (outcome, message, error,
        policy, plan, note, next_retry_at, dst_path, new_attempt).
        """
        job: JobRecord = self._commit(
            lambda conn: repository.update_job(conn, job_id, status, stage, **changes)
        )
        self._job_changed(job, outcome=changes.get("outcome"))
        return job

    def finish_job_moved(
        self,
        job_id: int,
        info_hash: str,
        save_path: str,
        library_path: str,
        message: str | None = None,
    ) -> JobRecord:
        """Records the job as moved and the torrent's new home in one transaction."""

        def write(conn: psycopg.Connection[Any]) -> JobRecord:
            repository.set_location(conn, info_hash, save_path, library_path)
            return repository.update_job(
                conn,
                job_id,
                JobStatus.MOVED,
                "finalise",
                dst_path=library_path,
                outcome="done",
                message=message,
            )

        job = self._commit(write)
        self._job_changed(job)
        return job

    def _job_changed(
        self, job: JobRecord, kind: str | None = None, outcome: str | None = None
    ) -> None:
        """Tells live clients about a job transition once it is committed, and
        times the stage the job just left."""
        now = time.monotonic()
        previous = self._job_stages.pop(job.id, None)
        if previous is not None and previous[0] != job.stage:
            metrics.FSOPS_STAGE_SECONDS.labels(previous[0]).observe(now - previous[1])
        if job.status not in _JOB_EVENTS:  # a finished job has nothing to time
            if previous is None or previous[0] != job.stage:
                previous = (job.stage, now)
            self._job_stages[job.id] = previous

        self._events.publish(
            kind or _JOB_EVENTS.get(job.status, "fsops_progress"),
            job.torrent_id,
            job_id=job.id,
            status=job.status.value,
            stage=job.stage,
            outcome=outcome,
            error=job.last_error,
        )

    def reopen_job(self, job_id: int) -> JobRecord:
        """A failed job back to pending (JobNotFound, or JobNotRetryable)."""

        def write(conn: psycopg.Connection[Any]) -> JobRecord:
            job = repository.reopen_job(conn, job_id)
            if job is not None:
                return job
            current = repository.select_job(conn, job_id)  # JobNotFound if none
            raise JobNotRetryable(job_id, current.status.value)

        job: JobRecord = self._commit(write)
        self._job_changed(job)
        return job

    def save_resume_batch(self, items: list[tuple[str, bytes]]) -> None:
        def write(conn: psycopg.Connection[Any]) -> None:
            for info_hash, data in items:
                repository.update_resume_data(conn, info_hash, data)

        self._commit(write)

    def depth(self) -> int:
        """Events waiting: ordered writes, transitions, coalesced progress rows,
        and the messages still in the actor's mailbox."""
        return self._pending() + self._inbox()

    def degraded(self) -> bool:
        """True while durability is degraded (the last write could not commit)."""
        return self._degraded

    def peak_depth(self, reset: bool = False) -> int:
        """The most events waiting at once since the last reset (benchmarks/)."""
        peak = max(self._depth_peak, self._pending() + self._inbox())
        if reset:
            self._depth_peak = 0
        return peak

    def _pending(self) -> int:
        return self._outbox.pending()

    def _update_depth(self) -> None:
        depth = self._pending() + self._inbox()
        self._depth_peak = max(self._depth_peak, depth)
        metrics.OUTBOX_DEPTH.set(depth)

    def _inbox(self) -> int:
        """Messages told but not handled yet (engine events waiting their turn)."""
        inbox = self.actor_inbox
        return inbox.qsize() if isinstance(inbox, queue.Queue) else 0

    def written(self) -> int:
        return self.rows_written

    def cpu_seconds(self) -> float:
        """CPU time of the actor's own thread so far (for benchmarks/)."""
        return time.thread_time()

    # Events: ordered, never dropped; progress coalesced.

    def record_state(
        self, info_hash: str, state: TorrentState, message: str | None
    ) -> None:
        self._outbox.record_state(info_hash, state, message)
        self._update_depth()

    def record_progress(self, status: TorrentStatus) -> None:
        self._outbox.record_progress(status)
        self._update_depth()

    def record_metadata(
        self,
        info_hash: str,
        name: str,
        metainfo: bytes,
        files: tuple[FileEntry, ...],
        total_size: int,
    ) -> None:
        self._enqueue(
            info_hash,
            "metadata",
            lambda conn: repository.update_metadata(
                conn, info_hash, name, metainfo, files, total_size
            ),
        )

    def record_settings(self, record: TorrentRecord) -> None:
        """What the engine itself decided for a torrent (a pause on a storage
        error), written like any engine event: it is no user's command, so
        an outage must not stop it happening."""

        def write(conn: psycopg.Connection[Any]) -> None:
            # A torrent removed since has no row left to set.
            repository.update_settings(conn, record)

        self._enqueue(record.info_hash, "settings", write)

    def record_resume_data(self, info_hash: str, data: bytes) -> None:
        self._enqueue(
            info_hash,
            "resume_data",
            lambda conn: repository.update_resume_data(conn, info_hash, data),
        )

    def record_location(
        self, info_hash: str, save_path: str, library_path: str | None
    ) -> None:
        self._enqueue(
            info_hash,
            "location",
            lambda conn: repository.set_location(
                conn, info_hash, save_path, library_path
            ),
        )

    def begin_move(self, info_hash: str, move_to: str) -> None:
        """Commits where a user move is going before it is acknowledged, so
        that boot finishes a move a crash interrupted."""
        if not self._commit(
            lambda conn: repository.begin_move(conn, info_hash, move_to)
        ):
            raise TorrentNotFound(info_hash)

    def record_moved(self, info_hash: str, save_path: str) -> None:
        """A user move landed: the new place, and the move no longer pending."""
        self._enqueue(
            info_hash,
            "location",
            lambda conn: repository.finish_move(conn, info_hash, save_path),
        )

    def record_move_dropped(self, info_hash: str, move_to: str) -> None:
        self._enqueue(
            info_hash,
            "move_dropped",
            lambda conn: repository.drop_move(conn, info_hash, move_to),
        )

    def record_completed(self, info_hash: str, at: datetime) -> None:
        # The first completion time is the one that counts.
        self._enqueue(
            info_hash,
            "completed",
            lambda conn: repository.mark_completed(conn, info_hash, at),
            keep_first=True,
        )

    def _enqueue(
        self, info_hash: str, kind: str, write: Write, *, keep_first: bool = False
    ) -> None:
        self._outbox.enqueue(info_hash, kind, write, keep_first=keep_first)
        self._update_depth()

    def flush(self, probe: bool = False) -> int:
        """Writes the outbox and coalesced progress; returns what is still pending.

        While degraded, a timed flush only tries again once the backoff is
        over; `probe` (a command) tries at once, with the short timeout.
        """
        self._flush_told.clear()
        if self._degraded and not probe and time.monotonic() < self._next_probe:
            self._update_depth()
            return self._pending()
        if not self._pending():
            if self._degraded:
                self._probe()
            return 0

        writes = list(self._outbox.writes.values())
        transitions = [
            (info_hash, *t)
            for info_hash, pending in self._outbox.transitions.items()
            for t in pending
        ]
        progress = list(self._outbox.progress.values())
        count = len(writes) + len(transitions) + len(progress)
        started = time.monotonic()
        try:
            with self._connection() as conn, conn.transaction():
                for write in writes:
                    write(conn)
                repository.record_transitions(conn, transitions)
                if progress:
                    repository.update_progress(conn, progress)
        except _DB_ERRORS as exc:
            self._mark_degraded(exc)
            return self._pending()
        except psycopg.Error as exc:
            if not _row_error(exc):
                self._mark_degraded(exc)
                return self._pending()
            # A write the database refuses for its data must not block every
            # write behind it: replay them one by one and drop only the bad one.
            return self._replay_one_by_one(exc)

        self._outbox.writes.clear()
        self._outbox.transitions.clear()
        self._outbox.transition_count = 0
        self._outbox.progress.clear()
        self._outbox.report_dropped_transitions()
        self.rows_written += count
        self._mark_healthy()
        metrics.BATCH_SIZE.observe(count)
        metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
        self._update_depth()
        log.debug(
            "persistence batch committed writes=%d transitions=%d progress=%d ms=%.1f",
            len(writes),
            len(transitions),
            len(progress),
            (time.monotonic() - started) * 1000,
        )
        return 0

    def _replay_one_by_one(self, cause: psycopg.Error) -> int:
        """Writes each pending event in its own transaction, dropping only the
        ones the database refuses for their own data.

        Returns what is still pending. A database that refuses every one of
        several writes is refusing writes, not rows: nothing is dropped and
        durability counts as degraded until a later flush gets through.
        """
        log.warning("persistence batch refused; replaying one by one cause=%s", cause)
        single: list[tuple[Callable[[], object], Write]] = []
        for key, write in self._outbox.writes.items():
            single.append((partial(self._outbox.writes.pop, key), write))
        for info_hash, pending in self._outbox.transitions.items():
            rows = [(info_hash, *t) for t in pending]
            single.append(
                (
                    partial(self._outbox.drop_transitions, info_hash),
                    partial(repository.record_transitions, transitions=rows),
                )
            )
        for info_hash, row in self._outbox.progress.items():
            single.append(
                (partial(self._outbox.progress.pop, info_hash), _progress_write(row))
            )

        refused: list[tuple[Callable[[], object], psycopg.Error]] = []
        written = 0
        for done, write in single:
            try:
                with self._connection() as conn, conn.transaction():
                    write(conn)
            except _DB_ERRORS as exc:
                self._mark_degraded(exc)
                return self._pending()
            except psycopg.Error as exc:
                if not _row_error(exc):
                    self._mark_degraded(exc)
                    return self._pending()
                refused.append((done, exc))  # dropped below, unless all are
                continue
            done()
            written += 1

        if written == 0 and len(single) > 1:
            self._mark_degraded(cause)
            return self._pending()
        for done, error in refused:
            done()
            log.error(
                "persistence write dropped: the database refused it cause=%s", error
            )
        self.rows_written += written
        self._outbox.report_dropped_transitions()
        self._mark_healthy()
        self._update_depth()
        return self._pending()

    def _probe(self) -> None:
        """With nothing to write, asks whether the database would take a write,
        so that an idle daemon notices the end of an outage too."""
        try:
            with self._connection() as conn:
                writable = repository.database_writable(conn)
        except (*_DB_ERRORS, psycopg.Error) as exc:
            self._mark_degraded(exc)
            return
        if writable:
            self._mark_healthy()
        else:
            self._mark_degraded(RuntimeError("the database is read-only"))

    def _connection(self) -> Any:
        """A pooled connection; while degraded, asked for with a short timeout
        so that a probe does not hold the actor for the pool's full timeout."""
        if self._degraded:
            return self._pool.connection(timeout=PROBE_TIMEOUT)
        return self._pool.connection()

    def _commit(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Runs a command after everything told before it, in one transaction.

        Flushing the outbox first keeps each torrent's writes in the order the
        events happened, even when a command follows a burst of events.
        """
        if self.flush(probe=True) or self._degraded:
            raise DatabaseUnavailable("the database is unreachable; try again later")
        started = time.monotonic()
        try:
            with self._connection() as conn, conn.transaction():
                result = work(conn)
        except _DB_ERRORS as exc:
            self._mark_degraded(exc)
            raise DatabaseUnavailable(
                "the database is unreachable; try again later"
            ) from exc
        except psycopg.Error as exc:
            if _row_error(exc):
                raise
            # Read-only, no privilege, no table: nothing a retry of this
            # command alone would fix, and nothing the caller did wrong.
            self._mark_degraded(exc)
            raise DatabaseUnavailable(
                "the database refuses writes; try again later"
            ) from exc
        self._mark_healthy()
        metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
        return result

    def _mark_degraded(self, exc: BaseException) -> None:
        metrics.DATABASE_UP.set(0)
        self._update_depth()
        if not self._degraded:
            log.warning("durability degraded: database unreachable cause=%s", exc)
            self._events.publish(
                "health_changed", component="database", status="down", detail=str(exc)
            )
            self._probe_backoff = PROBE_BACKOFF_FIRST
        else:
            self._probe_backoff = min(self._probe_backoff * 2, PROBE_BACKOFF_MAX)
        self._degraded = True
        self._next_probe = time.monotonic() + self._probe_backoff

    def _mark_healthy(self) -> None:
        metrics.DATABASE_UP.set(1)
        recovered = self._degraded
        self._degraded = False
        if recovered:
            log.warning("durability restored: database reachable again")
            self._events.publish("health_changed", component="database", status="ok")
            if self._on_recovery is not None:
                self._on_recovery()


_JOB_EVENTS = {
    JobStatus.MOVED: "fsops_completed",
    JobStatus.SKIPPED: "fsops_completed",
    JobStatus.FAILED: "fsops_failed",
}


def _progress_write(row: dict[str, Any]) -> Write:
    return lambda conn: repository.update_progress(conn, [row])
