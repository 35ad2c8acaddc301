"""A torrent actor is a thread: many idle torrents must not mean many threads."""

from __future__ import annotations

import psutil

from revaer_actors.orchestrator import MAX_LIVE_ACTORS
from tests.daemon import Daemon

# Threads that are not torrent actors: libtorrent's, the other actors, timers,
# the pool and the bridge's workers (about 60 when measured).
BASELINE_THREADS = 100


def test_adding_hundreds_of_idle_torrents_keeps_the_thread_count_bounded(
    daemon: Daemon,
) -> None:
    hashes = [f"{n:040x}" for n in range(1, 301)]

    for info_hash in hashes:
        status, _ = daemon.api(
            "POST",
            "/v1/torrents",
            {"magnet": f"magnet:?xt=urn:btih:{info_hash}", "paused": True},
        )
        assert status == 201
    assert daemon.process is not None
    threads = psutil.Process(daemon.process.pid).num_threads()

    assert threads < MAX_LIVE_ACTORS + BASELINE_THREADS, threads
    assert set(daemon.catalog()) == set(hashes)
