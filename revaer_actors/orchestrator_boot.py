"""The orchestrator's boot, reconciliation and shutdown: hydrating the catalog,
re-adding every torrent to the engine, and putting right what the last run left
(files missing from disk, moves a crash cut short, torrents libtorrent refuses).

These are methods of `OrchestratorBoot`, which OrchestratorActor inherits: they
run on the actor's thread and work on its catalog and collaborators.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pykka

from revaer_actors.domain import JobRecord, TorrentRecord, TorrentState
from revaer_actors.errors import DatabaseUnavailable, EngineError, InvalidInput
from revaer_actors.folders import Folders
from revaer_actors.fsops import interrupted_move_landed
from revaer_actors.session_params import EngineAdd
from revaer_actors.settings import Settings, apply_patch
from revaer_actors.torrent import TorrentActor

log = logging.getLogger(__name__)

ASK_TIMEOUT = 30.0


class OrchestratorBoot:
    """Boot and shutdown of the orchestrator, mixed into OrchestratorActor, which
    owns every attribute named here."""

    _persistence: Any
    _session: Any
    _fsops: Any
    _folders: Folders
    _file_settings: Settings
    _settings: Settings
    _catalog: dict[str, TorrentRecord]
    _user_moves: dict[str, str]
    _redone_moves: set[str]
    _actors: dict[str, pykka.ActorRef[TorrentActor]]

    def boot(self, after_crash: bool = False) -> int:
        """Hydrates the catalog and re-adds every torrent to the engine.

        After a crash the resume data may be older than the files on disk (a
        download saved at 10 % and killed at 60 %); libtorrent would trust it
        and fetch the difference again, so unfinished torrents are rechecked.
        """
        self._load_settings()
        records = self._persistence.load_catalog().get(timeout=ASK_TIMEOUT)
        # Queued downloads keep their order: libtorrent numbers them as added.
        records.sort(key=lambda r: (r.queue_position < 0, r.queue_position))
        open_jobs = self._persistence.open_jobs().get(timeout=ASK_TIMEOUT)
        jobs = {job.torrent_id: job for job in open_jobs}

        for record in records:
            record = self._reconcile_move(record, jobs.get(record.info_hash))
            self._catalog[record.info_hash] = record
            if not self._add_to_engine(record):
                continue
            if record.move_to is not None:
                self._redo_move(record, record.move_to)
            elif self._payload_missing(record):
                self._recheck_missing(record)
            elif after_crash:
                self._recheck_if_unfinished(record)

        for job in open_jobs:
            if job.torrent_id in self._catalog:
                self._fsops.post_process(self._catalog[job.torrent_id])
        log.info("catalog hydrated torrents=%d open_jobs=%d", len(records), len(jobs))
        return len(records)

    def _load_settings(self) -> None:
        folders = self._persistence.load_folders().get(timeout=ASK_TIMEOUT)
        if folders:
            self._folders.apply(folders)
            log.info("folders from the database %s", self._folders.as_json())
        stored = self._persistence.load_settings().get(timeout=ASK_TIMEOUT)
        if not stored:
            return
        try:
            settings = apply_patch(self._file_settings, stored)
            self._session.apply_settings(settings).get(timeout=ASK_TIMEOUT)
        except (InvalidInput, OverflowError, TypeError, ValueError) as exc:
            # A daemon that cannot start is worse than one on its file's
            # settings: say so and carry on.
            log.warning("stored settings ignored cause=%s", exc)
            self._session.apply_settings(self._file_settings).get(timeout=ASK_TIMEOUT)
            return
        self._settings = settings

    def database_recovered(self) -> None:
        """Completions seen during an outage get their post-processing now.

        FsOps could not open their jobs while the database was down; asking
        again is harmless for torrents whose job exists.
        """
        for record in self._catalog.values():
            if record.completed_at is not None or record.state in (
                TorrentState.SEEDING,
                TorrentState.COMPLETED,
            ):
                self._fsops.post_process(record)

    def _reconcile_move(
        self, record: TorrentRecord, job: JobRecord | None
    ) -> TorrentRecord:
        if job is None:
            return record

        landed = interrupted_move_landed(job)
        if landed is None:
            return record
        log.warning(
            "interrupted move found in library info_hash=%s job_id=%d dst=%s",
            record.info_hash,
            job.id,
            job.dst_path,
        )
        return record.evolve(save_path=str(landed))

    def _add_to_engine(self, record: TorrentRecord) -> bool:
        spec = EngineAdd.from_record(record)
        try:
            note = self._session.add_torrent(spec).get(timeout=ASK_TIMEOUT)
        except EngineError as exc:
            self._mark_failed(record, f"libtorrent refused the torrent: {exc.detail}")
            return False
        if note is not None:
            self._persistence.record_state(record.info_hash, record.state, note)
            self._catalog[record.info_hash] = record.evolve(state_message=note)
        return True

    @staticmethod
    def _payload_missing(record: TorrentRecord) -> bool:
        """A finished torrent with any of its files gone from disk since the
        last run (files the user chose not to download need not exist)."""
        if record.completed_at is None or not record.files:
            return False
        return any(
            not os.path.lexists(Path(record.save_path) / entry.path)
            for entry, level in zip(record.files, record.file_priorities(), strict=True)
            if level > 0
        )

    def _recheck_missing(self, record: TorrentRecord) -> None:
        """Says so in the row, then lets a recheck find what is left.

        libtorrent would otherwise trust its resume data, claim to seed, and
        fail only when a peer asks for a missing piece.
        """
        message = (
            "files missing on disk at boot; rechecked, missing data is fetched again"
        )
        log.warning(
            "torrent files missing at boot info_hash=%s save_path=%s",
            record.info_hash,
            record.save_path,
        )
        self._persistence.record_state(record.info_hash, record.state, message)
        self._catalog[record.info_hash] = record.evolve(state_message=message)
        try:
            self._session.recheck(record.info_hash).get(timeout=ASK_TIMEOUT)
        except EngineError as exc:
            log.warning(
                "recheck failed info_hash=%s cause=%s", record.info_hash, exc.detail
            )

    def _redo_move(self, record: TorrentRecord, move_to: str) -> None:
        """Finishes a user move that was acknowledged but never landed.

        Files already at the destination (moved before the crash) are kept,
        the rest follow them, and the recheck once it lands finds any copy
        cut short; the torrent never goes on downloading in the old folder.
        """
        log.warning(
            "interrupted user move resumed info_hash=%s from=%s to=%s",
            record.info_hash,
            record.save_path,
            move_to,
        )
        try:
            Path(move_to).mkdir(parents=True, exist_ok=True)
            self._user_moves[record.info_hash] = move_to
            self._redone_moves.add(record.info_hash)
            self._session.move_storage(
                record.info_hash, move_to, keep_existing=True
            ).get(timeout=ASK_TIMEOUT)
        except (OSError, EngineError) as exc:
            self._user_moves.pop(record.info_hash, None)
            self._redone_moves.discard(record.info_hash)
            message = f"move failed: {exc}"
            log.warning(
                "interrupted user move failed info_hash=%s cause=%s",
                record.info_hash,
                exc,
            )
            self._persistence.record_move_dropped(record.info_hash, move_to)
            self._persistence.record_state(record.info_hash, record.state, message)
            self._catalog[record.info_hash] = record.evolve(state_message=message)

    def _recheck_if_unfinished(self, record: TorrentRecord) -> None:
        if record.completed_at is not None or not record.files:
            return
        log.info("torrent rechecked after a crash info_hash=%s", record.info_hash)
        try:
            self._session.recheck(record.info_hash).get(timeout=ASK_TIMEOUT)
        except EngineError as exc:
            log.warning(
                "recheck failed info_hash=%s cause=%s", record.info_hash, exc.detail
            )

    def _mark_failed(self, record: TorrentRecord, message: str) -> None:
        log.warning(
            "torrent failed to load info_hash=%s cause=%s", record.info_hash, message
        )
        self._persistence.record_state(record.info_hash, TorrentState.FAILED, message)
        self._catalog[record.info_hash] = record.evolve(
            state=TorrentState.FAILED, state_message=message
        )

    def shutdown(self) -> int:
        """Retires every torrent actor and stores fresh resume data for all."""
        for ref in list(self._actors.values()):
            ref.stop()
        self._actors.clear()

        saved = self._session.save_all_resume_data().get(timeout=ASK_TIMEOUT)
        try:
            self._persistence.save_resume_batch(saved).get(timeout=ASK_TIMEOUT)
        except DatabaseUnavailable:
            # The outbox keeps them for the persistence actor's last flush; if
            # that fails too, the daemon leaves its crash marker so that the
            # next boot rechecks instead of trusting older resume data.
            for info_hash, data in saved:
                self._persistence.record_resume_data(info_hash, data)
            log.warning(
                "resume data left in the outbox at shutdown: database unavailable "
                "torrents=%d",
                len(saved),
            )
            return len(saved)
        log.info("resume data saved at shutdown torrents=%d", len(saved))
        return len(saved)
