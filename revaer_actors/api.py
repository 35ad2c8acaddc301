"""The HTTP API (aiohttp): status, adding torrents, and RFC 9457 problems."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import platform
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pykka
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import ConnectionPool

from revaer_actors import __version__, listing, metrics, openapi, repository, sources
from revaer_actors.auth import KeyRing, key_hash, new_key, presented_key, public_row
from revaer_actors.bridge import ActorBridge
from revaer_actors.commands import Remove, parse_action, parse_select
from revaer_actors.domain import JobStatus, TorrentState
from revaer_actors.errors import (
    DatabaseUnavailable,
    EngineError,
    InvalidInput,
    JobNotFound,
    JobNotRetryable,
    LastActiveKey,
    RevaerError,
    TorrentExists,
    TorrentNotFound,
)
from revaer_actors.events import KINDS, Event, EventHub
from revaer_actors.fetch import fetch_torrent
from revaer_actors.qbittorrent import mount as mount_qbittorrent

log = logging.getLogger(__name__)

# A base64 .torrent of the largest size we accept, plus the JSON around it.
MAX_BODY_BYTES = sources.MAX_METAINFO_BYTES * 4 // 3 + 64 * 1024
PROBLEM_TYPE = "https://revaer.dev/problems/"
RETRY_AFTER_SECONDS = "5"


@dataclass(frozen=True)
class Services:
    orchestrator: Any
    persistence: Any
    session: Any
    pool: ConnectionPool
    bridge: ActorBridge
    fsops: Any = None
    # None when authentication is turned off (loopback only).
    keyring: KeyRing | None = None
    events: EventHub = field(default_factory=EventHub)
    started_at: float = field(default_factory=time.time)
    config: Any = None
    folders: Any = None
    # The database probe in flight, shared by /health and /health/full.
    probe: dict[str, Any] = field(default_factory=dict)
    # Open event streams and the key each one was opened with.
    streams: dict[asyncio.Task[Any], str | None] = field(default_factory=dict)


T = TypeVar("T")
SERVICES = web.AppKey("services", Services)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    invalid_params: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if invalid_params:
        body["invalid_params"] = invalid_params
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns every expected failure into a Problem+JSON answer."""
    try:
        return await handler(request)
    except InvalidInput as exc:
        params = [{"name": exc.field, "reason": exc.detail}] if exc.field else None
        return problem(
            400, "invalid-input", "Invalid input", exc.detail, invalid_params=params
        )
    except (TorrentNotFound, JobNotFound) as exc:
        return problem(404, "not-found", "Not found", str(exc))
    except JobNotRetryable as exc:
        return problem(409, "job-not-failed", "Job is not failed", str(exc))
    except TorrentExists as exc:
        return problem(409, "already-exists", "Torrent already exists", str(exc))
    except LastActiveKey as exc:
        return problem(409, "last-active-key", "Last active key", str(exc))
    except DatabaseUnavailable as exc:
        return problem(
            503,
            "database-unavailable",
            "Database unavailable",
            str(exc),
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    except EngineError as exc:
        return problem(422, "engine-refused", "libtorrent refused", exc.detail)
    except pykka.Timeout:
        # An actor stuck behind an unreachable database, most often.
        return problem(
            503,
            "busy",
            "Daemon busy",
            "the daemon did not answer in time; try again later",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    except web.HTTPRequestEntityTooLarge:
        return problem(
            413,
            "body-too-large",
            "Request body too large",
            f"the body is larger than {MAX_BODY_BYTES} bytes",
        )
    except web.HTTPNotFound as exc:
        return problem(404, "not-found", "Not found", _not_found_detail(request, exc))
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return problem(
            405,
            "method-not-allowed",
            "Method not allowed",
            f"{request.method} is not allowed on {request.path}; use {allowed}",
            headers={"Allow": ",".join(sorted(exc.allowed_methods))},
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(
            exc.status,
            exc.reason.lower().replace(" ", "-"),
            exc.reason,
            exc.text or exc.reason,
        )
    except Exception:
        # A bug, not a bad request: say so in the same shape as every other
        # failure, and keep the traceback in the log.
        log.exception(
            "request failed unexpectedly method=%s path=%s",
            request.method,
            request.path,
        )
        return problem(
            500,
            "internal-error",
            "Internal server error",
            "the daemon failed to answer this request; its log has the details",
        )


def _not_found_detail(request: web.Request, exc: web.HTTPNotFound) -> str:
    """A handler's own text names what is missing; the router's does not."""
    if exc.text and exc.text != "404: Not Found":
        return exc.text
    return f"no route {request.path}; see /v1/openapi.json for the routes"


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /v1 route needs a key that has not been revoked."""
    keyring = request.app[SERVICES].keyring
    if keyring is None or not request.path.startswith("/v1/"):
        return await handler(request)
    if keyring.allows(presented_key(request.headers)):
        return await handler(request)
    return problem(
        401,
        "unauthorized",
        "Unauthorized",
        "send an API key as `Authorization: Bearer KEY` or `X-Api-Key: KEY`; "
        "the first key is in the data directory's api-key file",
        headers={"WWW-Authenticate": 'Bearer realm="revaer"'},
    )


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    status: int | None = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        # Redirects and anything else aiohttp raises rather than returns.
        status = exc.status
        raise
    except asyncio.CancelledError:
        # The client went away (or the daemon is stopping): no answer to count.
        status = None
        raise
    finally:
        if status is not None:
            _count(request, status)


def _count(request: web.Request, status: int) -> None:
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    metrics.HTTP_REQUESTS.labels(name, str(status)).inc()


async def metrics_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    records = await services.bridge.ask(services.orchestrator.list_torrents())
    counts = Counter(record.state.value for record in records)
    for state in TorrentState:
        metrics.TORRENTS.labels(state.value).set(counts.get(state.value, 0))
    metrics.RATE_BYTES.labels("download").set(sum(r.download_rate for r in records))
    metrics.RATE_BYTES.labels("upload").set(sum(r.upload_rate for r in records))
    metrics.EVENT_SUBSCRIBERS.set(services.events.subscriber_count())
    await _count_jobs(services)
    return web.Response(
        body=generate_latest(metrics.REGISTRY),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


async def _count_jobs(services: Services) -> None:
    """Jobs by status; left as they were while the database is down."""
    try:
        counts = await _read(services, repository.count_jobs_by_status)
    except DatabaseUnavailable:
        return
    for status in JobStatus:
        metrics.FSOPS_JOBS.labels(status.value).set(counts.get(status.value, 0))


def create_app(services: Services) -> web.Application:
    app = web.Application(
        middlewares=[count_requests, problems, authenticate],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SERVICES] = services
    app.on_startup.append(_attach_events)
    app.on_startup.append(_start_health_watch)
    app.on_shutdown.append(_close_event_streams)
    app.on_cleanup.append(_stop_health_watch)
    app.add_routes(
        [
            web.get("/health", health),
            web.get("/health/full", health_full),
            web.get("/metrics", metrics_page),
            web.get("/v1/torrents", list_torrents),
            web.post("/v1/torrents", add_torrent),
            web.get("/v1/torrents/{id}", get_torrent),
            web.post("/v1/torrents/{id}/action", torrent_action),
            web.post("/v1/torrents/{id}/select", torrent_select),
            web.get("/v1/fs-jobs", list_jobs),
            web.get("/v1/fs-jobs/{id}", get_job),
            web.post("/v1/fs-jobs/{id}/retry", retry_job),
            web.get("/v1/settings", get_settings),
            web.patch("/v1/settings", patch_settings),
            web.get("/v1/events", events_stream),
            web.get("/v1/openapi.json", openapi_document),
            web.get("/v1/keys", list_keys),
            web.post("/v1/keys", issue_key),
            web.delete("/v1/keys/{id}", revoke_key),
        ]
    )
    mount_qbittorrent(app, services)
    return app


async def _attach_events(app: web.Application) -> None:
    app[SERVICES].events.attach(asyncio.get_running_loop())


# How often the engine and FsOps are checked for a change worth an event; the
# database reports its own changes as its commits fail and succeed.
HEALTH_WATCH_SECONDS = 1.0
HEALTH_WATCH = web.AppKey("health_watch", asyncio.Task[None])


async def _start_health_watch(app: web.Application) -> None:
    app[HEALTH_WATCH] = asyncio.create_task(
        _watch_health(app[SERVICES], HEALTH_WATCH_SECONDS)
    )


async def _stop_health_watch(app: web.Application) -> None:
    app[HEALTH_WATCH].cancel()


def _actor_states(services: Services) -> dict[str, str]:
    """Whether the engine's and FsOps' actors live (cheap: no message sent)."""
    states: dict[str, str] = {}
    if services.session is not None:
        states["engine"] = "ok" if services.session.actor_ref.is_alive() else "down"
    if services.fsops is not None:
        states["fsops"] = "ok" if services.fsops.actor_ref.is_alive() else "down"
    return states


async def _watch_health(services: Services, interval: float) -> None:
    """Publishes health_changed when the engine or FsOps goes down or back up."""
    last = _actor_states(services)
    while True:
        await asyncio.sleep(interval)
        try:
            now = _actor_states(services)
        except Exception:
            log.exception("health watch failed")
            continue
        for component, status in now.items():
            if last.get(component) != status:
                log.warning("health changed component=%s status=%s", component, status)
                services.events.publish(
                    "health_changed", component=component, status=status
                )
        last = now


async def _close_event_streams(app: web.Application) -> None:
    """At shutdown: a stream stuck writing to a client that stopped reading
    would otherwise hold the exit back for its whole write timeout."""
    services = app[SERVICES]
    services.events.close_all()
    for task in list(services.streams):
        task.cancel()


def _end_streams_of_revoked_keys(services: Services) -> None:
    if services.keyring is None:
        return
    for task, key in list(services.streams.items()):
        if not services.keyring.allows(key):
            task.cancel()


async def health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    components = {
        "database": await _database_health(services),
        "engine": "ok" if services.session.actor_ref.is_alive() else "down",
    }
    failing = [name for name, state in components.items() if state != "ok"]
    body = {
        "status": "degraded" if failing else "ok",
        "components": components,
        "failing": failing,
        "version": __version__,
    }
    return web.json_response(body, status=503 if failing else 200)


HEALTH_PROBE_TIMEOUT = 2.0
# However the database misbehaves, health answers within this.
HEALTH_DEADLINE = 3.0


async def health_full(request: web.Request) -> web.Response:
    """Every component with its latency, the versions, uptime and queues."""
    services = request.app[SERVICES]
    engine, engine_info = await _timed(
        services.bridge.ask(services.session.probe(), timeout=HEALTH_PROBE_TIMEOUT)
    )
    database, db_version = await _timed(_database_probe(services))
    if database["status"] == "ok" and await _durability_degraded(services):
        database = {
            **database,
            "status": "down",
            "error": "durability degraded: the database does not take writes",
        }
    fsops, busy_workers = await _timed(_fsops_probe(services))
    if busy_workers:
        fsops["busy_workers"] = busy_workers
    _, outbox_depth = await _timed(
        services.bridge.ask(services.persistence.depth(), timeout=HEALTH_PROBE_TIMEOUT)
    )
    jobs = await _job_queue_depths(services, database["status"] == "ok")
    components = {"engine": engine, "database": database, "fsops": fsops}
    failing = [name for name, c in components.items() if c["status"] != "ok"]
    body = {
        "status": "degraded" if failing else "ok",
        "failing": failing,
        "components": components,
        "versions": {
            "revaer": __version__,
            "libtorrent": (engine_info or {}).get("version"),
            "postgresql": db_version,
            "python": platform.python_version(),
        },
        "uptime_seconds": round(time.time() - services.started_at, 3),
        "queues": {
            "persistence_outbox": outbox_depth,
            "event_subscribers": services.events.subscriber_count(),
            **jobs,
        },
    }
    return web.json_response(body, status=503 if failing else 200)


async def _fsops_probe(services: Services) -> int:
    """Asks every FsOps worker; returns how many were too busy to answer.

    A worker in the middle of copying a large payload answers only once the
    copy is done, so a late answer means busy, not down; a dead worker fails
    the probe.
    """
    if services.fsops is None:
        return 0
    answers = await asyncio.gather(
        *(
            services.bridge.ask(future, timeout=HEALTH_PROBE_TIMEOUT)
            for future in services.fsops.probe()
        ),
        return_exceptions=True,
    )
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, pykka.Timeout):
            raise answer
    return sum(isinstance(answer, pykka.Timeout) for answer in answers)


async def _job_queue_depths(
    services: Services, database_up: bool
) -> dict[str, int | None]:
    """FsOps jobs waiting and running; None while the database is down."""
    unknown: dict[str, int | None] = {"fsops_pending": None, "fsops_moving": None}
    if not database_up:
        # Its probe already waited out the deadline; do not wait twice.
        return unknown
    try:
        counts = await asyncio.wait_for(
            _read(services, repository.count_jobs_by_status), HEALTH_DEADLINE
        )
    except (DatabaseUnavailable, TimeoutError):
        return unknown
    return {
        "fsops_pending": counts.get(JobStatus.PENDING.value, 0),
        "fsops_moving": counts.get(JobStatus.MOVING.value, 0),
    }


async def _timed(work: Awaitable[Any]) -> tuple[dict[str, Any], Any]:
    started = time.monotonic()
    try:
        value = await work
    except Exception as exc:
        log.debug("health probe failed cause=%s", exc)
        return {"status": "down", "error": str(exc) or type(exc).__name__}, None
    latency = round((time.monotonic() - started) * 1000, 3)
    return {"status": "ok", "latency_ms": latency}, value


def _database_version(services: Services) -> str:
    with services.pool.connection(timeout=HEALTH_PROBE_TIMEOUT) as conn:
        return repository.server_version(conn)


async def _database_health(services: Services) -> str:
    try:
        await _database_probe(services)
        degraded = await _durability_degraded(services)
    except Exception as exc:
        log.debug("health probe failed cause=%s", exc)
        return "down"
    return "down" if degraded else "ok"


async def _durability_degraded(services: Services) -> bool:
    """A server that answers but refuses writes (read-only, no privilege) is
    down for durability: the persistence actor knows. An actor that does not
    answer counts as degraded."""
    try:
        return bool(
            await services.bridge.ask(
                services.persistence.degraded(), timeout=HEALTH_PROBE_TIMEOUT
            )
        )
    except Exception as exc:
        log.debug("persistence degraded flag unavailable cause=%s", exc)
        return True


async def _database_probe(services: Services) -> str:
    """The server's version, asked by one probe at a time.

    A server that stops answering (a hung host, a partition) would hold a
    probe's thread for as long as it hangs; later probes wait for that same
    one, up to a deadline, instead of piling up threads behind it.
    """
    pending = services.probe.get("database")
    if pending is None or pending.done():
        pending = asyncio.ensure_future(
            services.bridge.run(_database_version, services)
        )
        services.probe["database"] = pending
    try:
        return await asyncio.wait_for(asyncio.shield(pending), HEALTH_DEADLINE)
    except TimeoutError:
        raise DatabaseUnavailable("the database does not answer") from None


async def list_torrents(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query = listing.parse_query(request.query)
    records = await services.bridge.ask(services.orchestrator.list_torrents())
    shown, cursor = listing.page(records, query)
    return web.json_response({"items": [r.as_json() for r in shown], "next": cursor})


async def get_torrent(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    info_hash = _torrent_id(request)
    detail = await services.bridge.ask(services.orchestrator.torrent_detail(info_hash))
    return web.json_response(detail)


async def _multipart_body(request: web.Request) -> dict[str, Any]:
    """A .torrent file part (`torrent`), and optionally an `options` JSON part."""
    body: dict[str, Any] = {}
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("nested multipart bodies are not accepted")
        data = await part.read(decode=True)
        if part.name in ("torrent", "metainfo"):
            body["metainfo"] = base64.b64encode(data).decode()
        elif part.name == "options":
            options = _parse_json(bytes(data))
            if not isinstance(options, dict):
                raise InvalidInput("options must be a JSON object", field="/options")
            body.update({k: v for k, v in options.items() if k != "metainfo"})
        else:
            raise InvalidInput(
                f"unknown form part {part.name!r}", field=f"/{part.name}"
            )
    return body


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and over-long integers;
        # RecursionError, nesting deeper than the parser's stack.
        reason = str(exc) if not isinstance(exc, RecursionError) else "nested too deep"
        raise InvalidInput(f"body is not valid JSON: {reason}") from None


async def _json_body(request: web.Request) -> Any:
    return _parse_json(await request.read())


async def torrent_action(request: web.Request) -> web.Response:
    info_hash = _torrent_id(request)
    command = parse_action(await _json_body(request))
    record = await _command(request, info_hash, command)
    if isinstance(command, Remove):
        return web.json_response({"id": info_hash, "removed": True})
    return web.json_response(record.as_json())


async def torrent_select(request: web.Request) -> web.Response:
    info_hash = _torrent_id(request)
    command = parse_select(await _json_body(request))
    record = await _command(request, info_hash, command)
    return web.json_response(record.as_json())


def _is_id(raw: str) -> bool:
    """A number id: ASCII digits only (str.isdigit also takes '²' and '٣')."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def _torrent_id(request: web.Request) -> str:
    info_hash = request.match_info["id"]
    if not sources.is_torrent_id(info_hash):
        raise TorrentNotFound(info_hash)
    return info_hash


async def _command(request: web.Request, info_hash: str, command: Any) -> Any:
    services = request.app[SERVICES]
    return await services.bridge.ask(services.orchestrator.command(info_hash, command))


async def add_torrent(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if request.content_type == "multipart/form-data":
        try:
            body = await _multipart_body(request)
        except (ValueError, AssertionError, HttpProcessingError) as exc:
            # aiohttp's multipart parser: bad boundaries, encodings or headers.
            raise InvalidInput(f"malformed multipart body: {exc}") from None
    else:
        body = await _json_body(request)

    if isinstance(body, dict) and isinstance(body.get("url"), str):
        fetched = await fetch_torrent(body.pop("url"))
        if fetched.magnet is not None:
            body["magnet"] = fetched.magnet
        else:
            body["metainfo"] = base64.b64encode(fetched.metainfo or b"").decode()
    add = await services.bridge.run(sources.parse_add_request, body)
    info_hash = await services.bridge.ask(services.orchestrator.add(add))
    return web.json_response(
        {"id": info_hash},
        status=201,
        headers={"Location": f"/v1/torrents/{info_hash}"},
    )


async def list_jobs(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    status = request.query.get("status")
    if status is not None and status not in JobStatus.__members__.values():
        raise InvalidInput(
            f"status must be one of {', '.join(JobStatus)}", field="status"
        )
    torrent_id = request.query.get("torrent_id")
    if torrent_id is not None and not sources.is_torrent_id(torrent_id):
        raise InvalidInput("torrent_id must be a torrent id", field="torrent_id")

    def read(conn: Any) -> list[dict[str, Any]]:
        jobs = repository.select_jobs_where(conn, status, torrent_id)
        return [job.as_json() for job in jobs]

    items = await _read(services, read)
    return web.json_response({"items": items, "next": None})


async def get_job(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    raw = request.match_info["id"]
    if not _is_id(raw):
        raise JobNotFound(raw)  # type: ignore[arg-type]

    def read(conn: Any) -> dict[str, Any]:
        job = repository.select_job(conn, int(raw))
        return {**job.as_json(), "history": repository.select_job_history(conn, job.id)}

    return web.json_response(await _read(services, read))


async def _read(services: Services, work: Callable[[Any], T]) -> T:
    """A read straight from the pool; reads need no single writer."""

    def run() -> T:
        with services.pool.connection(timeout=5.0) as conn:
            return work(conn)

    try:
        return await services.bridge.run(run)
    except RevaerError:
        raise
    except Exception as exc:
        raise DatabaseUnavailable(
            "the database is unreachable; try again later"
        ) from exc


def _job_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not _is_id(raw):
        raise JobNotFound(-1) from None
    return int(raw)


async def retry_job(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    job_id = _job_id(request)
    job = await services.bridge.ask(services.orchestrator.retry_job(job_id))
    return web.json_response(job.as_json(), status=202)


async def get_settings(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = await services.bridge.ask(services.orchestrator.settings())
    return web.json_response(settings)


async def patch_settings(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await _json_body(request)
    settings = await services.bridge.ask(services.orchestrator.update_settings(body))
    return web.json_response(settings)


async def list_keys(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    rows = await services.bridge.ask(services.persistence.api_keys())
    return web.json_response({"items": [public_row(r) for r in rows], "next": None})


async def issue_key(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await _json_body(request)
    name = body.get("name") if isinstance(body, dict) else None
    if not _printable_name(name):
        raise InvalidInput(
            "name must be printable text of 1 to 100 characters", field="/name"
        )
    assert isinstance(name, str)

    key = new_key()
    row = await services.bridge.ask(
        services.persistence.issue_api_key(name.strip(), key_hash(key))
    )
    await _reload_keys(services)
    return web.json_response({**public_row(row), "key": key}, status=201)


def _printable_name(name: Any) -> bool:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON escapes
        return False
    return name.isprintable()


async def revoke_key(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    raw = request.match_info["id"]
    if not _is_id(raw):
        raise web.HTTPNotFound(text=f"no api key with id {raw}")

    row = await services.bridge.ask(services.persistence.revoke_api_key(int(raw)))
    if row is None:
        raise web.HTTPNotFound(text=f"no api key with id {raw}")
    await _reload_keys(services)
    _end_streams_of_revoked_keys(services)
    return web.json_response(public_row(row))


async def _reload_keys(services: Services) -> None:
    if services.keyring is not None:
        rows = await services.bridge.ask(services.persistence.api_keys())
        services.keyring.load(rows)


SSE_KEEPALIVE_SECONDS = 15.0
# A client that cannot take one event in this long is gone or stuck.
SSE_WRITE_TIMEOUT = 10.0


async def events_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events; `Last-Event-ID` replays what is still held."""
    services = request.app[SERVICES]
    kinds, torrent_id, last_id, keepalive = _event_filters(request)
    subscription, missed = services.events.subscribe(kinds, torrent_id, last_id)
    task = asyncio.current_task()
    assert task is not None
    services.streams[task] = presented_key(request.headers)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await _send(response, b"retry: 2000\n: connected\n\n")
        for held in missed:
            await _send(response, held.as_sse())
        while True:
            try:
                event: Event | None = await asyncio.wait_for(
                    subscription.queue.get(), keepalive
                )
            except TimeoutError:
                await _send(response, b": keep-alive\n\n")
                continue
            if event is None:
                break
            await _send(response, event.as_sse())
    except (ConnectionError, TimeoutError) as exc:
        log.info("event stream closed cause=%s", type(exc).__name__)
    finally:
        services.streams.pop(task, None)
        services.events.unsubscribe(subscription)
        if subscription.dropped:
            log.warning("event stream dropped: client too slow peer=%s", request.remote)
    return response


async def _send(response: web.StreamResponse, data: bytes) -> None:
    await asyncio.wait_for(response.write(data), SSE_WRITE_TIMEOUT)


def _event_filters(
    request: web.Request,
) -> tuple[list[str], str | None, int | None, float]:
    kinds = [k for k in request.query.get("kind", "").split(",") if k]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise InvalidInput(
            f"unknown event kind {unknown[0]!r}; kinds are {', '.join(KINDS)}",
            field="kind",
        )
    torrent_id = request.query.get("torrent")
    if torrent_id is not None:
        torrent_id = torrent_id.lower()
    if torrent_id is not None and not sources.is_torrent_id(torrent_id):
        raise InvalidInput("torrent must be a torrent id", field="torrent")

    raw_last = request.headers.get("Last-Event-ID") or request.query.get(
        "last_event_id"
    )
    if raw_last is not None and not _is_id(raw_last):
        raise InvalidInput("Last-Event-ID must be an event id", field="Last-Event-ID")
    raw_keepalive = request.query.get("keepalive", str(SSE_KEEPALIVE_SECONDS))
    try:
        keepalive = float(raw_keepalive)
    except ValueError:
        keepalive = -1.0
    if not 0.5 <= keepalive <= 300:
        raise InvalidInput(
            "keepalive must be seconds from 0.5 to 300", field="keepalive"
        )
    last_id = int(raw_last) if raw_last is not None else None
    return kinds, torrent_id, last_id, keepalive


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())
