"""The FsOps actor: files a completed download into the library.

This first pipeline has one transfer mode, `move`, done by libtorrent's
move_storage so the torrent keeps seeding from the library. Every transition is
committed before the next step starts: `pending` when the job is opened,
`moving` before the engine is asked to move, `moved` with the destination once
libtorrent reports the files in place, or `failed` with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from revaer_actors.domain import JobRecord, JobStatus, TorrentRecord, TransferMode
from revaer_actors.errors import EngineError, RevaerError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    parent: Path
    payload: Path


def plan_destination(library: Path, record: TorrentRecord) -> Destination:
    """`<library>/<category>/<name>`, or `<library>/<name>` without a category.

    Refuses anything that would land outside the library: categories are
    checked at the API, names by libtorrent, and this is the last line.
    """
    root = library.resolve()
    parent = root / record.category if record.category else root
    payload = parent / record.name
    try:
        folder = parent.resolve()
        landing = payload.resolve().parent
    except (OSError, ValueError) as exc:
        raise RevaerError(f"destination {payload} cannot be resolved: {exc}") from exc
    # The payload must be a direct child of its folder and the folder inside
    # the library: this refuses "..", ".", absolute names and separators alike.
    # resolve() follows symlinks, so a category folder that links out of the
    # library is refused too.
    if (
        record.name in ("", ".", "..")
        or landing != folder
        or not folder.is_relative_to(root)
    ):
        raise RevaerError(f"destination {payload} is outside the library {root}")
    return Destination(parent=parent, payload=payload)


@dataclass
class _Move:
    job: JobRecord
    destination: Destination
    verify: bool = False


class FsOpsActor(pykka.ThreadingActor):
    def __init__(
        self,
        persistence: Any,
        session: Any,
        library: Path,
        downloads: Path,
    ) -> None:
        super().__init__()
        self._persistence = persistence
        self._session = session
        self._library = library
        self._downloads = downloads
        self._relocated: Callable[[str, str, str], object] | None = None
        self._moves: dict[str, _Move] = {}

    def subscribe(self, relocated: Callable[[str, str, str], object]) -> None:
        """Who to tell when a torrent's payload has a new home (the orchestrator)."""
        self._relocated = relocated

    def post_process(self, record: TorrentRecord) -> None:
        """Files a completed torrent; told, so failures are logged here."""
        try:
            self._post_process(record)
        except RevaerError as exc:
            # TODO(outage handling): retry the job when the database is back;
            # today it is picked up again at the next boot or completion.
            log.warning("fs job deferred info_hash=%s cause=%s", record.info_hash, exc)

    def _post_process(self, record: TorrentRecord) -> None:
        info_hash = record.info_hash
        if info_hash in self._moves:
            return

        job = self._persistence.latest_job(info_hash).get(timeout=30)
        if job is not None and job.status not in (JobStatus.PENDING, JobStatus.MOVING):
            # Done, or failed: a failed job waits for a retry by hand rather
            # than failing again at every boot and recheck.
            return
        if job is None:
            src = str(Path(record.save_path) / record.name)
            job = self._persistence.open_job(info_hash, TransferMode.MOVE, src).get(
                timeout=30
            )
            if job is None:
                return
            log.info("fs job opened job_id=%d info_hash=%s", job.id, info_hash)

        self._start_move(job, record)

    def _start_move(self, job: JobRecord, record: TorrentRecord) -> None:
        resuming = job.status is JobStatus.MOVING and job.dst_path is not None
        try:
            if resuming:
                payload = Path(job.dst_path or "")
                destination = Destination(parent=payload.parent, payload=payload)
            else:
                destination = plan_destination(self._library, record)
        except RevaerError as exc:
            self._fail(job, "plan", str(exc))
            return

        already_there = Path(record.save_path).resolve() == destination.parent.resolve()
        if already_there:
            self._finish(job, record.info_hash, destination)
            return
        # A move cut short by a crash left part of the payload at its
        # destination, which the plan checked was free: those files are ours,
        # so the move goes on and replaces them, then the data is rechecked.
        if os.path.lexists(destination.payload) and not resuming:
            self._fail(
                job, "plan", f"destination already exists: {destination.payload}"
            )
            return

        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._fail(job, "plan", f"cannot create {destination.parent}: {exc}")
            return

        job = self._persistence.update_job(
            job.id,
            JobStatus.MOVING,
            "transfer",
            dst_path=str(destination.payload),
            new_attempt=True,
        ).get(timeout=30)
        self._moves[record.info_hash] = _Move(job, destination, verify=resuming)
        log.info(
            "fs job moving job_id=%d info_hash=%s dst=%s",
            job.id,
            record.info_hash,
            destination.payload,
        )
        try:
            self._session.move_storage(
                record.info_hash, str(destination.parent), replace=resuming
            ).get(timeout=30)
        except EngineError as exc:
            self._moves.pop(record.info_hash, None)
            self._fail(job, "transfer", exc.detail)

    def storage_moved(self, info_hash: str, path: str) -> None:
        move = self._moves.pop(info_hash, None)
        if move is None:
            return

        try:
            self._finish(move.job, info_hash, move.destination)
            if move.verify:
                self._session.recheck(info_hash).get(timeout=30)
        except RevaerError as exc:
            _not_recorded(move, exc)

    def storage_move_failed(self, info_hash: str, error: str) -> None:
        move = self._moves.pop(info_hash, None)
        if move is None:
            return

        try:
            self._fail(move.job, "transfer", error)
        except RevaerError as exc:
            _not_recorded(move, exc)

    def forget(self, info_hash: str) -> None:
        """The torrent was removed: a move in flight no longer has a job."""
        self._moves.pop(info_hash, None)

    def _finish(self, job: JobRecord, info_hash: str, destination: Destination) -> None:
        job = self._persistence.finish_job_moved(
            job.id, info_hash, str(destination.parent), str(destination.payload)
        ).get(timeout=30)
        if self._relocated is not None:
            self._relocated(
                info_hash, str(destination.parent), str(destination.payload)
            )
        log.info(
            "fs job moved job_id=%d info_hash=%s dst=%s",
            job.id,
            info_hash,
            destination.payload,
        )
        self._remove_empty_folder(Path(job.src_path).parent)

    def _remove_empty_folder(self, folder: Path) -> None:
        """Drops the torrent's own download folder once the move emptied it."""
        root = self._downloads.resolve()
        if folder.resolve().parent != root:
            return
        # Bottom-up, folders only: a file anywhere keeps its folders in place.
        # A folder that is not empty, or already gone, raises and stays as is.
        for current, _, _ in os.walk(folder, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(current)

    def _fail(self, job: JobRecord, stage: str, error: str) -> None:
        self._persistence.update_job(job.id, JobStatus.FAILED, stage, error=error).get(
            timeout=30
        )
        log.warning(
            "fs job failed job_id=%d info_hash=%s stage=%s cause=%s",
            job.id,
            job.torrent_id,
            stage,
            error,
        )


def _not_recorded(move: _Move, exc: RevaerError) -> None:
    # The torrent was removed meanwhile, or the database is down: the move
    # happened but its job row could not say so.
    log.warning(
        "fs job not recorded job_id=%d info_hash=%s cause=%s",
        move.job.id,
        move.job.torrent_id,
        exc,
    )


def interrupted_move_landed(job: JobRecord) -> Path | None:
    """The folder a move reached before a crash, or None if it did not finish.

    A crash between libtorrent moving the files and the `moved` commit leaves
    the payload at the destination and the row pointing at the old folder.
    Boot must re-add such a torrent from the destination, or libtorrent would
    find nothing at the old path and download it all again.
    """
    if job.status is not JobStatus.MOVING or job.dst_path is None:
        return None

    if os.path.lexists(job.dst_path) and not os.path.lexists(job.src_path):
        return Path(job.dst_path).parent
    return None
