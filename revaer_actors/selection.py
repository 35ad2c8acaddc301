"""Which files of a torrent to download, and how eagerly.

A selection is a set of rules kept with the torrent (include and exclude globs,
the skip-fluff preset, explicit priorities). The rules are stored rather than
the priorities they produce, because a magnet's file list is only known once
its metadata arrives; they are turned into libtorrent priorities then, at add
time for a .torrent, and again at every boot.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from revaer_actors.errors import InvalidInput

# libtorrent's download priorities.
PRIORITIES = {"skip": 0, "low": 1, "normal": 4, "high": 7}
PRIORITY_NAMES = {value: name for name, value in PRIORITIES.items()}

# What skip_fluff leaves out: samples, proofs, scene clutter and executables.
# Matched case-insensitively against each file's path inside the torrent.
FLUFF_GLOBS = (
    "*sample*",
    "*/proof/*",
    "*proof.jpg",
    "*proof.png",
    "*.nfo",
    "*.txt",
    "*.url",
    "*.lnk",
    "*.exe",
    "*.bat",
    "*.scr",
    "*.sfv",
    "*.md5",
    "*.website",
    "*rarbg*.jpg",
    "*/screens/*",
    "*/screenshots/*",
    "thumbs.db",
    "*/thumbs.db",
    "desktop.ini",
    "*/desktop.ini",
    ".ds_store",
    "*/.ds_store",
)

MAX_RULES = 64


@dataclass(frozen=True)
class PriorityRule:
    priority: str
    glob: str | None = None
    index: int | None = None

    def matches(self, file_index: int, path: str) -> bool:
        if self.index is not None:
            return file_index == self.index
        return self.glob is not None and _match(path, self.glob)


@dataclass(frozen=True)
class FileSelection:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    skip_fluff: bool = False
    rules: tuple[PriorityRule, ...] = ()

    @property
    def is_default(self) -> bool:
        return self == FileSelection()

    def priorities(self, files: Sequence[tuple[int, str]]) -> tuple[int, ...]:
        """libtorrent priorities for (file index, path) pairs, in the same order."""
        return tuple(self._priority(index, path) for index, path in files)

    def _priority(self, index: int, path: str) -> int:
        level = PRIORITIES["normal"]
        if self.include and not any(_match(path, g) for g in self.include):
            level = PRIORITIES["skip"]
        if any(_match(path, g) for g in self.exclude):
            level = PRIORITIES["skip"]
        if self.skip_fluff and is_fluff(path):
            level = PRIORITIES["skip"]
        for rule in self.rules:
            if rule.matches(index, path):
                level = PRIORITIES[rule.priority]
        return level

    def as_json(self) -> dict[str, Any]:
        return {
            "include": list(self.include),
            "exclude": list(self.exclude),
            "skip_fluff": self.skip_fluff,
            "priorities": [
                {k: v for k, v in vars(r).items() if v is not None} for r in self.rules
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileSelection:
        return parse_selection(data) if data else cls()


def is_fluff(path: str) -> bool:
    return any(_match(path, glob) for glob in FLUFF_GLOBS)


def _match(path: str, glob: str) -> bool:
    lowered = path.lower()
    pattern = glob.lower()
    # A glob without a slash also matches the file's own name, so "*.nfo" and
    # "readme.txt" mean what a user expects wherever the file sits.
    name = lowered.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(lowered, pattern) or (
        "/" not in pattern and fnmatch.fnmatchcase(name, pattern)
    )


def parse_selection(body: Any, base: str = "") -> FileSelection:
    """Reads include, exclude, skip_fluff and priorities from a JSON object."""
    if not isinstance(body, dict):
        raise InvalidInput("selection must be a JSON object", field=base)
    unknown = sorted(set(body) - {"include", "exclude", "skip_fluff", "priorities"})
    if unknown:
        raise InvalidInput(
            f"unknown field {unknown[0]!r}", field=f"{base}/{unknown[0]}"
        )

    skip_fluff = body.get("skip_fluff", False)
    if not isinstance(skip_fluff, bool):
        raise InvalidInput(
            "skip_fluff must be true or false", field=f"{base}/skip_fluff"
        )
    return FileSelection(
        include=_globs(body.get("include", []), f"{base}/include"),
        exclude=_globs(body.get("exclude", []), f"{base}/exclude"),
        skip_fluff=skip_fluff,
        rules=_rules(body.get("priorities", []), f"{base}/priorities"),
    )


def _globs(value: Any, pointer: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_RULES:
        raise InvalidInput(
            f"must be a list of at most {MAX_RULES} globs", field=pointer
        )
    for i, glob in enumerate(value):
        if not isinstance(glob, str) or not glob or len(glob) > 256:
            raise InvalidInput(
                "each glob must be a non-empty string of at most 256 characters",
                field=f"{pointer}/{i}",
            )
    return tuple(value)


def _rules(value: Any, pointer: str) -> tuple[PriorityRule, ...]:
    if not isinstance(value, list) or len(value) > MAX_RULES:
        raise InvalidInput(
            f"must be a list of at most {MAX_RULES} rules", field=pointer
        )
    return tuple(_rule(item, f"{pointer}/{i}") for i, item in enumerate(value))


def _rule(item: Any, pointer: str) -> PriorityRule:
    if not isinstance(item, dict) or set(item) - {"glob", "index", "priority"}:
        raise InvalidInput(
            "a rule is {priority, and one of glob or index}", field=pointer
        )
    priority = item.get("priority")
    if priority not in PRIORITIES:
        raise InvalidInput(
            "priority must be one of skip, low, normal, high",
            field=f"{pointer}/priority",
        )
    glob, index = item.get("glob"), item.get("index")
    if (glob is None) == (index is None):
        raise InvalidInput("give exactly one of glob and index", field=pointer)
    if glob is not None:
        _globs([glob], f"{pointer}/glob")
    if index is not None and (
        isinstance(index, bool) or not isinstance(index, int) or index < 0
    ):
        raise InvalidInput(
            "index must be a file number from 0", field=f"{pointer}/index"
        )
    return PriorityRule(priority=priority, glob=glob, index=index)


def check_indexes(selection: FileSelection, indexes: Collection[int]) -> None:
    """Refuses a priority rule for a file the torrent does not have.

    `indexes` are the torrent's file indexes (libtorrent's, so padding files
    leave gaps), known once the metainfo is.
    """
    for position, rule in enumerate(selection.rules):
        if rule.index is not None and rule.index not in indexes:
            raise InvalidInput(
                f"index {rule.index}: the torrent has no file with that index "
                f"(its last is {max(indexes, default=-1)})",
                field=f"/priorities/{position}/index",
            )
