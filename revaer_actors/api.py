"""The HTTP API (aiohttp): status, adding torrents, and RFC 9457 problems."""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import ConnectionPool

from revaer_actors import __version__, metrics, repository, sources
from revaer_actors.bridge import ActorBridge
from revaer_actors.commands import Remove, parse_action, parse_select
from revaer_actors.domain import TorrentState
from revaer_actors.errors import (
    DatabaseUnavailable,
    EngineError,
    InvalidInput,
    JobNotFound,
    JobNotRetryable,
    TorrentExists,
    TorrentNotFound,
)
from revaer_actors.fetch import fetch_torrent

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
    except web.HTTPRequestEntityTooLarge:
        return problem(
            413,
            "body-too-large",
            "Request body too large",
            f"the body is larger than {MAX_BODY_BYTES} bytes",
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


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    metrics.HTTP_REQUESTS.labels(name, str(response.status)).inc()
    return response


async def metrics_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    records = await services.bridge.ask(services.orchestrator.list_torrents())
    counts = Counter(record.state.value for record in records)
    for state in TorrentState:
        metrics.TORRENTS.labels(state.value).set(counts.get(state.value, 0))
    return web.Response(
        body=generate_latest(metrics.REGISTRY),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


def create_app(services: Services) -> web.Application:
    app = web.Application(
        middlewares=[count_requests, problems], client_max_size=MAX_BODY_BYTES
    )
    app[SERVICES] = services
    app.add_routes(
        [
            web.get("/health", health),
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
        ]
    )
    return app


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


async def _database_health(services: Services) -> str:
    def probe() -> None:
        with services.pool.connection(timeout=2.0) as conn:
            repository.ping(conn)

    try:
        await services.bridge.run(probe)
    except Exception as exc:
        log.debug("health probe failed cause=%s", exc)
        return "down"
    return "ok"


async def list_torrents(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    records = await services.bridge.ask(services.orchestrator.list_torrents())
    # TODO(when catalogs reach thousands): cursor pagination with `limit` and
    # `next`; today every torrent comes in one page and `next` is always null.
    items = [r.as_json() for r in records]
    return web.json_response({"items": items, "next": None})


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
        body = await _multipart_body(request)
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

    def read() -> list[dict[str, Any]]:
        with services.pool.connection(timeout=5.0) as conn:
            return [job.as_json() for job in repository.select_jobs(conn)]

    try:
        items = await services.bridge.run(read)
    except Exception as exc:
        raise DatabaseUnavailable(
            "the database is unreachable; try again later"
        ) from exc
    return web.json_response({"items": items, "next": None})


def _job_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise JobNotFound(-1) from None
    return int(raw)


async def get_job(request: web.Request) -> web.Response:
    """One job with its history: every stage's start and end, with outcomes."""
    services = request.app[SERVICES]
    job_id = _job_id(request)

    def read() -> dict[str, Any] | None:
        with services.pool.connection(timeout=5.0) as conn:
            job = repository.select_job(conn, job_id)
            if job is None:
                return None
            return {
                **job.as_json(),
                "history": repository.select_job_history(conn, job_id),
            }

    try:
        body = await services.bridge.run(read)
    except Exception as exc:
        raise DatabaseUnavailable(
            "the database is unreachable; try again later"
        ) from exc
    if body is None:
        raise JobNotFound(job_id)
    return web.json_response(body)


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
