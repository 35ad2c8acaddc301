"""What the API's handlers share: the services they reach, ids, JSON bodies and
reads straight from the pool."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from psycopg_pool import ConnectionPool

from revaer_actors.auth import KeyRing
from revaer_actors.bridge import ActorBridge
from revaer_actors.errors import DatabaseUnavailable, InvalidInput, RevaerError
from revaer_actors.events import EventHub


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


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and over-long integers;
        # RecursionError, nesting deeper than the parser's stack.
        reason = str(exc) if not isinstance(exc, RecursionError) else "nested too deep"
        raise InvalidInput(f"body is not valid JSON: {reason}") from None


async def json_body(request: web.Request) -> Any:
    return parse_json(await request.read())


def is_id(raw: str) -> bool:
    """A number id: ASCII digits only (str.isdigit also takes '²' and '٣')."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


async def pool_read(services: Services, work: Callable[[Any], T]) -> T:
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
