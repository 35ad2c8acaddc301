"""The FsOps pool: several actors running jobs side by side, and what they share.

A torrent with work under way stays with the actor that has it, so one torrent
never has two jobs running at once; a torrent with none goes to an actor with
nothing to do, so one large copy holds up only its own torrent. The library
paths each unfinished job has planned are held here too, so two actors never
plan the same destination.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from revaer_actors import pipeline
from revaer_actors.domain import TorrentRecord
from revaer_actors.pipeline import Plan

ASK_TIMEOUT = 30.0


@dataclass
class _Owner:
    """The actor a torrent's work is with, and how much of it is queued."""

    actor: int
    # Messages routed to the actor for this torrent and not yet handled.
    messages: int = 0
    # The actor holds the torrent's job between messages (a move libtorrent
    # is making, a retry timer): its next messages must reach the same actor.
    kept: bool = False


class Reservations:
    """What the pool's actors share: the library paths each unfinished job has
    planned, and which actor each torrent's work is with.

    Two actors planning the same destination at once would both find it free;
    planning under one lock, against what the others hold, makes the second
    see the first's files as taken before either has written a byte.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, set[str]] = {}
        self._owners: dict[str, _Owner] = {}

    def route(self, info_hash: str, actors: int, preferred: int = 0) -> int:
        """The actor for a message about this torrent, counted as queued.

        A torrent with work queued or held stays where it is; any other goes
        to the actor with the fewest messages queued, `preferred` first among
        equals, so one long copy does not hold up another torrent's job.
        """
        with self._lock:
            owner = self._owners.get(info_hash)
            if owner is None:
                queued = [0] * actors
                for other in self._owners.values():
                    queued[other.actor] += other.messages
                order = [preferred % actors] + list(range(actors))
                owner = _Owner(min(order, key=lambda actor: queued[actor]))
                self._owners[info_hash] = owner
            owner.messages += 1
            return owner.actor

    def handled(self, info_hash: str, kept: bool, counted: bool = True) -> None:
        """An actor finished a message about this torrent (`counted` when the
        pool routed it); a torrent nothing is queued for or held is free to go
        to any actor next time."""
        with self._lock:
            owner = self._owners.get(info_hash)
            if owner is None:
                return
            if counted:
                owner.messages -= 1
            owner.kept = kept
            if owner.messages <= 0 and not kept:
                del self._owners[info_hash]

    def plan(self, job_id: int, make: Callable[[frozenset[str]], Plan]) -> Plan:
        with self._lock:
            others = frozenset(
                p for job, paths in self._held.items() if job != job_id for p in paths
            )
            planned = make(others)
            self._held[job_id] = pipeline.planned_paths(planned)
            return planned

    def hold(self, job_id: int, plan: Plan) -> None:
        """A plan made before (a resumed job) claims its paths again."""
        with self._lock:
            self._held[job_id] = pipeline.planned_paths(plan)

    def release(self, job_id: int) -> None:
        with self._lock:
            self._held.pop(job_id, None)


class FsOpsPool:
    """A few FsOps actors. A torrent whose work is under way stays with its
    actor (one job per torrent at a time); any other goes to an idle one.

    It offers the actor's messages, so the orchestrator and the torrent actors
    use it as they would one actor's proxy.
    """

    def __init__(self, workers: int, start: Callable[[Reservations], Any]) -> None:
        self.reservations = Reservations()
        self._proxies = [start(self.reservations) for _ in range(max(1, workers))]

    def _for(self, info_hash: str) -> Any:
        # Among idle actors the same torrent tends to the same one, which
        # keeps a quiet pool's logs easy to follow.
        preferred = zlib.crc32(info_hash.encode())
        actor = self.reservations.route(info_hash, len(self._proxies), preferred)
        return self._proxies[actor]

    def subscribe(self, *args: Any) -> Any:
        for proxy in self._proxies:
            proxy.subscribe(*args).get(timeout=ASK_TIMEOUT)
        return None

    def post_process(self, record: TorrentRecord) -> Any:
        return self._for(record.info_hash).post_process(record)

    def storage_moved(self, info_hash: str, path: str) -> Any:
        return self._for(info_hash).storage_moved(info_hash, path)

    def storage_move_failed(self, info_hash: str, error: str) -> Any:
        return self._for(info_hash).storage_move_failed(info_hash, error)

    def forget(self, info_hash: str) -> Any:
        return [proxy.forget(info_hash) for proxy in self._proxies]

    def probe(self) -> list[Any]:
        """One probe future per worker, for /health/full to time."""
        return [proxy.probe() for proxy in self._proxies]

    @property
    def actor_ref(self) -> FsOpsPool:
        """Health checks ask an actor's ref whether it lives; for the pool,
        every actor must."""
        return self

    def is_alive(self) -> bool:
        return all(proxy.actor_ref.is_alive() for proxy in self._proxies)

    def stop(self, timeout: float) -> None:
        for proxy in self._proxies:
            try:
                proxy.actor_ref.stop(timeout=timeout)
            except pykka.ActorDeadError:
                continue
