"""The FsOps stages as plain functions on real files; the actor only sequences
them and records each one.

Nothing here overwrites: a file reaches its destination under a temporary name
in the destination folder, is fsynced, and is then linked into place, which
fails if anything is already there. A stage run twice finds its own finished
files and leaves them, and removes the temporary files of an earlier attempt.
"""

from __future__ import annotations

import errno
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from revaer_actors import archives
from revaer_actors.domain import TorrentRecord
from revaer_actors.errors import InvalidInput
from revaer_actors.layout import content_root, payload_name
from revaer_actors.policy import FsOpsSettings, Policy, TemplateValues, confine, render
from revaer_actors.selection import _match, is_fluff

STAGES = (
    "validate",
    "plan",
    "extract",
    "flatten",
    "transfer",
    "permissions",
    "cleanup",
    "finalise",
)
META_NAME = ".revaer.meta"
STAGING_PREFIX = ".revaer-staging-"
TEMP_SUFFIX = ".revaer-part"


class StageFailed(Exception):
    """A stage could not finish; `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def describe(exc: OSError) -> str:
    """'ENOSPC: No space left on device: /path', as an operator reads it."""
    name = errno.errorcode.get(exc.errno or 0, "error")
    where = f": {exc.filename}" if exc.filename else ""
    return f"{name}: {exc.strerror or exc}{where}"


@dataclass(frozen=True)
class Op:
    """One file to place: from the payload (`entry` None) or from an archive."""

    src: str
    dst: str
    size: int
    archive: int | None = None
    entry: str | None = None
    seeded: bool = False


@dataclass(frozen=True)
class Plan:
    payload: str
    multi: bool
    ops: tuple[Op, ...]
    archives: tuple[tuple[str, ...], ...] = ()
    skipped: tuple[str, ...] = ()
    lifted: int = 0
    keep_existing: bool = False
    # The library root the plan was confined to; "" in plans stored before.
    library: str = ""
    # Where a move takes libtorrent's save_path: "" for the payload's folder;
    # the payload itself for a torrent whose files have no root folder
    # (NoSubfolder), so they land inside it rather than loose beside others.
    storage: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            payload=data["payload"],
            multi=data["multi"],
            ops=tuple(Op(**op) for op in data["ops"]),
            archives=tuple(tuple(a) for a in data["archives"]),
            skipped=tuple(data["skipped"]),
            lifted=data["lifted"],
            keep_existing=data.get("keep_existing", False),
            library=data.get("library", ""),
            storage=data.get("storage", ""),
        )

    @property
    def parent(self) -> Path:
        return Path(self.payload).parent

    @property
    def storage_dir(self) -> Path:
        """The save_path a move gives the torrent."""
        return Path(self.storage) if self.storage else self.parent

    def staging(self, job_id: int) -> Path:
        return self.parent / f"{STAGING_PREFIX}{job_id}"


@dataclass
class PlanInput:
    record: TorrentRecord
    policy: Policy
    settings: FsOpsSettings
    library: Path
    job_id: int
    notes: list[str] = field(default_factory=list)
    # Casefolded paths other jobs of the pool have planned and not finished.
    reserved: frozenset[str] = frozenset()


def plan(given: PlanInput) -> Plan:
    """Decides every destination and checks them all before anything is touched."""
    record, policy = given.record, given.policy
    segments = render(
        policy.template,
        TemplateValues(
            name=payload_name(record),
            category=record.category,
            info_hash=record.info_hash,
            tags=record.tags,
            added=record.added_at,
        ),
    )
    try:
        payload = confine(given.library, segments)
    except InvalidInput as exc:
        raise StageFailed(exc.detail, permanent=True) from None
    # libtorrent moves the files as they are: below the payload's folder sits
    # the torrent's root folder, whose name the template must keep. Files
    # without a root folder are moved into the payload itself.
    loose = content_root(record) == ""
    renamed = payload.name != payload_name(record)
    if policy.transfer == "move" and not loose and renamed:
        raise StageFailed(
            f"template {policy.template!r} renames the payload to {payload.name!r}; "
            "with transfer = move the last part must be {name}",
            permanent=True,
        )

    source_root = Path(record.save_path)
    seeded = policy.transfer == "move"
    files, links = _selected_files(record, source_root, not seeded, given.notes)
    multi = loose or any("/" in f for f in files) or len(files) > 1
    wanted = [f for f in files if not (policy.skip_fluff and is_fluff(f))]
    found = archives.find_archives(wanted) if policy.extract else []
    volumes = {v for a in found for v in a.volumes}

    ops: list[Op] = []
    for path in wanted:
        if not seeded and path in volumes:
            continue
        rel = _inside(path, multi and not loose)
        dst = _destination(payload, rel, multi, policy.flatten)
        src = links.get(path, source_root / path)
        ops.append(Op(str(src), str(dst), files[path], seeded=seeded))
    for index, archive in enumerate(found):
        ops += _archive_ops(given, source_root, archive, index, payload, multi)

    lifted = sum(
        1
        for p in wanted
        if policy.flatten
        and multi
        and "/" in _inside(p, multi and not loose)
        and p not in volumes
    )
    checked, skipped, keep_existing, payload = _check_collisions(
        ops, policy, payload, record.info_hash, given.reserved
    )
    result = Plan(
        payload=str(payload),
        multi=multi,
        ops=tuple(checked),
        archives=tuple(a.volumes for a in found),
        skipped=tuple(skipped),
        lifted=lifted,
        keep_existing=keep_existing,
        library=str(given.library.resolve()),
        storage=str(payload) if loose and seeded else "",
    )
    _check_confined(given.library, result)
    return result


def _selected_files(
    record: TorrentRecord, source_root: Path, follow_links: bool, notes: list[str]
) -> tuple[dict[str, int], dict[str, Path]]:
    """The torrent's downloaded files (not the skipped ones), checked for escapes,
    and, with `follow_links`, the file each symlink of the payload stands for.

    Each folder is resolved once; a file is resolved on its own only when it is
    a symlink, the one way a file can point elsewhere. A copy or a hardlink
    never carries a torrent's symlink into the library, where its relative
    target would lead somewhere else (flatten moves it up): the file it points
    at is filed in its place, and a link to a folder is left out, the folder's
    own files being filed as themselves.
    """
    root = source_root.resolve()
    folders: dict[str, bool] = {}
    files: dict[str, int] = {}
    targets: dict[str, Path] = {}
    for entry, priority in zip(record.files, record.file_priorities(), strict=True):
        if priority == 0:
            continue
        path = source_root / entry.path
        target: Path | None = None
        try:
            folder = str(path.parent)
            if folder not in folders:
                folders[folder] = path.parent.resolve().is_relative_to(root)
            inside = folders[folder]
            if inside and os.path.islink(path):
                target = path.resolve()
                inside = target.is_relative_to(root)
        except (OSError, RuntimeError) as exc:
            raise StageFailed(f"cannot resolve {path}: {exc}", permanent=True) from None
        if not inside or ".." in Path(entry.path).parts:
            raise StageFailed(
                f"torrent file {entry.path!r} points outside its download folder",
                permanent=True,
            )
        if target is not None and follow_links:
            if target.is_dir():
                notes.append(f"not filed (link to a folder): {entry.path}")
                continue
            try:
                size = target.stat().st_size
            except OSError as exc:
                raise StageFailed(
                    f"torrent file {entry.path!r} links to nothing readable: "
                    f"{describe(exc)}",
                    permanent=True,
                ) from None
            targets[entry.path] = target
            files[entry.path] = size
            continue
        files[entry.path] = entry.size
    if not files:
        raise StageFailed("the torrent has no downloaded file to file", permanent=True)
    return files, targets


def _inside(path: str, strip: bool) -> str:
    """A file's path inside the payload: without the torrent's own folder."""
    return path.split("/", 1)[1] if strip and "/" in path else path


def _destination(payload: Path, rel: str, multi: bool, flatten: bool) -> Path:
    if not multi:
        return payload
    return payload / (rel.rsplit("/", 1)[-1] if flatten else rel)


def _archive_ops(
    given: PlanInput,
    source_root: Path,
    archive: archives.Archive,
    index: int,
    payload: Path,
    multi: bool,
) -> list[Op]:
    try:
        entries = archives.list_entries(source_root, archive)
        packed = sum((source_root / v).stat().st_size for v in archive.volumes)
        archives.check_limits(
            archive.first,
            entries,
            packed,
            given.settings.extract_max_bytes,
            given.settings.extract_max_ratio,
        )
    except InvalidInput as exc:
        raise StageFailed(exc.detail, permanent=True) from None

    # Entries land in the archive's own folder inside the payload; a
    # single-file torrent's entries land beside it.
    strip = multi and content_root(given.record) != ""
    folder = _inside(archive.first, strip).rpartition("/")[0] if multi else ""
    base = payload if multi else payload.parent
    ops = []
    for entry in entries:
        if entry.kind != "file":
            if entry.kind != "dir":
                given.notes.append(f"not extracted ({entry.kind}): {entry.path}")
            continue
        if given.policy.skip_fluff and is_fluff(entry.path):
            continue
        rel = entry.path.rsplit("/", 1)[-1] if given.policy.flatten else entry.path
        if folder and not given.policy.flatten:
            rel = f"{folder}/{rel}"
        ops.append(
            Op(
                str(source_root / archive.first),
                str(base / rel),
                entry.size,
                archive=index,
                entry=entry.path,
            )
        )
    return ops


def _check_collisions(
    ops: list[Op],
    policy: Policy,
    payload: Path,
    info_hash: str,
    reserved: frozenset[str] = frozenset(),
) -> tuple[list[Op], list[str], bool, Path]:
    """Applies on_conflict to every destination, before anything is written.

    A path another job of the pool has planned counts as taken even before
    its file exists, and so does the payload's `.revaer.meta`.
    """
    taken: set[str] = set(reserved)
    result: list[Op] = []
    skipped: list[str] = []
    keep_existing = False

    def occupied(path: Path) -> bool:
        return os.path.lexists(path) or path.as_posix().casefold() in reserved

    meta = _meta_for(payload)
    payload_taken = occupied(payload) or occupied(meta)
    if policy.on_conflict == "fail" and payload_taken:
        raise StageFailed(f"destination already exists: {payload}", permanent=True)
    if policy.on_conflict == "rename" and payload_taken:
        payload_free = _free_payload(payload, taken)
        ops = [_rebase(op, payload, payload_free) for op in ops]
        payload = payload_free
    if policy.on_conflict == "skip_identical":
        _check_meta_is_ours(_meta_for(payload), info_hash, reserved)
    for op in ops:
        dst = op.dst
        folded = dst.casefold()
        clash = folded in taken or os.path.lexists(dst)
        if clash and policy.on_conflict == "skip_identical":
            if folded not in taken and _identical(op, Path(dst)):
                skipped.append(dst)
                keep_existing = keep_existing or op.seeded
                continue
            raise StageFailed(
                f"destination already exists and differs: {dst}"
                + (" (another job is filing it)" if folded in reserved else ""),
                permanent=True,
            )
        if clash and policy.on_conflict == "rename":
            dst = str(_free_name(Path(dst), taken))
        elif clash:
            raise StageFailed(f"destination already exists: {dst}", permanent=True)
        taken.add(dst.casefold())
        result.append(Op(op.src, dst, op.size, op.archive, op.entry, op.seeded))
    return result, skipped, keep_existing, payload


def _free_payload(payload: Path, taken: set[str]) -> Path:
    """A free name for the payload whose `.revaer.meta` is free as well."""
    while True:
        candidate = _free_name(payload, taken)
        meta = _meta_for(candidate)
        if not os.path.lexists(meta) and meta.as_posix().casefold() not in taken:
            return candidate
        taken = taken | {candidate.as_posix().casefold()}


def _check_meta_is_ours(meta: Path, info_hash: str, reserved: frozenset[str]) -> None:
    """skip_identical files into a folder that may exist; its `.revaer.meta`
    may be replaced only when it is this torrent's own."""
    if meta.as_posix().casefold() in reserved:
        raise StageFailed(
            f"destination is being filed by another job: {meta}", permanent=True
        )
    owner = _meta_owner(meta)
    if owner is not None and owner != info_hash:
        raise StageFailed(
            f"destination already filed by another torrent ({owner}): {meta}",
            permanent=True,
        )


def _meta_owner(meta: Path) -> str | None:
    """The info hash a `.revaer.meta` names; "" when it cannot be read."""
    if not os.path.lexists(meta):
        return None
    try:
        return str(json.loads(meta.read_text()).get("info_hash", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _rebase(op: Op, old: Path, new: Path) -> Op:
    dst = Path(op.dst)
    moved = new / dst.relative_to(old) if dst != old else new
    return Op(op.src, str(moved), op.size, op.archive, op.entry, op.seeded)


def _free_name(path: Path, taken: set[str]) -> Path:
    stem, suffix = (path.stem, path.suffix) if path.suffix else (path.name, "")
    for n in range(1, 10_000):
        candidate = path.with_name(f"{stem} ({n}){suffix}")
        if candidate.as_posix().casefold() not in taken and not os.path.lexists(
            candidate
        ):
            return candidate
    raise StageFailed(f"no free name left beside {path}", permanent=True)


def _identical(op: Op, existing: Path) -> bool:
    """Same size and same bytes; an archive entry is compared only by size."""
    try:
        if not existing.is_file() or existing.stat().st_size != op.size:
            return False
        if op.archive is not None:
            return True
        return _same_bytes(Path(op.src), existing)
    except OSError:
        return False


def _same_bytes(a: Path, b: Path) -> bool:
    with a.open("rb") as left, b.open("rb") as right:
        while True:
            one, two = left.read(archives.CHUNK), right.read(archives.CHUNK)
            if one != two:
                return False
            if not one:
                return True


def _check_confined(library: Path, result: Plan) -> None:
    root = library.resolve()
    checked: set[str] = set()
    for op in result.ops:
        parent = os.path.dirname(op.dst)
        if parent in checked:
            continue
        checked.add(parent)
        # The parent may not exist yet; its deepest existing ancestor decides.
        probe = Path(parent)
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        # An ancestor of a library not made yet, named as such: nothing of the
        # library exists to link elsewhere. Any folder that exists inside it
        # must resolve inside it, or a symlinked subfolder would lead out.
        if probe != root and root.is_relative_to(probe):
            continue
        if not probe.resolve().is_relative_to(root):
            raise StageFailed(
                f"destination {op.dst} is outside the library {root}", permanent=True
            )


def recheck_confined(plan_: Plan) -> None:
    """The plan's confinement checked again against the disk as it is now."""
    if plan_.library:
        _check_confined(Path(plan_.library), plan_)


def check_folder_confined(plan_: Plan, folder: str) -> None:
    """A destination folder, once made, must still resolve inside the library:
    a folder swapped for a symlink after planning would lead out of it."""
    root = Path(plan_.library or plan_.parent).resolve()
    if not Path(folder).resolve().is_relative_to(root):
        raise StageFailed(
            f"destination folder {folder} resolves outside the library {root}",
            permanent=True,
        )


def check_writable(folder: Path, job_id: int) -> None:
    """OSError (EACCES, EROFS, ...) naming `folder` unless a file can be made
    in it: libtorrent reports a move refused there by the source file it was
    reading (ENOENT), which misleads whoever reads the job's error."""
    probe = folder / f".revaer-probe.{job_id}{TEMP_SUFFIX}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(folder)) from None
    os.close(fd)
    probe.unlink()


# Extract.


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


# Transfer.


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
    return _identical(op, Path(op.dst))


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


def remove_staging(plan_: Plan, job_id: int) -> None:
    """Drops this job's staging folder: only copies unpacked from archives
    that stay where they are, so nothing is lost."""
    shutil.rmtree(plan_.staging(job_id), ignore_errors=True)


def remove_temp_files(plan_: Plan, job_id: int) -> int:
    """Drops what an interrupted transfer of this job left under temporary names."""
    removed = 0
    for op in plan_.ops:
        temp = _temp_name(Path(op.dst), job_id)
        if os.path.lexists(temp):
            temp.unlink()
            removed += 1
    return removed


# Permissions, cleanup, finalise.


def planned_paths(plan_: Plan) -> set[str]:
    """Every path a plan claims, casefolded: what the pool reserves for it."""
    paths = {plan_.payload, str(meta_path(plan_)), *plan_.skipped}
    paths.update(op.dst for op in plan_.ops)
    return {p.casefold() for p in paths}


def placed_paths(plan_: Plan, skipped: bool = False) -> list[Path]:
    paths = [Path(op.dst) for op in plan_.ops]
    return paths + ([Path(p) for p in plan_.skipped] if skipped else [])


def permissions(plan_: Plan, policy: Policy) -> int:
    """chmod and chown what the job placed; returns how many paths changed."""
    file_mode = policy.chmod_file
    dir_mode = policy.chmod_dir
    if policy.umask is not None:
        file_mode = file_mode if file_mode is not None else 0o666 & ~policy.umask
        dir_mode = dir_mode if dir_mode is not None else 0o777 & ~policy.umask
    uid = _uid(policy.owner)
    gid = _gid(policy.group)
    if file_mode is None and dir_mode is None and uid == -1 and gid == -1:
        return 0

    changed = 0
    for path in placed_paths(plan_):
        # A symlink libtorrent moved has no mode of its own on Linux.
        if os.path.lexists(path) and not os.path.islink(path):
            changed += _apply(path, file_mode, uid, gid)
    if dir_mode is not None or uid != -1 or gid != -1:
        for folder in _folders(plan_):
            changed += _apply(folder, dir_mode, uid, gid)
    return changed


def _folders(plan_: Plan) -> list[Path]:
    if not plan_.multi:
        return []
    payload = Path(plan_.payload)
    folders = {payload}
    for path in placed_paths(plan_):
        parent = path.parent
        while parent != payload and parent.is_relative_to(payload):
            folders.add(parent)
            parent = parent.parent
    return sorted(folders)


def _apply(path: Path, mode: int | None, uid: int, gid: int) -> int:
    if mode is not None:
        os.chmod(path, mode, follow_symlinks=False)
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid, follow_symlinks=False)
    return 1


def _uid(owner: str | None) -> int:
    if owner is None:
        return -1
    return int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid


def _gid(group: str | None) -> int:
    if group is None:
        return -1
    return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid


def cleanup(plan_: Plan, job_id: int, policy: Policy) -> tuple[int, list[str]]:
    """Removes the staging folder and the placed files the policy drops.

    Files libtorrent seeds are never dropped. A file that cannot be read
    (lstat fails) is kept: a read error never turns into a deletion.
    """
    notes: list[str] = []
    staging = plan_.staging(job_id)
    if staging.exists():
        shutil.rmtree(
            staging, onerror=lambda *a: notes.append(f"kept unreadable {a[1]}")
        )
    if not policy.cleanup_drop:
        return 0, notes

    dropped = 0
    for op in plan_.ops:
        if op.seeded:
            continue
        rel = _payload_rel(plan_, Path(op.dst))
        if not _dropped(rel, policy):
            continue
        try:
            os.lstat(op.dst)
        except FileNotFoundError:
            continue
        except OSError as exc:
            notes.append(f"kept {op.dst}: {describe(exc)}")
            continue
        os.unlink(op.dst)
        dropped += 1
    return dropped, notes


def _payload_rel(plan_: Plan, path: Path) -> str:
    if not plan_.multi:
        return path.name
    return str(path)[len(plan_.payload) + 1 :]


def _dropped(rel: str, policy: Policy) -> bool:
    """Matches a drop glob and no keep glob: keep always wins."""
    if any(_match(rel, glob) for glob in policy.cleanup_keep):
        return False
    return any(_match(rel, glob) for glob in policy.cleanup_drop)


def meta_path(plan_: Plan) -> Path:
    """`<payload>.revaer.meta` in the payload's folder, outside the payload:
    libtorrent moves a seeded folder file by file, and a file of ours inside it
    would keep the folder behind after a later move."""
    return _meta_for(Path(plan_.payload))


def _meta_for(payload: Path) -> Path:
    return payload.with_name(payload.name + META_NAME)


def write_meta(plan_: Plan, record: TorrentRecord, job_id: int, mode: str) -> Path:
    """`.revaer.meta` beside the payload: what was filed, from which torrent."""
    path = meta_path(plan_)
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = _meta_owner(path)
    if owner is not None and owner != record.info_hash:
        raise StageFailed(
            f"{path} belongs to another torrent ({owner or 'unreadable'}); "
            "left untouched",
            permanent=True,
        )
    body = {
        "info_hash": record.info_hash,
        "name": record.name,
        "category": record.category,
        "tags": list(record.tags),
        "job_id": job_id,
        "transfer": mode,
        "files": [_payload_rel(plan_, p) for p in placed_paths(plan_, skipped=True)],
        "filed_at": datetime.now(UTC).isoformat(),
    }
    temp = path.with_name(path.name + TEMP_SUFFIX)
    with temp.open("w") as handle:
        json.dump(body, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    # This torrent's own file (checked above): replacing the one an
    # interrupted run wrote is intended.
    os.replace(temp, path)
    return path
