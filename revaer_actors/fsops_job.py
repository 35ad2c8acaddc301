"""One FsOps job as the actor runs it, and the plain functions on jobs: where a
job resumes, its stored policy, how a failed move is worded, and where a move
cut short by a crash landed (read at boot).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revaer_actors import pipeline
from revaer_actors.domain import JobRecord, JobStatus, TorrentRecord, TransferMode
from revaer_actors.errors import RevaerError
from revaer_actors.pipeline import Plan, StageFailed
from revaer_actors.policy import Policy, parse_changes

log = logging.getLogger(__name__)


@dataclass
class JobRun:
    job: JobRecord
    record: TorrentRecord
    policy: Policy | None = None
    plan: Plan | None = None
    notes: list[str] = field(default_factory=list)
    # Columns a stage sets along with its "done" row (policy, plan, note).
    changes: dict[str, Any] = field(default_factory=dict)
    # The stage a crash or a failure interrupted, when this run resumes one.
    resumed_at: str | None = None
    # This run resumes a job a crash left "moving" (not a retry after backoff).
    crashed: bool = False


def unpack_again(plan: Plan, job_id: int, stage: str) -> bool:
    """A job retried past extract whose unpacked copies went with its failure."""
    if stage != "transfer":
        return False
    staging = plan.staging(job_id)
    return any(
        op.archive is not None
        and not os.path.lexists(op.dst)
        and not (staging / str(index)).exists()
        for index, op in enumerate(plan.ops)
    )


def legacy(job: JobRecord) -> str:
    """Jobs written before the stages existed: 'transfer' or the first stage."""
    return "transfer" if job.dst_path and job.plan else "validate"


def stored_policy(data: dict[str, Any]) -> Policy:
    changes = parse_changes(
        {k: v for k, v in data.items() if v is not None}, "stored policy"
    )
    return Policy(**{**Policy().__dict__, **changes})


def move_error(error: str) -> str:
    """'ENOSPC: libtorrent: ...' when the session named the errno first."""
    named = re.fullmatch(r"(E[A-Z0-9]+): (.*)", error, re.DOTALL)
    if named is None:
        return f"libtorrent: {error}"
    return f"{named[1]}: libtorrent: {named[2]}"


def occupied(run: JobRun, error: str) -> StageFailed:
    """A move libtorrent refused because a destination holds a file."""
    taken = pipeline.occupied_destinations(run.plan) if run.plan else []
    where = taken[0] if taken else move_error(error)
    return StageFailed(
        f"EEXIST: destination appeared while filing, left untouched: {where}",
        permanent=True,
    )


def unexpected(run: JobRun, stage: str, exc: Exception) -> StageFailed:
    """An error no stage expected: logged in full, and the job fails with it
    rather than staying "moving" with the error lost in an actor's future."""
    log.error(
        "fs job stage crashed job_id=%d info_hash=%s stage=%s",
        run.job.id,
        run.record.info_hash,
        stage,
        exc_info=exc,
    )
    return StageFailed(
        f"unexpected error in {stage}: {type(exc).__name__}: {exc}", permanent=True
    )


def not_recorded(job: JobRecord, exc: RevaerError) -> None:
    # The torrent was removed meanwhile, or the database is down: the files
    # moved but the job row could not say so.
    log.warning(
        "fs job not recorded job_id=%d info_hash=%s cause=%s",
        job.id,
        job.torrent_id,
        exc,
    )


def interrupted_move_landed(job: JobRecord) -> Path | None:
    """The folder a move reached before a crash, or None if it did not finish.

    A crash between libtorrent moving the files and the commit that follows
    leaves the payload at the destination and the row pointing at the old
    folder. Boot must re-add such a torrent from the destination, or libtorrent
    would find nothing at the old path and download it all again.
    """
    if job.status is not JobStatus.MOVING or job.dst_path is None:
        return None
    if job.transfer_mode is not TransferMode.MOVE or job.stage != "transfer":
        return None

    if (job.plan or {}).get("storage"):
        # NoSubfolder: the files went into the payload itself, leaving the
        # download folder (the source) behind, empty once the move is done.
        source = job.src_path
        left = any(files for _, _, files in os.walk(source))
        if os.path.lexists(job.dst_path) and not left:
            return Path(job.dst_path)
        return None
    if os.path.lexists(job.dst_path) and not os.path.lexists(job.src_path):
        return Path(job.dst_path).parent
    return None
