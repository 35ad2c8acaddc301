"""What the qBittorrent façade's handlers share: the façade's state, its
error and answer helpers, parameter parsing, and reads of the catalog.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from revaer_actors import repository
from revaer_actors.domain import JobStatus, TorrentRecord
from revaer_actors.errors import TorrentNotFound
from revaer_actors.folders import Folders
from revaer_actors.qbittorrent_view import Context, is_complete
from revaer_actors.settings import Settings, apply_patch

if TYPE_CHECKING:
    # Types only: qbittorrent_auth's middleware imports this module.
    from revaer_actors.qbittorrent_auth import Gatekeeper, Session

log = logging.getLogger(__name__)

PREFIX = "/api/v2"
LOG_LINES = 1000
Params = dict[str, str]
Upload = tuple[str, bytes]
Handler = Callable[[web.Request, Params, list[Upload]], Awaitable[web.StreamResponse]]
Next = Callable[[web.Request], Awaitable[web.StreamResponse]]


class QbtError(Exception):
    """An answer with qBittorrent's status code and a plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def text(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/plain")


def json_body(body: Any) -> web.Response:
    return web.json_response(body)


class LogBuffer(logging.Handler):
    """The daemon's recent log lines, for `log/main`."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=LOG_LINES
        )
        self._ids = itertools.count()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            kind = 8
        elif record.levelno >= logging.WARNING:
            kind = 4
        else:
            kind = 2
        self.lines.append(
            {
                "id": next(self._ids),
                "message": message,
                "timestamp": int(record.created),
                "type": kind,
            }
        )


@dataclass
class Facade:
    services: Any
    data_dir: Path
    folders: Folders
    gate: Gatekeeper
    categories: set[str] = field(default_factory=set)
    logs: LogBuffer = field(default_factory=LogBuffer)
    bearer_sessions: dict[str, Session] = field(default_factory=dict)

    @property
    def downloads(self) -> Path:
        return self.folders.downloads

    @property
    def library(self) -> Path:
        return self.folders.library


FACADE = web.AppKey("qbittorrent", Facade)


def require(params: Params, *names: str) -> None:
    missing = [name for name in names if name not in params]
    if missing:
        raise QbtError(400, "Missing required parameters: " + ", ".join(missing))


def parse_bool(value: str | None) -> bool | None:
    """Qt's parseBool: `true`/`false` in any case; anything else is no answer."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def int_param(params: Params, name: str) -> int | None:
    value = params.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise QbtError(400, f"'{name}' must be a whole number") from None


def float_param(params: Params, name: str) -> float | None:
    value = params.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise QbtError(400, f"'{name}' must be a number") from None


# Reading the catalog.


def facade_of(request: web.Request) -> Facade:
    return request.app[FACADE]


async def read_records(request: web.Request) -> list[TorrentRecord]:
    services = facade_of(request).services
    records: list[TorrentRecord] = await services.bridge.ask(
        services.orchestrator.list_torrents()
    )
    return records


async def read_settings(request: web.Request) -> Settings:
    services = facade_of(request).services
    body = await services.bridge.ask(services.orchestrator.settings())
    shown = {k: v for k, v in body.items() if k not in ("engine", "folders")}
    return apply_patch(Settings(), shown)


async def read_context(request: web.Request, records: list[TorrentRecord]) -> Context:
    return Context(
        settings=await read_settings(request), moving=await _moving(request, records)
    )


async def _moving(request: web.Request, records: list[TorrentRecord]) -> frozenset[str]:
    """Torrents a user move is carrying, and complete torrents that FsOps has
    not filed yet (or is filing now).

    Until its job says `moved` and the catalog shows the library folder, a
    finished download is reported `moving`, so no client imports it from a
    folder that is about to be emptied. A failed job leaves the files where
    they are, complete, so those torrents are reported as they are.
    """
    facade = facade_of(request)
    orchestrator = facade.services.orchestrator
    moving: set[str] = await facade.services.bridge.ask(orchestrator.user_moves())
    candidates = [r for r in records if is_complete(r) and r.library_path is None]
    if not candidates:
        return frozenset(moving)

    def read() -> dict[str, Any]:
        with facade.services.pool.connection(timeout=5.0) as conn:
            return repository.select_latest_jobs(
                conn, [r.info_hash for r in candidates]
            )

    try:
        jobs = await facade.services.bridge.run(read)
    except Exception as exc:
        # Without the jobs we cannot tell; "moving" is the answer that never
        # lets a client import from the wrong place.
        log.warning("fs jobs unreadable for qbittorrent states cause=%s", exc)
        return frozenset(moving | {r.info_hash for r in candidates})

    for record in candidates:
        job = jobs.get(record.info_hash)
        if job is None or job.status in (JobStatus.PENDING, JobStatus.MOVING):
            moving.add(record.info_hash)
        elif job.status is JobStatus.MOVED and (
            # The source's folder, or the source itself for NoSubfolder.
            Path(record.save_path) in (Path(job.src_path).parent, Path(job.src_path))
        ):
            # Moved, but the catalog has not heard yet: still the old folder.
            moving.add(record.info_hash)
    return frozenset(moving)


async def read_record(request: web.Request, params: Params) -> TorrentRecord:
    require(params, "hash")
    info_hash = params["hash"].strip().lower()
    for record in await read_records(request):
        if record.info_hash == info_hash:
            return record
    raise QbtError(404, "Not Found")


def selected_hashes(params: Params, records: list[TorrentRecord]) -> list[str]:
    """`hashes`: `|`-separated, or `all`; unknown hashes are skipped."""
    require(params, "hashes")
    wanted = [h.strip().lower() for h in params["hashes"].split("|") if h.strip()]
    known = [r.info_hash for r in records]
    if wanted == ["all"]:
        return known
    present = set(known)
    return [h for h in dict.fromkeys(wanted) if h in present]


async def known_categories(request: web.Request) -> set[str]:
    facade = facade_of(request)
    records = await read_records(request)
    settings = await read_settings(request)
    names = set(facade.categories) | set(settings.categories)
    names |= {r.category for r in records if r.category}
    return names


async def send_command(request: web.Request, info_hash: str, command: Any) -> None:
    services = facade_of(request).services
    # Removed meanwhile: qBittorrent skips hashes it does not know.
    with contextlib.suppress(TorrentNotFound):
        await services.bridge.ask(services.orchestrator.command(info_hash, command))


async def for_each(request: web.Request, params: Params, command: Any) -> web.Response:
    for info_hash in selected_hashes(params, await read_records(request)):
        await send_command(request, info_hash, command)
    return text("")
