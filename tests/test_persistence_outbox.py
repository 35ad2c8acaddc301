"""The persistence actor's outbox through a long database outage: it stays
bounded however many events arrive, and once the database is back every
torrent's row is exactly what the last event said."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from revaer_actors import repository
from revaer_actors.database import migrate, open_pool
from revaer_actors.domain import TorrentRecord, TorrentState, TorrentStatus
from revaer_actors.persistence import PersistenceActor
from tests.test_database_outage import StoppableServer

TORRENTS = 20
ROUNDS = 300
STATES = [TorrentState.DOWNLOADING, TorrentState.PAUSED, TorrentState.SEEDING]
# Ordered kinds (state, metadata, resume data, location, completion) plus the
# coalesced progress row.
KINDS_PER_TORRENT = 6


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

    assert depth_during_outage <= TORRENTS * KINDS_PER_TORRENT
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
