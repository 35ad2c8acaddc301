"""/v1/events: the server-sent event stream, and the streams' lifecycle."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from revaer_actors import sources
from revaer_actors.api_common import SERVICES, Services, is_id
from revaer_actors.auth import presented_key
from revaer_actors.errors import InvalidInput
from revaer_actors.events import KINDS, Event

log = logging.getLogger(__name__)


async def attach_events(app: web.Application) -> None:
    app[SERVICES].events.attach(asyncio.get_running_loop())


async def close_event_streams(app: web.Application) -> None:
    """At shutdown: a stream stuck writing to a client that stopped reading
    would otherwise hold the exit back for its whole write timeout."""
    services = app[SERVICES]
    services.events.close_all()
    for task in list(services.streams):
        task.cancel()


def end_streams_of_revoked_keys(services: Services) -> None:
    if services.keyring is None:
        return
    for task, key in list(services.streams.items()):
        if not services.keyring.allows(key):
            task.cancel()


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
    if raw_last is not None and not is_id(raw_last):
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
