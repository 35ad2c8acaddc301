"""The persistence actor under a seedbox's load, beside plain psycopg.

    python benchmarks/persistence.py [--torrents 10000] [--seconds 60]
                                     [--rounds 5] [--database-url URL]

Part 1 (sustained): every second each torrent reports progress and 2 % of
them change state, for SECONDS; prints the events written per second, the
outbox's peak depth (the actor's own count at every event: pending writes,
transitions, coalesced progress and the messages still in its mailbox), how
long the actor took each second to take in that second's events, the
persistence actor thread's CPU share (its own thread's CPU time over wall
time) beside this whole process's, and whether the outbox stayed bounded:
the actor took in every second's events within that second, and the peak
stayed under two seconds' worth of events.

Part 2 (capacity, same run, same database, same rows): one progress row per
torrent and a state transition for 2 % of them, written three ways, each on
a connection opened beforehand (connect time excluded) and in one
transaction:

- plain per-row: psycopg executemany of the one-row statements, i.e. the
  progress UPDATE per torrent, and per transition the state-history INSERT
  and the torrents UPDATE;
- plain batch: psycopg running the actor's own statements, i.e. the one
  UPDATE over unnest'ed arrays for progress and the same two executemany for
  transitions;
- actor: the events told to the persistence actor, then flush() awaited.

Each round runs the three in a rotating order; a warm-up round is dropped and
the medians of ROUNDS rounds are printed, with the actor's ratio to each.

Without --database-url an embedded server starts in a temporary folder.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import psycopg
from embedded_server import embedded

from revaer_actors import repository
from revaer_actors.database import migrate, open_pool
from revaer_actors.domain import TorrentRecord, TorrentState, TorrentStatus
from revaer_actors.persistence import PersistenceActor

STATES = [TorrentState.DOWNLOADING, TorrentState.SEEDING, TorrentState.PAUSED]
TRANSITION_SHARE = 50  # one torrent in this many changes state each second

Transition = tuple[str, TorrentState, str | None, datetime]


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


def progress_row(s: TorrentStatus) -> dict[str, Any]:
    """The row the actor makes of a status (PersistenceActor.record_progress)."""
    return {
        "info_hash": s.info_hash,
        "progress": s.progress,
        "download_rate": s.download_rate,
        "upload_rate": s.upload_rate,
        "total_done": s.total_done,
        "total_size": s.total_size,
        "uploaded": s.uploaded,
        "downloaded": s.downloaded,
        "seeding_seconds": s.seeding_seconds,
        "queue_position": s.queue_position,
    }


# Part 1: sustained load.


def sustained(proxy: Any, hashes: list[str], seconds: int) -> dict[str, Any]:
    rng = random.Random(7)
    per_second = len(hashes) + len(hashes) // TRANSITION_SHARE
    proxy.flush().get(timeout=300)
    proxy.peak_depth(reset=True).get()
    written_before = proxy.written().get()
    cpu_before = time.process_time()
    actor_cpu_before = proxy.cpu_seconds().get()
    started = time.perf_counter()
    intake: list[float] = []
    for tick in range(seconds):
        second_started = time.perf_counter()
        for info_hash in hashes:
            proxy.record_progress(status(info_hash, tick))
        for info_hash in rng.sample(hashes, len(hashes) // TRANSITION_SHARE):
            proxy.record_state(info_hash, rng.choice(STATES), None)
        # Answered once the actor has handled everything told before it.
        proxy.depth().get(timeout=300)
        intake.append(time.perf_counter() - second_started)
        time.sleep(max(0.0, 1.0 - (time.perf_counter() - second_started)))
    proxy.flush().get(timeout=300)
    wall = time.perf_counter() - started
    written = proxy.written().get() - written_before
    cpu = time.process_time() - cpu_before
    actor_cpu = proxy.cpu_seconds().get() - actor_cpu_before
    peak = proxy.peak_depth(reset=True).get()
    bounded = max(intake) < 1.0 and peak < 2 * per_second

    print(f"sustained: {len(hashes)} torrents, {seconds} s")
    print(f"  events offered            {seconds * per_second / wall:12.0f} /s")
    print(f"  events written            {written / wall:12.0f} /s")
    print(f"  outbox peak depth         {peak:12d}  (with mailbox)")
    print(f"  intake per second, median {statistics.median(intake):12.3f} s")
    print(f"  intake per second, max    {max(intake):12.3f} s")
    print(f"  CPU share, actor thread   {actor_cpu / wall:12.1%}")
    print(f"  CPU share, whole process  {cpu / wall:12.1%}")
    print(f"  outbox bounded            {'yes' if bounded else 'NO':>12}")
    return {
        "written": written / wall,
        "peak": peak,
        "actor_cpu": actor_cpu / wall,
        "cpu": cpu / wall,
        "bounded": bounded,
    }


# Part 2: capacity, three ways over the same rows.


def plain_per_row(
    conn: psycopg.Connection[Any],
    rows: list[dict[str, Any]],
    transitions: list[Transition],
) -> None:
    # The transitions are plain executemany in the actor too: the same call.
    repository.record_transitions(conn, transitions)
    with conn.cursor() as cur:
        cur.executemany(repository.QUERIES["update_torrent_progress"], rows)
    conn.commit()


def plain_batch(
    conn: psycopg.Connection[Any],
    rows: list[dict[str, Any]],
    transitions: list[Transition],
) -> None:
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    repository.record_transitions(conn, transitions)
    with conn.cursor() as cur:
        cur.execute(repository.QUERIES["update_torrent_progress_batch"], columns)
    conn.commit()


def through_actor(
    proxy: Any, statuses: list[TorrentStatus], transitions: list[Transition]
) -> None:
    for s in statuses:
        proxy.record_progress(s)
    for info_hash, state, message, _ in transitions:
        proxy.record_state(info_hash, state, message)
    pending = proxy.flush().get(timeout=300)
    if pending:
        raise RuntimeError(f"the actor left {pending} events unwritten")


def capacity(
    conn: psycopg.Connection[Any], proxy: Any, hashes: list[str], rounds: int
) -> dict[str, float]:
    events = len(hashes) + len(hashes) // TRANSITION_SHARE
    rates: dict[str, list[float]] = {"per_row": [], "batch": [], "actor": []}
    proxy.flush().get(timeout=300)
    for round_no in range(rounds + 1):  # round 0 warms caches and is dropped
        rng = random.Random(round_no)
        now = datetime.now(UTC)
        # Values change every round, so every UPDATE writes something new.
        statuses = [status(h, 100 + round_no) for h in hashes]
        rows = [progress_row(s) for s in statuses]
        transitions: list[Transition] = [
            (h, rng.choice(STATES), None, now)
            for h in rng.sample(hashes, len(hashes) // TRANSITION_SHARE)
        ]
        ways: list[tuple[str, Callable[[], None]]] = [
            ("per_row", partial(plain_per_row, conn, rows, transitions)),
            ("batch", partial(plain_batch, conn, rows, transitions)),
            ("actor", partial(through_actor, proxy, statuses, transitions)),
        ]
        shift = round_no % len(ways)
        for name, run in ways[shift:] + ways[:shift]:
            started = time.perf_counter()
            run()
            if round_no:
                rates[name].append(events / (time.perf_counter() - started))

    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"capacity: {len(hashes)} progress rows + "
        f"{len(hashes) // TRANSITION_SHARE} transitions per round, "
        f"median of {rounds} rounds"
    )
    print(f"  plain psycopg, per-row executemany {median['per_row']:10.0f} events/s")
    print(f"  plain psycopg, actor's statements  {median['batch']:10.0f} events/s")
    print(f"  persistence actor                  {median['actor']:10.0f} events/s")
    print(
        "  ratio actor / plain per-row        "
        f"{median['actor'] / median['per_row']:10.2f}"
    )
    print(
        "  ratio actor / plain same SQL       "
        f"{median['actor'] / median['batch']:10.2f}"
    )
    return median


def bench(url: str, torrents: int, seconds: int, rounds: int) -> None:
    migrate(url)
    hashes = seed_catalog(url, torrents)
    pool = open_pool(url)
    actor = PersistenceActor.start(pool).proxy()
    try:
        with psycopg.connect(url) as conn:
            load = sustained(actor, hashes, seconds)
            print()
            median = capacity(conn, actor, hashes, rounds)
    finally:
        actor.actor_ref.stop()
        pool.close()

    print()
    print("summary")
    print(f"  torrents {torrents}, sustained {seconds} s, capacity rounds {rounds}")
    print(f"  sustained events written     {load['written']:10.0f} /s")
    print(f"  outbox peak depth            {load['peak']:10d}")
    print(f"  outbox bounded               {'yes' if load['bounded'] else 'NO':>10}")
    print(
        f"  CPU share actor / process    {load['actor_cpu']:9.1%} / {load['cpu']:.1%}"
    )
    print(
        "  actor vs plain per-row       "
        f"{median['actor'] / median['per_row']:10.2f}  (aim: at least 0.80)"
    )
    print(f"  actor vs plain same SQL      {median['actor'] / median['batch']:10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--torrents", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        bench(args.database_url, args.torrents, args.seconds, args.rounds)
        return
    with embedded() as url:
        bench(url, args.torrents, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
