"""The persistence actor's outbox: engine events waiting for the next flush.

A plain class the actor owns and flushes; it holds no connection and no thread.
It is bounded per torrent, however long an outage lasts: one pending write per
column-setting kind (a newer one replaces an older one), one coalesced progress
row, and up to MAX_TRANSITIONS_PER_TORRENT state transitions, kept in order.
Past that cap the oldest intermediate transition is dropped (the first and the
latest are always kept), with a WARNING naming the torrent and the
revaer_persistence_transitions_dropped_total counter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from revaer_actors import metrics
from revaer_actors.domain import TorrentState, TorrentStatus

log = logging.getLogger(__name__)

Write = Callable[[psycopg.Connection[Any]], None]

# State transitions kept per torrent while the database is away (see above).
MAX_TRANSITIONS_PER_TORRENT = 100

Transition = tuple[TorrentState, str | None, datetime]


class Outbox:
    """Ordered writes, state transitions and coalesced progress, and their count.

    The owner flushes `writes`, `transitions` and `progress` and clears them
    once committed; `pending()` is what is still waiting.
    """

    def __init__(self) -> None:
        # Ordered writes, one per torrent and kind (see enqueue).
        self.writes: dict[tuple[str, str], Write] = {}
        # Every state transition per torrent, in order (never coalesced).
        self.transitions: dict[str, list[Transition]] = {}
        self.transitions_dropped: dict[str, int] = {}
        self.progress: dict[str, dict[str, Any]] = {}
        # len() of all of transitions' lists, kept as they change: depth is
        # counted at every event, and summing thousands of lists each time
        # would cost more than the event.
        self.transition_count = 0

    def pending(self) -> int:
        return len(self.writes) + self.transition_count + len(self.progress)

    def record_state(
        self, info_hash: str, state: TorrentState, message: str | None
    ) -> None:
        history = self.transitions.setdefault(info_hash, [])
        history.append((state, message, datetime.now(UTC)))
        self.transition_count += 1
        if len(history) > MAX_TRANSITIONS_PER_TORRENT:
            # The first and the latest say where it started and where it is.
            del history[1]
            self.transition_count -= 1
            dropped = self.transitions_dropped.get(info_hash, 0) + 1
            self.transitions_dropped[info_hash] = dropped
            metrics.TRANSITIONS_DROPPED.inc()
            if dropped == 1:
                log.warning(
                    "state transitions dropped from the outbox info_hash=%s cap=%d",
                    info_hash,
                    MAX_TRANSITIONS_PER_TORRENT,
                )

    def record_progress(self, status: TorrentStatus) -> None:
        self.progress[status.info_hash] = {
            "info_hash": status.info_hash,
            "progress": min(max(status.progress, 0.0), 1.0),
            "download_rate": status.download_rate,
            "upload_rate": status.upload_rate,
            "total_done": status.total_done,
            "total_size": status.total_size,
            "uploaded": status.uploaded,
            "downloaded": status.downloaded,
            "seeding_seconds": status.seeding_seconds,
            "queue_position": status.queue_position,
        }

    def enqueue(
        self, info_hash: str, kind: str, write: Write, *, keep_first: bool = False
    ) -> None:
        """Queues a write; a newer write of the same kind replaces an older one.

        Each kind sets its own columns of the torrent's row, so applying only
        the latest of each kind leaves the row exactly as applying them all in
        order would. State transitions do not come through here: each one is
        kept (see record_state).
        """
        key = (info_hash, kind)
        if keep_first and key in self.writes:
            return
        self.writes[key] = write

    def drop_transitions(self, info_hash: str) -> None:
        self.transition_count -= len(self.transitions.pop(info_hash, []))

    def report_dropped_transitions(self) -> None:
        for info_hash, dropped in self.transitions_dropped.items():
            log.warning(
                "state transitions lost to the outbox cap info_hash=%s count=%d",
                info_hash,
                dropped,
            )
        self.transitions_dropped.clear()
