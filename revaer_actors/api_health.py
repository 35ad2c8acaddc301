"""/health and /health/full, and the watch that publishes health_changed."""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Awaitable
from typing import Any

import pykka
from aiohttp import web

from revaer_actors import __version__, repository
from revaer_actors.api_common import SERVICES, Services, pool_read
from revaer_actors.domain import JobStatus
from revaer_actors.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


# How often the engine and FsOps are checked for a change worth an event; the
# database reports its own changes as its commits fail and succeed.
HEALTH_WATCH_SECONDS = 1.0

HEALTH_WATCH = web.AppKey("health_watch", asyncio.Task[None])


async def start_health_watch(app: web.Application) -> None:
    app[HEALTH_WATCH] = asyncio.create_task(
        _watch_health(app[SERVICES], HEALTH_WATCH_SECONDS)
    )


async def stop_health_watch(app: web.Application) -> None:
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
            pool_read(services, repository.count_jobs_by_status), HEALTH_DEADLINE
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
