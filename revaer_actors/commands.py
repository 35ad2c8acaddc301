"""User commands on one torrent, parsed from `POST /v1/torrents/{id}/action`.

Each command is a frozen value; `apply_to` is the pure part (what the catalog
row becomes), and the torrent actor does the rest (commit, then libtorrent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from revaer_actors.domain import TorrentRecord, TorrentState
from revaer_actors.errors import InvalidInput
from revaer_actors.selection import FileSelection, check_indexes, parse_selection
from revaer_actors.sources import (
    parse_label,
    parse_rate_limit,
    parse_save_path,
    parse_tags,
)


@dataclass(frozen=True)
class Pause:
    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record.evolve(paused=True, state=TorrentState.PAUSED)


@dataclass(frozen=True)
class Resume:
    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        if not record.paused:
            return record
        # QUEUED until libtorrent reports what the torrent is really doing.
        return record.evolve(paused=False, state=TorrentState.QUEUED)


@dataclass(frozen=True)
class Remove:
    delete_data: bool = False


@dataclass(frozen=True)
class Recheck:
    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record


@dataclass(frozen=True)
class Reannounce:
    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record


@dataclass(frozen=True)
class Sequential:
    enable: bool

    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record.evolve(sequential=self.enable)


@dataclass(frozen=True)
class Rate:
    """Limits in bytes per second; None (0 from the user) means unlimited.

    Only the limits the user named change; the other keeps its value.
    """

    changes: tuple[tuple[str, int | None], ...]

    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record.evolve(**dict(self.changes))


@dataclass(frozen=True)
class SetCategory:
    category: str | None

    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record.evolve(category=self.category)


@dataclass(frozen=True)
class SetTags:
    tags: tuple[str, ...]

    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record.evolve(tags=self.tags)


@dataclass(frozen=True)
class SetGoals:
    """The torrent's own seeding goal; None inherits the category's or global."""

    ratio_limit: float | None
    seeding_time_limit: int | None

    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record.evolve(
            ratio_limit=self.ratio_limit, seeding_time_limit=self.seeding_time_limit
        )


@dataclass(frozen=True)
class ForceStart:
    """Start now, outside the queue limits (or go back to the queue)."""

    enable: bool

    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        if not self.enable:
            return record.evolve(force_start=False)
        return record.evolve(force_start=True, paused=False, state=TorrentState.QUEUED)


@dataclass(frozen=True)
class Priority:
    """Moves the torrent in the download queue: top, bottom, up or down."""

    move: str

    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record


@dataclass(frozen=True)
class Move:
    """Moves the payload to another folder (inside downloads or the library).

    The catalog records the new folder once libtorrent reports the files
    there; until then the torrent stays where it was.
    """

    save_path: str

    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        return record


@dataclass(frozen=True)
class Select:
    """Replaces the torrent's file selection rules."""

    selection: FileSelection

    def apply_to(self, record: TorrentRecord) -> TorrentRecord:
        # A magnet's files are unknown until its metadata arrives; its rules
        # are kept as they are, and one for a file it lacks changes nothing.
        if record.files:
            check_indexes(self.selection, [f.index for f in record.files])
        return record.evolve(selection=self.selection)


Command = (
    Select
    | Move
    | ForceStart
    | Priority
    | Pause
    | Resume
    | Recheck
    | Reannounce
    | Sequential
    | Rate
    | SetCategory
    | SetTags
    | SetGoals
)


def parse_action(body: Any) -> Command | Remove:
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object", field="")
    kind = body.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        names = ", ".join(sorted(_PARSERS))
        raise InvalidInput(f"type must be one of: {names}", field="/type")

    fields = {key: value for key, value in body.items() if key != "type"}
    return parser(fields)


def parse_select(body: Any) -> Select:
    """The body of POST /v1/torrents/{id}/select."""
    return Select(parse_selection(body))


def _only(fields: dict[str, Any], *allowed: str) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=f"/{unknown[0]}")


def _simple(command: Command) -> Callable[[dict[str, Any]], Command]:
    def parse(fields: dict[str, Any]) -> Command:
        _only(fields)
        return command

    return parse


def _remove(fields: dict[str, Any]) -> Remove:
    _only(fields, "delete_data")
    return Remove(delete_data=_flag(fields.get("delete_data", False), "/delete_data"))


def _sequential(fields: dict[str, Any]) -> Sequential:
    _only(fields, "enable")
    if "enable" not in fields:
        raise InvalidInput("enable is required", field="/enable")
    return Sequential(enable=_flag(fields["enable"], "/enable"))


def _force_start(fields: dict[str, Any]) -> ForceStart:
    _only(fields, "enable")
    return ForceStart(enable=_flag(fields.get("enable", True), "/enable"))


def _priority(fields: dict[str, Any]) -> Priority:
    _only(fields, "move")
    move = fields.get("move")
    if move not in ("top", "bottom", "up", "down"):
        raise InvalidInput("move must be top, bottom, up or down", field="/move")
    return Priority(move=move)


def _move(fields: dict[str, Any]) -> Move:
    _only(fields, "save_path")
    return Move(save_path=parse_save_path(fields.get("save_path"), "/save_path"))


def _rate(fields: dict[str, Any]) -> Rate:
    _only(fields, "download_limit", "upload_limit")
    if not fields:
        raise InvalidInput("give download_limit, upload_limit or both", field="")
    return Rate(
        tuple(
            (name, parse_rate_limit(value, f"/{name}"))
            for name, value in fields.items()
        )
    )


def _category(fields: dict[str, Any]) -> SetCategory:
    _only(fields, "category")
    value = fields.get("category")
    return SetCategory(None if value is None else parse_label(value, "/category"))


def _tags(fields: dict[str, Any]) -> SetTags:
    _only(fields, "tags")
    return SetTags(parse_tags(fields.get("tags", [])))


def _flag(value: Any, pointer: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("must be true or false", field=pointer)
    return value


_PARSERS: dict[str, Callable[[dict[str, Any]], Command | Remove]] = {
    "pause": _simple(Pause()),
    "resume": _simple(Resume()),
    "recheck": _simple(Recheck()),
    "reannounce": _simple(Reannounce()),
    "remove": _remove,
    "sequential": _sequential,
    "rate": _rate,
    "category": _category,
    "tags": _tags,
    "force_start": _force_start,
    "priority": _priority,
    "move": _move,
}
