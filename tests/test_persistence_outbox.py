"""The persistence actor's outbox through a long database outage: it stays
bounded however many events arrive, once the database is back every torrent's
row is exactly what the last event said, and the state history holds every
transition in order up to the documented cap. A database that refuses every
write (read-only) is waited out like an outage, never dropped."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from revaer_actors import metrics, repository
from revaer_actors.database import migrate, open_pool
from revaer_actors.domain import TorrentRecord, TorrentState, TorrentStatus
from revaer_actors.persistence import MAX_TRANSITIONS_PER_TORRENT, PersistenceActor
from tests.test_database_outage import StoppableServer

TORRENTS = 20
ROUNDS = 300
STATES = [TorrentState.DOWNLOADING, TorrentState.PAUSED, TorrentState.SEEDING]
# Column-setting kinds (resume data, location, completion here), the coalesced
# progress row, and the capped state transitions.
BOUND_PER_TORRENT = 3 + 1 + MAX_TRANSITIONS_PER_TORRENT


@pytest.fixture
def outage_server() -> Iterator[StoppableServer]:
    server = StoppableServer()
    yield server
    server.close()


def _status(info_hash: str, tick: int) -> TorrentStatus:
    return TorrentStatus(
        info_hash=info_hash,
        name=info_hash[:8],
        state=TorrentState.DOWNLOADING,
        progress=tick / ROUNDS,
        download_rate=tick,
        upload_rate=0,
        total_done=tick,
        total_size=ROUNDS,
        save_path="/downloads",
    )


def _seed(url: str) -> list[str]:
    hashes = [f"{i + 1:040x}" for i in range(TORRENTS)]
    with psycopg.connect(url) as conn:
        for info_hash in hashes:
            repository.insert_torrent(
                conn,
                TorrentRecord(
                    info_hash=info_hash,
                    name=info_hash[:8],
                    state=TorrentState.QUEUED,
                    save_path="/downloads",
                    added_at=datetime.now(UTC),
                    magnet=f"magnet:?xt=urn:btih:{info_hash}",
                ),
            )
    return hashes


def test_outbox_stays_bounded_and_the_last_word_wins_after_an_outage(
    outage_server: StoppableServer,
) -> None:
    migrate(outage_server.url)
    hashes = _seed(outage_server.url)
    pool = open_pool(outage_server.url)
    actor = PersistenceActor.start(pool).proxy()
    dropped_before = metrics.TRANSITIONS_DROPPED._value.get()
    first_completion = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        outage_server.stop()
        for tick in range(1, ROUNDS + 1):
            for info_hash in hashes:
                actor.record_state(info_hash, STATES[tick % 3], f"round {tick}")
                actor.record_progress(_status(info_hash, tick))
                actor.record_resume_data(info_hash, f"resume {tick}".encode())
                actor.record_location(info_hash, f"/library/{tick}", f"/library/{tick}")
                completed = first_completion if tick == 1 else datetime.now(UTC)
                actor.record_completed(info_hash, completed)
        depth_during_outage = actor.depth().get(timeout=60)
        pending = actor.flush().get(timeout=60)

        outage_server.start()
        deadline = time.monotonic() + 60
        while actor.flush().get(timeout=60) and time.monotonic() < deadline:
            time.sleep(0.2)
        depth_after = actor.depth().get(timeout=60)
    finally:
        actor.actor_ref.stop(timeout=60)
        pool.close()

    # Plus at most the one timed flush waiting in the mailbox.
    assert depth_during_outage <= TORRENTS * BOUND_PER_TORRENT + 1
    assert depth_during_outage > TORRENTS * MAX_TRANSITIONS_PER_TORRENT
    assert pending > 0
    assert depth_after == 0
    with psycopg.connect(outage_server.url) as conn:
        rows = conn.execute(
            "SELECT state, state_message, progress, resume_data, library_path,"
            " completed_at FROM revaer_runtime.torrents ORDER BY info_hash"
        ).fetchall()
    assert len(rows) == TORRENTS
    for row in rows:
        assert row == (
            STATES[ROUNDS % 3].value,
            f"round {ROUNDS}",
            1.0,
            f"resume {ROUNDS}".encode(),
            f"/library/{ROUNDS}",
            first_completion,
        )
    # Past the cap the oldest intermediate transitions go; the first and the
    # latest ones are kept, in order.
    kept = [1, *range(ROUNDS - MAX_TRANSITIONS_PER_TORRENT + 2, ROUNDS + 1)]
    with psycopg.connect(outage_server.url) as conn:
        for info_hash in hashes:
            history = repository.select_state_history(conn, info_hash)
            assert [(state, message) for state, message, _ in history] == [
                (STATES[tick % 3].value, f"round {tick}") for tick in kept
            ]
    dropped = metrics.TRANSITIONS_DROPPED._value.get() - dropped_before
    assert dropped == TORRENTS * (ROUNDS - MAX_TRANSITIONS_PER_TORRENT)


def _read_only(url: str, on: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        if on:
            conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        else:
            conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # every backend rereads the file on its next command


def test_a_database_that_refuses_every_write_keeps_the_outbox_until_it_accepts(
    outage_server: StoppableServer,
) -> None:
    migrate(outage_server.url)
    hashes = _seed(outage_server.url)
    pool = open_pool(outage_server.url)
    actor = PersistenceActor.start(pool).proxy()
    try:
        _read_only(outage_server.url, True)
        for tick in (1, 2):
            for info_hash in hashes:
                actor.record_state(info_hash, STATES[tick], f"round {tick}")
                actor.record_progress(_status(info_hash, tick))
        pending = actor.flush().get(timeout=60)
        degraded = actor.degraded().get(timeout=60)
        depth = actor.depth().get(timeout=60)

        _read_only(outage_server.url, False)
        deadline = time.monotonic() + 60
        while actor.flush().get(timeout=60) and time.monotonic() < deadline:
            time.sleep(0.2)
        recovered = not actor.degraded().get(timeout=60)
    finally:
        _read_only(outage_server.url, False)
        actor.actor_ref.stop(timeout=60)
        pool.close()

    assert pending == TORRENTS * 3
    assert degraded
    assert TORRENTS * 3 <= depth <= TORRENTS * 3 + 1  # + a timed flush told
    assert recovered
    with psycopg.connect(outage_server.url) as conn:
        rows = conn.execute(
            "SELECT state, state_message, progress FROM revaer_runtime.torrents"
        ).fetchall()
        for info_hash in hashes:
            history = repository.select_state_history(conn, info_hash)
            assert [(s, m) for s, m, _ in history] == [
                (STATES[1].value, "round 1"),
                (STATES[2].value, "round 2"),
            ]
    assert rows == [(STATES[2].value, "round 2", 2 / ROUNDS)] * TORRENTS


class OutageInjectingPersistenceActor(PersistenceActor):
    """A fake for a fault a real part cannot time on demand: the real server
    is stopped right after the one-by-one replay's first `writes_before`
    writes, so the outage begins in the middle of the replay. Its timed flush
    is off; the test flushes."""

    def __init__(
        self, pool: ConnectionPool, server: StoppableServer, writes_before: int
    ) -> None:
        super().__init__(pool)
        self._server = server
        self._writes_before = writes_before
        self._replaying = False
        self._replay_connections = 0

    def on_start(self) -> None:
        self._me = self.actor_ref.proxy()

    def _replay_one_by_one(self, cause: psycopg.Error) -> int:
        self._replaying = True
        try:
            return super()._replay_one_by_one(cause)
        finally:
            self._replaying = False

    def _connection(self) -> Any:
        if self._replaying:
            self._replay_connections += 1
            if self._replay_connections == self._writes_before + 1:
                self._server.stop()
        return super()._connection()


def test_an_outage_in_the_middle_of_a_one_by_one_replay_keeps_the_rest(
    outage_server: StoppableServer,
) -> None:
    migrate(outage_server.url)
    hashes = _seed(outage_server.url)
    bad = hashes[-1]
    written_first = 5
    pool = open_pool(outage_server.url)
    actor = OutageInjectingPersistenceActor.start(
        pool, outage_server, written_first
    ).proxy()
    try:
        for info_hash in hashes:
            actor.record_state(info_hash, TorrentState.SEEDING, "replayed")
            status = _status(info_hash, 7)
            if info_hash == bad:
                # Out of the integer column's range: the database refuses
                # this row's data, so the batch is replayed one by one.
                status = replace(status, queue_position=2**40)
            actor.record_progress(status)
        pending = actor.flush().get(timeout=60)
        degraded = actor.degraded().get(timeout=60)
        depth = actor.depth().get(timeout=60)

        outage_server.start()
        deadline = time.monotonic() + 60
        while actor.flush().get(timeout=60) and time.monotonic() < deadline:
            time.sleep(0.2)
        recovered = not actor.degraded().get(timeout=60)
        depth_after = actor.depth().get(timeout=60)
    finally:
        actor.actor_ref.stop(timeout=60)
        pool.close()

    # One transition write and one progress write per torrent; the first
    # few got in before the outage, everything else waited.
    assert pending == 2 * TORRENTS - written_first
    assert degraded
    assert depth == pending
    assert recovered
    assert depth_after == 0
    with psycopg.connect(outage_server.url) as conn:
        rows = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT info_hash, state, state_message, progress"
                " FROM revaer_runtime.torrents"
            )
        }
        histories = {h: repository.select_state_history(conn, h) for h in hashes}
    for info_hash in hashes:
        # Written once each: nothing done before the outage was done again.
        assert [(s, m) for s, m, _ in histories[info_hash]] == [("seeding", "replayed")]
        progress = 0.0 if info_hash == bad else 7 / ROUNDS
        assert rows[info_hash] == ("seeding", "replayed", progress)
