"""The migrations build a schema that serves every named query, roll back
cleanly, and refuse rows that break the data rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import psycopg
import pytest
from yoyo import get_backend, read_migrations

from revaer_actors import repository
from revaer_actors.database import MIGRATIONS_DIR, migrate, yoyo_url
from revaer_actors.domain import JobStatus, TorrentRecord, TorrentState, TransferMode

_PARAM = re.compile(r"%\((\w+)\)s")


def _record(info_hash: str) -> TorrentRecord:
    return TorrentRecord(
        info_hash=info_hash,
        name="name",
        state=TorrentState.QUEUED,
        save_path="/downloads",
        added_at=datetime.now(UTC),
        magnet=f"magnet:?xt=urn:btih:{info_hash}",
    )


def test_every_named_query_is_valid_against_the_migrated_schema(
    database_url: str,
) -> None:
    migrate(database_url)

    with psycopg.connect(database_url) as conn:
        for name, query in repository.QUERIES.items():
            params = {key: None for key in _PARAM.findall(query)}
            # EXPLAIN plans the statement against the real schema without
            # running it, so a misspelt column or a bad cast fails here.
            conn.execute("EXPLAIN " + query, params)
            assert conn.info.transaction_status is not None, name


def test_migrations_roll_back_and_apply_again(database_url: str) -> None:
    migrate(database_url)
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(MIGRATIONS_DIR))

    with backend.lock():
        backend.rollback_migrations(backend.to_rollback(migrations))
    with psycopg.connect(database_url) as conn:
        schema = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = 'revaer_runtime'"
        ).fetchone()
    migrate(database_url)

    assert schema is None
    with psycopg.connect(database_url) as conn:
        assert repository.select_torrents(conn) == []


@pytest.mark.parametrize("bad_hash", ["0" * 40, "A" * 40, "abc", "g" * 40])
def test_the_catalog_refuses_a_zero_or_malformed_info_hash(
    database_url: str, bad_hash: str
) -> None:
    migrate(database_url)

    with (
        psycopg.connect(database_url) as conn,
        pytest.raises(psycopg.errors.CheckViolation),
    ):
        repository.insert_torrent(conn, _record(bad_hash))


def test_updated_at_moves_on_every_update_and_a_torrent_has_one_live_job(
    database_url: str,
) -> None:
    migrate(database_url)
    info_hash = "ab" * 20

    with psycopg.connect(database_url) as conn:
        assert repository.insert_torrent(conn, _record(info_hash))
        assert not repository.insert_torrent(conn, _record(info_hash))
        first = conn.execute(
            "SELECT updated_at FROM revaer_runtime.torrents"
        ).fetchone()
        conn.commit()
        repository.update_state(conn, info_hash, TorrentState.DOWNLOADING, None)
        second = conn.execute(
            "SELECT updated_at FROM revaer_runtime.torrents"
        ).fetchone()

        job = repository.insert_job(conn, info_hash, TransferMode.MOVE, "/d/name")
        duplicate = repository.insert_job(conn, info_hash, TransferMode.MOVE, "/d/x")
        assert job is not None
        moved = repository.update_job(
            conn, job.id, JobStatus.MOVED, "done", dst_path="/lib/name"
        )
        history = conn.execute(
            "SELECT status::text FROM revaer_runtime.fs_job_history ORDER BY id"
        ).fetchall()

    assert first is not None and second is not None and second[0] > first[0]
    assert duplicate is None
    assert moved.status is JobStatus.MOVED and moved.dst_path == "/lib/name"
    assert history == [("pending",), ("moved",)]
