"""The persistence actor under a seedbox's load, beside plain psycopg.

    python benchmarks/persistence.py [--torrents 10000] [--seconds 60]
                                     [--database-url URL]

Part 1 (sustained): every second each torrent reports progress, and a few
percent change state, for SECONDS; prints the rows written per second, the
outbox's peak depth, and the persistence actor thread's CPU share (its own
thread's CPU time over wall time) beside this whole process's.

Part 2 (capacity, same run, same database): one progress row per torrent,
written once through the actor (tell + flush; the actor sends the batch as
one UPDATE over unnest'ed arrays) and once by plain psycopg executemany of
the one-row UPDATE; prints both rates and their ratio.

TODO(when the ratio is next reported): also time plain psycopg running the
actor's own unnest'ed batch statement, so the ratio compares the same
statement both ways and not only the same rows.

Without --database-url an embedded server starts in a temporary folder.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime

import psycopg
from embedded_server import embedded

from revaer_actors import repository
from revaer_actors.database import migrate, open_pool
from revaer_actors.domain import TorrentRecord, TorrentState, TorrentStatus
from revaer_actors.persistence import PersistenceActor

STATES = [TorrentState.DOWNLOADING, TorrentState.SEEDING, TorrentState.PAUSED]


def seed_catalog(url: str, count: int) -> list[str]:
    hashes = [f"{i + 1:040x}" for i in range(count)]
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        for info_hash in hashes:
            repository.insert_torrent(
                conn,
                TorrentRecord(
                    info_hash=info_hash,
                    name=info_hash[:8],
                    state=TorrentState.DOWNLOADING,
                    save_path="/downloads",
                    added_at=now,
                    magnet=f"magnet:?xt=urn:btih:{info_hash}",
                ),
            )
    return hashes


def status(info_hash: str, tick: int) -> TorrentStatus:
    return TorrentStatus(
        info_hash=info_hash,
        name=info_hash[:8],
        state=TorrentState.DOWNLOADING,
        progress=min(tick / 100, 1.0),
        download_rate=100_000 + tick,
        upload_rate=20_000,
        total_done=tick * 1000,
        total_size=10**8,
        save_path="/downloads",
        uploaded=tick * 100,
        downloaded=tick * 1000,
    )


def sustained(actor: object, hashes: list[str], seconds: int) -> None:
    proxy = actor
    rng = random.Random(7)
    written_before = proxy.written().get()  # type: ignore[attr-defined]
    cpu_before = time.process_time()
    actor_cpu_before = proxy.cpu_seconds().get()  # type: ignore[attr-defined]
    started = time.perf_counter()
    peak = 0
    for tick in range(seconds):
        second_started = time.perf_counter()
        for info_hash in hashes:
            proxy.record_progress(status(info_hash, tick))  # type: ignore[attr-defined]
        for info_hash in rng.sample(hashes, len(hashes) // 50):
            proxy.record_state(info_hash, rng.choice(STATES), None)  # type: ignore[attr-defined]
        peak = max(peak, proxy.depth().get())  # type: ignore[attr-defined]
        time.sleep(max(0.0, 1.0 - (time.perf_counter() - second_started)))
    proxy.flush().get(timeout=300)  # type: ignore[attr-defined]
    wall = time.perf_counter() - started
    written = proxy.written().get() - written_before  # type: ignore[attr-defined]
    cpu = time.process_time() - cpu_before
    actor_cpu = proxy.cpu_seconds().get() - actor_cpu_before  # type: ignore[attr-defined]

    offered = seconds * (len(hashes) + len(hashes) // 50)
    print(f"sustained: {len(hashes)} torrents, {seconds} s")
    print(f"  events offered            {offered / wall:12.0f} /s")
    print(
        f"  rows written              {written / wall:12.0f} /s  (progress coalesced)"
    )
    print(f"  outbox peak depth         {peak:12d}")
    print(f"  CPU share, actor thread   {actor_cpu / wall:12.1%}")
    print(f"  CPU share, whole process  {cpu / wall:12.1%}")


def capacity(url: str, actor: object, hashes: list[str]) -> None:
    proxy = actor
    rows = [
        {
            "info_hash": h,
            "progress": 0.5,
            "download_rate": 1,
            "upload_rate": 1,
            "total_done": 1,
            "total_size": 2,
            "uploaded": 1,
            "downloaded": 1,
            "seeding_seconds": 0,
            "queue_position": -1,
        }
        for h in hashes
    ]

    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany(repository.QUERIES["update_torrent_progress"], rows)
        conn.commit()
    plain = len(rows) / (time.perf_counter() - started)

    started = time.perf_counter()
    for info_hash in hashes:
        proxy.record_progress(status(info_hash, 99))  # type: ignore[attr-defined]
    proxy.flush().get(timeout=300)  # type: ignore[attr-defined]
    ours = len(hashes) / (time.perf_counter() - started)

    print(f"capacity: {len(hashes)} progress rows, one transaction")
    print(f"  plain psycopg executemany {plain:12.0f} rows/s")
    print(f"  persistence actor         {ours:12.0f} rows/s")
    print(f"  ratio actor / plain       {ours / plain:12.2f}")


def bench(url: str, torrents: int, seconds: int) -> None:
    migrate(url)
    hashes = seed_catalog(url, torrents)
    pool = open_pool(url)
    actor = PersistenceActor.start(pool).proxy()
    try:
        sustained(actor, hashes, seconds)
        capacity(url, actor, hashes)
    finally:
        actor.actor_ref.stop()
        pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--torrents", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        bench(args.database_url, args.torrents, args.seconds)
        return
    with embedded() as url:
        bench(url, args.torrents, args.seconds)


if __name__ == "__main__":
    main()
