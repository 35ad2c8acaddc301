"""The status API under a big catalog, beside a plain SELECT of the same rows.

    python benchmarks/api.py [--sizes 1000,10000] [--runs 40] [--subscribers 50]
                             [--database-url URL]

For each catalog size: P50 and P95 of listing one page of 50 torrents and of
listing every torrent (following pages of 500), over HTTP with the API key,
and of the same rows read by plain psycopg in the same run; the ratio is
API time / SELECT time. Then SUBSCRIBERS clients follow /v1/events; for each
event, the delay from its publication to its arrival at the slowest client is
taken, and P50 and P95 of those are printed beside the same harness run
against a bare aiohttp SSE server in this process fanning out the same number
of events to as many clients (ratio: revaer P95 / bare P95).

Without --database-url an embedded server starts in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embedded_server import embedded  # noqa: E402

from revaer_actors.sse import parse_stream  # noqa: E402
from tests.daemon import Daemon, free_port  # noqa: E402

PAGE_SQL = """
SELECT info_hash, name, state, category, tags, paused, save_path, library_path,
       added_at, completed_at
  FROM revaer_runtime.torrents ORDER BY added_at, info_hash LIMIT 50
"""
ALL_SQL = """
SELECT info_hash, name, state, category, tags, paused, save_path, library_path,
       added_at, completed_at
  FROM revaer_runtime.torrents ORDER BY added_at, info_hash
"""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return statistics.median(ordered), p95


def timed(work: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def fill(daemon: Daemon, count: int) -> None:
    def add(_: int) -> None:
        magnet = f"magnet:?xt=urn:btih:{os.urandom(20).hex()}&dn=bench"
        status, body = daemon.api(
            "POST", "/v1/torrents", {"magnet": magnet, "paused": True}
        )
        assert status == 201, body

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(count)))


def listing(daemon: Daemon, url: str, size: int, runs: int) -> None:
    def page() -> None:
        status, body = daemon.api("GET", "/v1/torrents?limit=50")
        assert status == 200 and len(body["items"]) == 50

    def everything() -> None:
        assert len(daemon.torrents()) == size

    with psycopg.connect(url) as conn:
        rows = {
            "page of 50": (page, lambda: conn.execute(PAGE_SQL).fetchall()),
            "every torrent": (everything, lambda: conn.execute(ALL_SQL).fetchall()),
        }
        for label, (api_work, sql_work) in rows.items():
            ours = timed(api_work, runs)
            plain = timed(sql_work, runs)
            print(
                f"{size:>6} torrents  {label:<14}"
                f" API p50 {ours[0]:8.2f} ms  p95 {ours[1]:8.2f} ms"
                f" | SELECT p50 {plain[0]:7.2f} ms  p95 {plain[1]:7.2f} ms"
                f" | ratio p50 {ours[0] / plain[0]:6.1f}  p95 {ours[1] / plain[1]:6.1f}"
            )


def fan_out_delays(
    port: int,
    headers: dict[str, str],
    subscribers: int,
    events: int,
    publish: Callable[[], object],
) -> list[float]:
    """SUBSCRIBERS clients follow /v1/events on PORT while EVENTS are published;
    for each event, the longest delay (ms) from its `at` to any client."""
    delays: dict[str, list[float]] = {}
    lock = threading.Lock()
    ready = threading.Barrier(subscribers + 1)

    def follow() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/v1/events?kind=torrent_added", headers=headers)
        response = conn.getresponse()
        ready.wait()
        stream = parse_stream(iter(response.readline, b""))
        for seen, event in enumerate(stream, start=1):
            delay = (time.time() - event.data["at"]) * 1000
            with lock:
                delays.setdefault(str(event.id), []).append(delay)
            if seen == events:
                break
        conn.close()

    threads = [threading.Thread(target=follow) for _ in range(subscribers)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(0.5)
    for _ in range(events):
        publish()
        time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=120)
    return [max(per_client) for per_client in delays.values()]


class ReferenceSse:
    """A bare aiohttp server that fans events out to SSE clients: the same
    harness measured against the least an aiohttp SSE stream can cost."""

    def __init__(self) -> None:
        self.port = free_port()
        self._queues: set[asyncio.Queue[bytes | None]] = set()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._started.wait(30)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/v1/events", self._stream)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._started.set()
        self._loop.run_forever()

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._queues.add(queue)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        try:
            await response.prepare(request)
            while (data := await queue.get()) is not None:
                await response.write(data)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._queues.discard(queue)
        return response

    def publish(self) -> None:
        """From any thread, like the daemon's hub: stamp, then hand to the loop."""
        event_id = next(self._ids)
        payload = {"id": event_id, "kind": "torrent_added", "at": time.time()}
        data = (
            f"id: {event_id}\nevent: torrent_added\ndata: {json.dumps(payload)}\n\n"
        ).encode()
        self._loop.call_soon_threadsafe(self._deliver, data)

    def _deliver(self, data: bytes | None) -> None:
        for queue in self._queues:
            queue.put_nowait(data)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._deliver, None)  # ends every stream
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


def event_delay(daemon: Daemon, subscribers: int, events: int) -> None:
    ours = fan_out_delays(
        daemon.port,
        {"Authorization": f"Bearer {daemon.api_key}"},
        subscribers,
        events,
        lambda: fill(daemon, 1),
    )
    reference = ReferenceSse()
    try:
        bare = fan_out_delays(
            reference.port, {}, subscribers, events, reference.publish
        )
    finally:
        reference.close()

    ours_p50, ours_p95 = percentiles(ours)
    bare_p50, bare_p95 = percentiles(bare)
    print(
        f"slowest of {subscribers} SSE subscribers per event"
        f" ({len(ours)} events):"
        f" revaer p50 {ours_p50:.2f} ms  p95 {ours_p95:.2f} ms"
        f" | bare aiohttp p50 {bare_p50:.2f} ms  p95 {bare_p95:.2f} ms"
        f" | ratio p95 {ours_p95 / bare_p95:.1f}"
    )


def bench(url: str, sizes: list[int], runs: int, subscribers: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="revaer-api-bench-"))
    daemon = Daemon(work / "revaer", url).start()
    try:
        have = 0
        for size in sizes:
            fill(daemon, size - have)
            have = size
            listing(daemon, url, size, runs)
        event_delay(daemon, subscribers, events=50)
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.database_url:
        bench(args.database_url, sizes, args.runs, args.subscribers)
        return
    with embedded() as url:
        bench(url, sizes, args.runs, args.subscribers)


if __name__ == "__main__":
    main()
