"""The last stages: permissions on what was placed, cleanup of what the policy
drops, and the `.revaer.meta` that finalises a payload."""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
from datetime import UTC, datetime
from pathlib import Path

from revaer_actors.domain import TorrentRecord
from revaer_actors.pipeline_model import (
    TEMP_SUFFIX,
    Plan,
    StageFailed,
    describe,
    meta_for,
    meta_owner,
)
from revaer_actors.policy import Policy
from revaer_actors.selection import _match


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
    return meta_for(Path(plan_.payload))


def write_meta(plan_: Plan, record: TorrentRecord, job_id: int, mode: str) -> Path:
    """`.revaer.meta` beside the payload: what was filed, from which torrent."""
    path = meta_path(plan_)
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = meta_owner(path)
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
