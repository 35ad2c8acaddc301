"""The HTTP API (aiohttp): the app, its middlewares and RFC 9457 problems.

The routes live by role in `api_health` (/health, /health/full and the health
watch), `api_torrents`, `api_jobs` (/v1/fs-jobs), `api_events` (/v1/events) and
`api_admin` (settings and keys), and what they share in `api_common`; this
module is the one the daemon imports and wires them into one app.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pykka
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from revaer_actors import metrics, openapi, repository, sources
from revaer_actors.api_admin import (
    get_settings,
    issue_key,
    list_keys,
    patch_settings,
    revoke_key,
)
from revaer_actors.api_common import SERVICES, Services, pool_read
from revaer_actors.api_events import attach_events, close_event_streams, events_stream
from revaer_actors.api_health import (
    health,
    health_full,
    start_health_watch,
    stop_health_watch,
)
from revaer_actors.api_jobs import get_job, list_jobs, retry_job
from revaer_actors.api_torrents import (
    add_torrent,
    get_torrent,
    list_torrents,
    torrent_action,
    torrent_select,
)
from revaer_actors.auth import presented_key
from revaer_actors.domain import JobStatus, TorrentState
from revaer_actors.errors import (
    DatabaseUnavailable,
    EngineError,
    InvalidInput,
    JobNotFound,
    JobNotRetryable,
    LastActiveKey,
    TorrentExists,
    TorrentNotFound,
)
from revaer_actors.qbittorrent import mount as mount_qbittorrent

log = logging.getLogger(__name__)

# Services lives in api_common; the daemon and the tests import it from here.
__all__ = ["Services", "create_app"]

# A base64 .torrent of the largest size we accept, plus the JSON around it.
MAX_BODY_BYTES = sources.MAX_METAINFO_BYTES * 4 // 3 + 64 * 1024

PROBLEM_TYPE = "https://revaer.dev/problems/"

RETRY_AFTER_SECONDS = "5"

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
        counts = await pool_read(services, repository.count_jobs_by_status)
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
    app.on_startup.append(attach_events)
    app.on_startup.append(start_health_watch)
    app.on_shutdown.append(close_event_streams)
    app.on_cleanup.append(stop_health_watch)
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


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())
