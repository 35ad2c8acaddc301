"""The status API under a big catalog, beside a plain SELECT of the same rows.

    python benchmarks/api.py [--sizes 1000,10000] [--runs 40] [--subscribers 50]
                             [--database-url URL]

For each catalog size: P50 and P95 of listing one page of 50 torrents and of
listing every torrent (following pages of 500), over HTTP with the API key,
and of the same rows read by plain psycopg in the same run; the ratio is
API time / SELECT time. Then SUBSCRIBERS clients follow /v1/events and the
delay from each event's publication to its arrival at every client is
measured (P50, P95).

Without --database-url an embedded server starts in a temporary folder.
"""

from __future__ import annotations

import argparse
import http.client
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embedded_server import embedded  # noqa: E402

from revaer_actors.sse import parse_stream  # noqa: E402
from tests.daemon import Daemon  # noqa: E402

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


def event_delay(daemon: Daemon, subscribers: int, events: int) -> None:
    arrivals: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(subscribers + 1)

    def follow() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=60)
        conn.request(
            "GET",
            "/v1/events?kind=torrent_added",
            headers={"Authorization": f"Bearer {daemon.api_key}"},
        )
        response = conn.getresponse()
        ready.wait()
        stream = parse_stream(iter(response.readline, b""))
        for seen, event in enumerate(stream, start=1):
            delay = time.time() - event.data["at"]
            with lock:
                arrivals.append(delay * 1000)
            if seen == events:
                break
        conn.close()

    threads = [threading.Thread(target=follow) for _ in range(subscribers)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(0.5)
    for _ in range(events):
        fill(daemon, 1)
        time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=120)

    p50, p95 = percentiles(arrivals)
    print(
        f"event to {subscribers} SSE subscribers ({len(arrivals)} arrivals):"
        f" p50 {p50:.2f} ms  p95 {p95:.2f} ms"
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
