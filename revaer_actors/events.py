"""Live events for `/v1/events`: a hub that actors publish to from their own
threads and that server-sent-event clients read on the API's event loop.

Each event gets an id that grows for the life of the data directory's
clock: ids start at the boot time in microseconds, so a client that comes
back after a restart with an old `Last-Event-ID` is still behind every new
event. The hub keeps the last WINDOW events for replay. A client whose queue
fills up is dropped rather than allowed to slow the daemon down.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

KINDS = (
    "torrent_added",
    "files_discovered",
    "progress",
    "state_changed",
    "completed",
    "removed",
    "fsops_started",
    "fsops_progress",
    "fsops_completed",
    "fsops_failed",
    "health_changed",
    "settings_changed",
)
WINDOW = 4096
QUEUE_SIZE = 1024


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    torrent_id: str | None
    data: dict[str, Any]
    at: float

    def as_sse(self) -> bytes:
        payload = {
            "id": self.id,
            "kind": self.kind,
            "torrent_id": self.torrent_id,
            "at": self.at,
            **self.data,
        }
        return (
            f"id: {self.id}\nevent: {self.kind}\ndata: {json.dumps(payload)}\n\n"
        ).encode()


@dataclass(eq=False)
class Subscription:
    """One client's filter and queue; `None` in the queue means: you were dropped."""

    kinds: frozenset[str]
    torrent_id: str | None
    queue: asyncio.Queue[Event | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    dropped: bool = False

    def wants(self, event: Event) -> bool:
        if self.kinds and event.kind not in self.kinds:
            return False
        return self.torrent_id is None or event.torrent_id == self.torrent_id

    def offer(self, event: Event) -> None:
        """Runs on the event loop."""
        if self.dropped or not self.wants(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            self.close()

    def close(self) -> None:
        _drain(self.queue)
        self.queue.put_nowait(None)


class EventHub:
    def __init__(self, window: int = WINDOW) -> None:
        self._ids = itertools.count(time.time_ns() // 1000)
        self._recent: deque[Event] = deque(maxlen=window)
        self._subscribers: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that delivers events to clients (the API's)."""
        self._loop = loop

    def publish(self, kind: str, torrent_id: str | None = None, **data: Any) -> Event:
        """Safe from any thread; never blocks on a client."""
        with self._lock:
            event = Event(next(self._ids), kind, torrent_id, data, time.time())
            self._recent.append(event)
            subscribers = list(self._subscribers)
        loop = self._loop
        if loop is not None and subscribers and not loop.is_closed():
            # The loop may close under us while the daemon shuts down.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_deliver, subscribers, event)
        return event

    def subscribe(
        self,
        kinds: Iterable[str] = (),
        torrent_id: str | None = None,
        last_id: int | None = None,
    ) -> tuple[Subscription, list[Event]]:
        """A new subscription, and the events after `last_id` still held."""
        subscription = Subscription(frozenset(kinds), torrent_id)
        with self._lock:
            self._subscribers.add(subscription)
            missed = (
                [e for e in self._recent if e.id > last_id and subscription.wants(e)]
                if last_id is not None
                else []
            )
        return subscription, missed

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    def close_all(self) -> None:
        """Ends every stream; runs on the event loop at shutdown."""
        with self._lock:
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for subscription in subscribers:
            subscription.close()

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def _deliver(subscribers: list[Subscription], event: Event) -> None:
    for subscription in subscribers:
        subscription.offer(event)


def _drain(queue: asyncio.Queue[Event | None]) -> None:
    while not queue.empty():
        queue.get_nowait()
