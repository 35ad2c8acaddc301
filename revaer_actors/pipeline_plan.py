"""The plan stage: every destination decided, checked against what is there and
against the library's bounds, before anything is touched."""

from __future__ import annotations

import os
from pathlib import Path

from revaer_actors import archives
from revaer_actors.domain import TorrentRecord
from revaer_actors.errors import InvalidInput
from revaer_actors.layout import content_root, payload_name
from revaer_actors.pipeline_model import (
    TEMP_SUFFIX,
    Op,
    Plan,
    PlanInput,
    StageFailed,
    describe,
    identical,
    meta_for,
    meta_owner,
)
from revaer_actors.policy import Policy, TemplateValues, confine, render
from revaer_actors.selection import is_fluff


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

    meta = meta_for(payload)
    payload_taken = occupied(payload) or occupied(meta)
    if policy.on_conflict == "fail" and payload_taken:
        raise StageFailed(f"destination already exists: {payload}", permanent=True)
    if policy.on_conflict == "rename" and payload_taken:
        payload_free = _free_payload(payload, taken)
        ops = [_rebase(op, payload, payload_free) for op in ops]
        payload = payload_free
    if policy.on_conflict == "skip_identical":
        _check_meta_is_ours(meta_for(payload), info_hash, reserved)
    for op in ops:
        dst = op.dst
        folded = dst.casefold()
        clash = folded in taken or os.path.lexists(dst)
        if clash and policy.on_conflict == "skip_identical":
            if folded not in taken and identical(op, Path(dst)):
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
        meta = meta_for(candidate)
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
    owner = meta_owner(meta)
    if owner is not None and owner != info_hash:
        raise StageFailed(
            f"destination already filed by another torrent ({owner}): {meta}",
            permanent=True,
        )


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
