"""The transfer stage: each file reaches its destination under a temporary
name, is fsynced and linked into place; and what a failed or interrupted
transfer or move left behind is removed again."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revaer_actors import archives
from revaer_actors.pipeline_model import (
    TEMP_SUFFIX,
    Op,
    Plan,
    StageFailed,
    describe,
    identical,
)
from revaer_actors.pipeline_plan import check_folder_confined


@dataclass
class TransferResult:
    placed: int = 0
    already: int = 0
    copied_bytes: int = 0
    fallback: str | None = None


def transfer(
    plan_: Plan,
    job_id: int,
    mode: str,
    progress: Callable[[int], object] = lambda done: None,
    verify_hash: bool = False,
) -> TransferResult:
    """Places every op that is not seeded; seeded files are libtorrent's to move.

    Every copy is checked for size; with `verify_hash` also for its bytes.
    """
    result = TransferResult()
    staging = plan_.staging(job_id)
    made: set[str] = set()
    for index, op in enumerate(plan_.ops):
        if op.seeded:
            continue
        folder = os.path.dirname(op.dst)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            check_folder_confined(plan_, folder)
            made.add(folder)
        if os.path.lexists(op.dst):
            # The plan found this place free and the pool reserved it, but a
            # file here counts as this job's only when it is the source itself
            # (a hardlink) or the same bytes (a copy an earlier attempt made).
            if not _already_ours(op):
                raise StageFailed(
                    f"destination appeared while filing, left untouched: {op.dst}",
                    permanent=True,
                )
            result.already += 1
            continue
        dst = Path(op.dst)
        if op.archive is not None:
            _place(staging / str(index), _temp_name(dst, job_id), dst)
        elif mode == "copy":
            temp = _temp_name(dst, job_id)
            result.copied_bytes += copy_file(Path(op.src), temp, dst, verify_hash)
        else:
            _link_or_copy(op, _temp_name(dst, job_id), dst, mode, result, verify_hash)
        result.placed += 1
        progress(index + 1)
    return result


def _already_ours(op: Op) -> bool:
    try:
        source, placed = os.stat(op.src), os.lstat(op.dst)
    except OSError:
        return False
    if (source.st_dev, source.st_ino) == (placed.st_dev, placed.st_ino):
        return True
    return identical(op, Path(op.dst))


def _temp_name(dst: Path, job_id: int) -> Path:
    return dst.with_name(f".{dst.name}.{job_id}{TEMP_SUFFIX}")


def _link_or_copy(
    op: Op, temp: Path, dst: Path, mode: str, result: Any, verify_hash: bool
) -> None:
    try:
        # A symlink is never linked as itself: its target would lead elsewhere.
        os.link(op.src, dst, follow_symlinks=True)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        if mode == "hardlink":
            raise StageFailed(
                f"EXDEV: cannot hardlink across filesystems: {op.src} -> {dst}; "
                "use transfer = hardlink_or_copy or copy",
                permanent=True,
            ) from None
        result.fallback = f"hardlink fell back to copy: {describe(exc)}"
    result.copied_bytes += copy_file(Path(op.src), temp, dst, verify_hash)


def copy_file(src: Path, temp: Path, dst: Path, verify_hash: bool = False) -> int:
    """src -> temp (fsynced, size checked) -> dst, never over an existing dst."""
    size = src.stat().st_size
    with src.open("rb") as source:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _copy_bytes(source.fileno(), fd, size)
            os.fsync(fd)
            written = os.fstat(fd).st_size
        except BaseException:
            # A full disk or a read error: no partial copy stays behind.
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
    if written != size:
        temp.unlink(missing_ok=True)
        raise OSError(errno.EIO, f"copy is {written} bytes, source {size}", str(dst))
    if verify_hash and _digest(src) != _digest(temp):
        temp.unlink(missing_ok=True)
        raise OSError(
            errno.EIO, "copy differs from its source (verify = hash)", str(dst)
        )
    _place(temp, temp, dst)
    return size


def _digest(path: Path) -> bytes:
    digest = hashlib.blake2b()
    with path.open("rb") as handle:
        while chunk := handle.read(archives.CHUNK):
            digest.update(chunk)
    return digest.digest()


def _copy_bytes(src: int, dst: int, size: int) -> None:
    done = 0
    try:
        while done < size:
            sent = os.copy_file_range(src, dst, min(size - done, 1 << 30))
            if sent == 0:
                break
            done += sent
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL) or done:
            raise
        while done < size:
            sent = os.sendfile(dst, src, done, min(size - done, 1 << 30))
            if sent == 0:
                break
            done += sent


def _place(source: Path, temp: Path, dst: Path) -> None:
    """Links a finished file into place (fails on an existing dst), then drops
    the temporary name. Both are in the destination's own folder."""
    try:
        os.link(source, dst)
    except FileExistsError:
        raise StageFailed(
            f"destination appeared while filing, left untouched: {dst}",
            permanent=True,
        ) from None
    source.unlink()
    _fsync_dir(dst.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_empty_folders(plan_: Plan) -> None:
    """After a failure: folders the job made and left empty go again."""
    if not plan_.multi:
        return
    for current, _, _ in os.walk(plan_.payload, topdown=False):
        try:
            os.rmdir(current)
        except OSError:
            continue


def remove_partial_moves(plan_: Plan) -> list[str]:
    """Drops what a failed or interrupted libtorrent move wrote at this plan's
    own destinations, while the source is still whole; returns their paths.

    Only the plan's seeded destinations are looked at (the plan found them
    free and the pool reserves them for this job), never the files it skipped
    as identical. A destination whose source is gone is the only copy: kept.
    """
    removed = []
    for op in plan_.ops:
        if not op.seeded:
            continue
        try:
            source = os.lstat(op.src)
            placed = os.lstat(op.dst)
        except FileNotFoundError:
            continue
        if (source.st_dev, source.st_ino) == (placed.st_dev, placed.st_ino):
            continue
        if stat.S_ISDIR(placed.st_mode):
            continue
        if not stat.S_ISLNK(source.st_mode) and source.st_size < op.size:
            continue
        os.unlink(op.dst)
        removed.append(op.dst)
    return removed


def occupied_destinations(plan_: Plan) -> list[str]:
    """The seeded destinations that hold something: libtorrent's to move
    into, so anything there is not this job's until its move has begun."""
    return [op.dst for op in plan_.ops if op.seeded and os.path.lexists(op.dst)]


def remove_temp_files(plan_: Plan, job_id: int) -> int:
    """Drops what an interrupted transfer of this job left under temporary names."""
    removed = 0
    for op in plan_.ops:
        temp = _temp_name(Path(op.dst), job_id)
        if os.path.lexists(temp):
            temp.unlink()
            removed += 1
    return removed
