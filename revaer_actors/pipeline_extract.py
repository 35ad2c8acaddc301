"""The extract stage: archive entries unpacked into the job's staging folder,
from which the transfer stage places them."""

from __future__ import annotations

import shutil
from pathlib import Path

from revaer_actors import archives
from revaer_actors.errors import InvalidInput
from revaer_actors.pipeline_model import Plan, StageFailed
from revaer_actors.policy import FsOpsSettings


def extract(plan_: Plan, job_id: int, settings: FsOpsSettings) -> int:
    """Unpacks the planned entries into this job's staging folder; returns bytes.

    The staging folder holds only copies made from archives that stay where
    they are, so starting it afresh after a crash loses nothing.
    """
    staging = plan_.staging(job_id)
    shutil.rmtree(staging, ignore_errors=True)
    by_archive: dict[int, dict[str, Path]] = {}
    for index, op in enumerate(plan_.ops):
        if op.archive is not None and op.entry is not None:
            by_archive.setdefault(op.archive, {})[op.entry] = staging / str(index)
    if not by_archive:
        return 0

    staging.mkdir(parents=True, exist_ok=True)
    written = 0
    for number, targets in by_archive.items():
        volumes = plan_.archives[number]
        root = Path(plan_.ops[_first_op(plan_, number)].src).parent
        names = tuple(str(Path(v).name) for v in volumes)
        try:
            written += archives.extract(
                root,
                archives.Archive(names),
                targets,
                settings.extract_max_bytes - written,
            )
        except InvalidInput as exc:
            raise StageFailed(exc.detail, permanent=True) from None
    return written


def _first_op(plan_: Plan, number: int) -> int:
    return next(i for i, op in enumerate(plan_.ops) if op.archive == number)


def remove_staging(plan_: Plan, job_id: int) -> None:
    """Drops this job's staging folder: only copies unpacked from archives
    that stay where they are, so nothing is lost."""
    shutil.rmtree(plan_.staging(job_id), ignore_errors=True)
