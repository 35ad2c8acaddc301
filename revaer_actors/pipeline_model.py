"""What the FsOps stages share: their names, the plan they follow, the error
they raise, and the checks of what a destination already holds."""

from __future__ import annotations

import errno
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from revaer_actors import archives
from revaer_actors.domain import TorrentRecord
from revaer_actors.policy import FsOpsSettings, Policy

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


def identical(op: Op, existing: Path) -> bool:
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


def meta_for(payload: Path) -> Path:
    return payload.with_name(payload.name + META_NAME)


def meta_owner(meta: Path) -> str | None:
    """The info hash a `.revaer.meta` names; "" when it cannot be read."""
    if not os.path.lexists(meta):
        return None
    try:
        return str(json.loads(meta.read_text()).get("info_hash", ""))
    except (OSError, ValueError, AttributeError):
        return ""
