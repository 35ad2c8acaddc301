"""The FsOps actor: file each completed download into the library.

A job runs the stages of `pipeline.STAGES` in order. Each stage is committed as
started (the job's `stage` column and a history row) before it touches a file,
and as done before the next one starts, so a crash resumes the job at the stage
it was in. The plan, with every destination, is stored with the job: a resumed
job files the same tree it planned, and a stage run twice leaves the same result.

`transfer = move` keeps libtorrent's move_storage, so the torrent goes on
seeding from the library; the job waits for libtorrent's answer between the
start and the end of its transfer stage.

Several actors run jobs side by side (`FsOpsPool`, in `fsops_pool`, with the
routing and the planned paths they share); a job's run and the plain functions
on jobs are in `fsops_job`. This module is the one callers import.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pykka

from revaer_actors import pipeline
from revaer_actors.domain import JobRecord, JobStatus, TorrentRecord, TransferMode
from revaer_actors.errors import (
    DatabaseUnavailable,
    EngineError,
    InvalidInput,
    JobNotFound,
    RevaerError,
    TorrentNotFound,
)
from revaer_actors.events import EventHub
from revaer_actors.folders import Folders
from revaer_actors.fsops_job import (
    JobRun,
    interrupted_move_landed,
    legacy,
    move_error,
    not_recorded,
    occupied,
    stored_policy,
    unexpected,
    unpack_again,
)
from revaer_actors.fsops_pool import ASK_TIMEOUT, FsOpsPool, Reservations
from revaer_actors.layout import content_root
from revaer_actors.pipeline import STAGES, Plan, PlanInput, StageFailed, describe
from revaer_actors.policy import FsOpsSettings

log = logging.getLogger(__name__)

__all__ = ["FsOpsActor", "FsOpsPool", "Reservations", "interrupted_move_landed"]

PROGRESS_EVENT_INTERVAL = 1.0
WAITING = "waiting for libtorrent"


class FsOpsActor(pykka.ThreadingActor):
    def __init__(
        self,
        persistence: Any,
        session: Any,
        folders: Folders,
        settings: FsOpsSettings | None = None,
        events: EventHub | None = None,
        reservations: Reservations | None = None,
    ) -> None:
        super().__init__()
        self._reservations = reservations or Reservations()
        self._persistence = persistence
        self._session = session
        self._folders = folders
        self._events = events if events is not None else EventHub()
        self._settings = settings or FsOpsSettings()
        self._relocated: Callable[[str, str, str], object] | None = None
        self._running: Callable[[str, bool], object] | None = None
        # Jobs waiting for libtorrent to finish a move, by info hash.
        self._moves: dict[str, JobRun] = {}
        self._records: dict[str, TorrentRecord] = {}
        self._timers: dict[str, threading.Timer] = {}
        # The job each torrent last ran, whose reservation goes with it.
        self._job_ids: dict[str, int] = {}

    def on_start(self) -> None:
        self._me = self.actor_ref.proxy()

    def on_stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()

    def subscribe(
        self,
        relocated: Callable[[str, str, str], object],
        running: Callable[[str, bool], object] | None = None,
    ) -> None:
        """Who to tell when a payload has a new home, and when a job runs."""
        self._relocated = relocated
        self._running = running

    # Messages.

    def probe(self) -> dict[str, Any]:
        """A cheap answer for /health/full: proves the actor is serving. Sent to
        every worker directly, not routed by the pool: not counted."""
        return {"waiting_for_engine_moves": len(self._moves)}

    # The pool counts each message it routes to this actor; every one of them
    # tells the pool when it is handled, whatever happened (`_handled`).

    def post_process(self, record: TorrentRecord) -> None:
        """Files a completed torrent; told, so failures are logged here."""
        try:
            self._file(record)
        finally:
            self._handled(record.info_hash)

    def retry_due(self, info_hash: str) -> None:
        # Sent by this actor's own timer, not routed by the pool: not counted.
        try:
            self._timers.pop(info_hash, None)
            record = self._records.get(info_hash)
            if record is not None:
                self._file(record)
        finally:
            self._handled(info_hash, counted=False)

    def storage_moved(self, info_hash: str, path: str) -> None:
        try:
            self._storage_moved(info_hash)
        finally:
            self._handled(info_hash)

    def storage_move_failed(self, info_hash: str, error: str) -> None:
        try:
            self._storage_move_failed(info_hash, error)
        finally:
            self._handled(info_hash)

    def forget(self, info_hash: str) -> None:
        """The torrent was removed: its job went with it. Every actor of the
        pool is told (not counted), as any of them may have run its job."""
        self._moves.pop(info_hash, None)
        self._records.pop(info_hash, None)
        job_id = self._job_ids.pop(info_hash, None)
        if job_id is not None:
            self._reservations.release(job_id)
        timer = self._timers.pop(info_hash, None)
        if timer is not None:
            timer.cancel()
        self._handled(info_hash, counted=False)

    def _handled(self, info_hash: str, counted: bool = True) -> None:
        kept = info_hash in self._moves or info_hash in self._timers
        if not kept:
            # Nothing waits for a timer: the next run may be another actor's.
            self._records.pop(info_hash, None)
        self._reservations.handled(info_hash, kept, counted)

    def _file(self, record: TorrentRecord) -> None:
        self._records[record.info_hash] = record
        try:
            self._post_process(record)
        except RevaerError as exc:
            # The database is down: the orchestrator asks again once it is back.
            self._set_running(record.info_hash, False)
            log.warning("fs job deferred info_hash=%s cause=%s", record.info_hash, exc)

    def _storage_moved(self, info_hash: str) -> None:
        run = self._moves.pop(info_hash, None)
        if run is None:
            return
        try:
            self._after_move(run)
        except RevaerError as exc:
            not_recorded(run.job, exc)

    def _storage_move_failed(self, info_hash: str, error: str) -> None:
        run = self._moves.pop(info_hash, None)
        if run is None:
            return
        try:
            if error.startswith("EEXIST:"):
                # libtorrent found a file at a destination before it moved
                # anything: whatever is there is somebody else's.
                self._failure(run, "transfer", occupied(run, error))
                return
            if run.plan is not None:
                # libtorrent puts back what it moved; its partial copies stay
                # at the destination under their final names unless removed.
                self._drop_partial_moves(run)
                pipeline.remove_empty_folders(run.plan)
            self._failure(run, "transfer", StageFailed(move_error(error)))
        except RevaerError as exc:
            not_recorded(run.job, exc)

    # The job.

    def _post_process(self, record: TorrentRecord) -> None:
        info_hash = record.info_hash
        if info_hash in self._moves:
            return

        job = self._persistence.latest_job(info_hash).get(timeout=ASK_TIMEOUT)
        if job is not None and job.status not in (JobStatus.PENDING, JobStatus.MOVING):
            # Done, or failed: a failed job waits for a retry by hand rather
            # than failing again at every boot and recheck.
            return
        if job is None:
            job = self._open(record)
            if job is None:
                return
        if self._not_due(job, info_hash):
            return
        self._run(JobRun(job, record))

    def _open(self, record: TorrentRecord) -> JobRecord | None:
        try:
            mode = self._settings.policy_for(record.category, dict(record.fsops))
            transfer = TransferMode(mode.transfer)
        except InvalidInput:
            transfer = TransferMode(self._settings.defaults.transfer)
        # The payload as it sits in the download folder: its root folder, its
        # one file, or (NoSubfolder) the download folder itself.
        root = content_root(record)
        src = str(Path(record.save_path) / (record.name if root is None else root))
        job: JobRecord | None = self._persistence.open_job(
            record.info_hash, transfer, src
        ).get(timeout=ASK_TIMEOUT)
        if job is not None:
            log.info("fs job opened job_id=%d info_hash=%s", job.id, record.info_hash)
        return job

    def _not_due(self, job: JobRecord, info_hash: str) -> bool:
        """A job waiting out its backoff gets a timer instead of a run."""
        if job.next_retry_at is None:
            return False
        wait = (job.next_retry_at - datetime.now(UTC)).total_seconds()
        if wait <= 0:
            return False
        if info_hash not in self._timers:
            timer = threading.Timer(wait, lambda: self._me.retry_due(info_hash))
            timer.daemon = True
            self._timers[info_hash] = timer
            timer.start()
        return True

    def _run(self, run: JobRun, fresh: bool = True) -> None:
        stage = run.job.stage if run.job.stage in STAGES else legacy(run.job)
        self._job_ids[run.record.info_hash] = run.job.id
        if fresh:
            run.resumed_at = stage if run.job.attempt > 0 else None
            run.crashed = run.job.attempt > 0 and run.job.status is JobStatus.MOVING
        if run.job.policy is not None:
            run.policy = stored_policy(run.job.policy)
        if run.job.plan is not None:
            run.plan = Plan.from_json(run.job.plan)
            self._reservations.hold(run.job.id, run.plan)
        if run.policy is None or (run.plan is None and stage not in STAGES[:2]):
            # Nothing decided yet survives: the job starts over, touching
            # nothing it did not plan.
            stage = "validate"
        elif run.plan is not None and unpack_again(run.plan, run.job.id, stage):
            stage = "extract"
        self._set_running(run.record.info_hash, True)

        for name in STAGES[STAGES.index(stage) :]:
            run.job = self._transition(
                run.job, JobStatus.MOVING, name, "started", new_attempt=fresh
            )
            fresh = False
            try:
                message = self._stage(name, run)
            except (StageFailed, OSError) as exc:
                self._failure(run, name, exc)
                return
            except (DatabaseUnavailable, TorrentNotFound, JobNotFound):
                # The callers defer or log these: the job row could not change.
                raise
            except Exception as exc:  # noqa: BLE001 - the job must not hang
                self._failure(run, name, unexpected(run, name, exc))
                return
            if message == WAITING or name == "finalise":
                return
            changes, run.changes = run.changes, {}
            run.job = self._transition(
                run.job, JobStatus.MOVING, name, "done", message=message, **changes
            )

    def _stage(self, name: str, run: JobRun) -> str | None:
        return str(_STAGE_STEPS[name](self, run) or "") or None

    def _validate(self, run: JobRun) -> str:
        try:
            run.policy = self._settings.policy_for(
                run.record.category, dict(run.record.fsops)
            )
        except InvalidInput as exc:
            raise StageFailed(exc.detail, permanent=True) from None
        run.changes["policy"] = run.policy.as_json()
        return f"transfer={run.policy.transfer} template={run.policy.template}"

    def _plan(self, run: JobRun) -> str:
        assert run.policy is not None
        if run.plan is None:
            given = PlanInput(
                run.record,
                run.policy,
                self._settings,
                self._folders.library,
                run.job.id,
            )

            def make(reserved: frozenset[str]) -> Plan:
                given.reserved = reserved
                return pipeline.plan(given)

            run.plan = self._reservations.plan(run.job.id, make)
            run.notes += given.notes
            run.changes.update(
                plan=run.plan.as_json(),
                dst_path=run.plan.payload,
                note="; ".join(given.notes) or None,
            )
        plan = run.plan
        return f"files={len(plan.ops)} skipped={len(plan.skipped)} dst={plan.payload}"

    def _extract(self, run: JobRun) -> str | None:
        assert run.policy is not None and run.plan is not None
        if not run.policy.extract:
            return "off"
        written = pipeline.extract(run.plan, run.job.id, self._settings)
        return f"archives={len(run.plan.archives)} bytes={written}"

    def _flatten(self, run: JobRun) -> str:
        assert run.policy is not None and run.plan is not None
        # The plan already put every file at the payload's top level; this
        # stage records what flattening changed.
        if not run.policy.flatten:
            return "off"
        return f"lifted={run.plan.lifted}"

    def _transfer(self, run: JobRun) -> str | None:
        assert run.policy is not None and run.plan is not None
        removed = pipeline.remove_temp_files(run.plan, run.job.id)
        if removed:
            log.info(
                "fs job temporary files removed job_id=%d info_hash=%s count=%d",
                run.job.id,
                run.record.info_hash,
                removed,
            )
        if run.policy.transfer == "move":
            return self._start_move(run)
        result = pipeline.transfer(
            run.plan,
            run.job.id,
            run.policy.transfer,
            progress=self._progress_reporter(run),
            verify_hash=run.policy.verify == "hash",
        )
        if result.fallback is not None:
            run.notes.append(result.fallback)
            run.changes["note"] = result.fallback
        return (
            f"placed={result.placed} already={result.already} "
            f"bytes={result.copied_bytes}"
            + (f" ({result.fallback})" if result.fallback else "")
        )

    def _progress_reporter(self, run: JobRun) -> Callable[[int], object]:
        """fsops_progress events while files are placed, at most one a second."""
        assert run.plan is not None
        total = len(run.plan.ops)
        last = time.monotonic()

        def report(done: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_EVENT_INTERVAL and done < total:
                return
            last = now
            self._events.publish(
                "fsops_progress",
                run.record.info_hash,
                job_id=run.job.id,
                status=run.job.status.value,
                stage="transfer",
                files_done=done,
                files_total=total,
            )

        return report

    def _start_move(self, run: JobRun) -> str:
        assert run.plan is not None
        record = run.record
        parent = run.plan.storage_dir
        if Path(record.save_path).resolve() == parent.resolve():
            pipeline.transfer(run.plan, run.job.id, "move")
            return "already in place"
        parent.mkdir(parents=True, exist_ok=True)
        # libtorrent writes wherever the folders lead: check them once more.
        pipeline.check_folder_confined(run.plan, str(parent))
        pipeline.recheck_confined(run.plan)
        pipeline.check_writable(parent, run.job.id)
        keep_existing = run.plan.keep_existing
        if run.crashed and run.resumed_at == "transfer":
            # A move cut short by a crash left partial copies at this plan's
            # destinations: they go, and what libtorrent finished (its source
            # gone) is kept and used. Nothing is ever moved over a file.
            # TODO(a file filed by hand during the crash): one put at a
            # planned destination before the crash counts as a partial copy.
            self._drop_partial_moves(run)
            keep_existing = keep_existing or any(
                os.path.lexists(op.dst) for op in run.plan.ops if op.seeded
            )
        else:
            # The plan found every destination free and a failed attempt
            # removed its own partial copies: a file there now is somebody
            # else's, and a failed move must not take it for a partial copy.
            taken = pipeline.occupied_destinations(run.plan)
            if taken:
                raise StageFailed(
                    f"destination appeared while filing, left untouched: {taken[0]}",
                    permanent=True,
                )
        self._moves[record.info_hash] = run
        log.info(
            "fs job moving job_id=%d info_hash=%s dst=%s",
            run.job.id,
            record.info_hash,
            run.plan.payload,
        )
        try:
            self._session.move_storage(
                record.info_hash,
                str(parent),
                keep_existing=keep_existing,
            ).get(timeout=ASK_TIMEOUT)
        except EngineError as exc:
            self._moves.pop(record.info_hash, None)
            raise StageFailed(f"libtorrent: {exc.detail}") from None
        return WAITING

    def _drop_partial_moves(self, run: JobRun) -> None:
        assert run.plan is not None
        removed = pipeline.remove_partial_moves(run.plan)
        if removed:
            log.info(
                "fs job partial copies removed job_id=%d info_hash=%s count=%d",
                run.job.id,
                run.record.info_hash,
                len(removed),
            )

    def _after_move(self, run: JobRun) -> None:
        """libtorrent moved the files: the transfer ends, the next stages run."""
        assert run.plan is not None
        try:
            result = pipeline.transfer(run.plan, run.job.id, "move")
        except (StageFailed, OSError) as exc:
            self._failure(run, "transfer", exc)
            return
        except Exception as exc:  # noqa: BLE001 - the job must not hang
            self._failure(run, "transfer", unexpected(run, "transfer", exc))
            return
        self._relocate(run, save_path=str(run.plan.storage_dir))
        run.job = self._transition(
            run.job,
            JobStatus.MOVING,
            "transfer",
            "done",
            message=f"moved by libtorrent; extracted placed={result.placed}",
        )
        self._continue(run, "permissions")

    def _continue(self, run: JobRun, stage: str) -> None:
        run.job = replace(run.job, stage=stage)
        self._run(run, fresh=False)

    def _permissions(self, run: JobRun) -> str:
        assert run.policy is not None and run.plan is not None
        seeded = [op for op in run.plan.ops if op.seeded]
        changed = pipeline.permissions(run.plan, run.policy)
        return f"changed={changed} seeded={len(seeded)}"

    def _cleanup(self, run: JobRun) -> str:
        assert run.policy is not None and run.plan is not None
        dropped, notes = pipeline.cleanup(run.plan, run.job.id, run.policy)
        run.notes += notes
        return f"dropped={dropped}" + (f" ({'; '.join(notes)})" if notes else "")

    def _finalise(self, run: JobRun) -> None:
        assert run.policy is not None and run.plan is not None
        record = run.record
        pipeline.write_meta(run.plan, record, run.job.id, run.policy.transfer)
        save_path = (
            str(run.plan.storage_dir)
            if run.policy.transfer == "move"
            else record.save_path
        )
        job = self._persistence.finish_job_moved(
            run.job.id,
            record.info_hash,
            save_path,
            run.plan.payload,
            "; ".join(run.notes) or None,
        ).get(timeout=ASK_TIMEOUT)
        self._reservations.release(job.id)
        self._announce(job, "moved")
        self._relocate(run, save_path)
        self._set_running(record.info_hash, False)
        log.info(
            "fs job moved job_id=%d info_hash=%s dst=%s",
            job.id,
            record.info_hash,
            run.plan.payload,
        )
        if run.policy.transfer == "move":
            source = Path(job.src_path)
            # A NoSubfolder payload's source is the download folder itself.
            self._remove_empty_folder(source if run.plan.storage else source.parent)
            if run.crashed or run.policy.verify == "hash":
                # A move cut short by a crash was finished from what it left,
                # or the policy asks for hashes: libtorrent checks every piece.
                self._session.recheck(record.info_hash).get(timeout=ASK_TIMEOUT)

    def _relocate(self, run: JobRun, save_path: str) -> None:
        if self._relocated is not None and run.plan is not None:
            self._relocated(run.record.info_hash, save_path, run.plan.payload)

    def _failure(self, run: JobRun, stage: str, exc: Exception) -> None:
        """Retries later with a growing delay, or fails the job for good."""
        if isinstance(exc, OSError):
            message, permanent = describe(exc), False
        else:
            message = str(exc)
            permanent = isinstance(exc, StageFailed) and exc.permanent
        info_hash = run.record.info_hash
        limit = self._settings.retry_limit
        if run.plan is not None and run.policy and run.policy.transfer != "move":
            pipeline.remove_empty_folders(run.plan)
        if permanent or run.job.attempt >= limit:
            if run.plan is not None:
                # A failed job waits for a hand; its unpacked copies would
                # sit in the library meanwhile. A retry unpacks again.
                pipeline.remove_staging(run.plan, run.job.id)
            self._reservations.release(run.job.id)
            run.job = self._transition(
                run.job, JobStatus.FAILED, stage, "failed", error=message
            )
            self._set_running(info_hash, False)
            log.warning(
                "fs job failed job_id=%d info_hash=%s stage=%s attempts=%d cause=%s",
                run.job.id,
                info_hash,
                stage,
                run.job.attempt,
                message,
            )
            return

        delay = self._settings.retry_base_seconds * 2 ** (run.job.attempt - 1)
        due = datetime.now(UTC) + timedelta(seconds=delay)
        run.job = self._transition(
            run.job,
            JobStatus.PENDING,
            stage,
            "retry",
            error=message,
            next_retry_at=due,
        )
        self._set_running(info_hash, False)
        log.warning(
            "fs job retry scheduled job_id=%d info_hash=%s stage=%s attempt=%d "
            "delay=%.1f cause=%s",
            run.job.id,
            info_hash,
            stage,
            run.job.attempt,
            delay,
            message,
        )
        self._not_due(run.job, info_hash)

    def _transition(
        self,
        job: JobRecord,
        status: JobStatus,
        stage: str,
        outcome: str | None,
        **changes: Any,
    ) -> JobRecord:
        """Every change of a job goes through here, committed before it returns.

        A history row is written for each outcome (started, done, retry,
        failed); changes without one only update the job's columns.
        """
        updated: JobRecord = self._persistence.update_job(
            job.id, status, stage, outcome=outcome, **changes
        ).get(timeout=ASK_TIMEOUT)
        self._announce(updated, outcome)
        return updated

    def _announce(self, job: JobRecord, outcome: str | None) -> None:
        # Every job change passes here; the persistence actor publishes the
        # fsops_* events once each transition is committed.
        # TODO(one huge file): progress inside the transfer stage is counted in
        # files placed, so a single large file reports only when it is done;
        # counting bytes would need a callback inside pipeline.copy_file.
        log.debug(
            "fs job transition job_id=%d info_hash=%s status=%s stage=%s outcome=%s",
            job.id,
            job.torrent_id,
            job.status,
            job.stage,
            outcome,
        )

    def _set_running(self, info_hash: str, running: bool) -> None:
        if self._running is not None:
            self._running(info_hash, running)

    def _remove_empty_folder(self, folder: Path) -> None:
        """Drops the torrent's own download folder once the move emptied it."""
        root = self._folders.downloads.resolve()
        if folder.resolve().parent != root:
            return
        # Bottom-up, folders only: a file anywhere keeps its folders in place.
        for current, _, _ in os.walk(folder, topdown=False):
            try:
                os.rmdir(current)
            except OSError:
                continue


_STAGE_STEPS: dict[str, Callable[[FsOpsActor, JobRun], Any]] = {
    "validate": FsOpsActor._validate,
    "plan": FsOpsActor._plan,
    "extract": FsOpsActor._extract,
    "flatten": FsOpsActor._flatten,
    "transfer": FsOpsActor._transfer,
    "permissions": FsOpsActor._permissions,
    "cleanup": FsOpsActor._cleanup,
    "finalise": FsOpsActor._finalise,
}
