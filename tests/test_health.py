"""/health names the component that is down, and recovers with it."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from tests.daemon import Daemon
from tests.sse_client import EventClient


def _set_connections(server_url: str, database_url: str, allowed: bool) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(name), sql.SQL("true" if allowed else "false")
            )
        )
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s",
                (name,),
            )


def test_health_is_503_naming_the_database_while_it_refuses_connections(
    daemon: Daemon, postgres_server_url: str, database_url: str
) -> None:
    assert daemon.api("GET", "/health")[0] == 200
    events = EventClient(daemon, "?kind=health_changed")

    try:
        _set_connections(postgres_server_url, database_url, allowed=False)
        try:
            status, body = daemon.wait_for(
                lambda: (r := daemon.api("GET", "/health"))[0] == 503 and r,
                "health to report the database down",
            )
            full = daemon.api("GET", "/health/full")
            add = daemon.api(
                "POST", "/v1/torrents", {"magnet": "magnet:?xt=urn:btih:" + "2" * 40}
            )
            events.wait_for(lambda: events.events, "health_changed to down")
            # Jobs are read from the database: a 503, which the CLI exits 3 on.
            jobs = daemon.cli("jobs")
        finally:
            _set_connections(postgres_server_url, database_url, allowed=True)

        assert body["status"] == "degraded"
        assert body["failing"] == ["database"]
        assert body["components"] == {"database": "down", "engine": "ok"}
        assert full[0] == 503 and full[1]["failing"] == ["database"]
        assert full[1]["components"]["database"]["status"] == "down"
        assert full[1]["components"]["engine"]["status"] == "ok"
        assert full[1]["queues"]["fsops_pending"] is None
        assert add[0] == 503
        assert jobs.returncode == 3 and "503" in jobs.stderr, jobs.stderr
        assert add[1]["type"] == "https://revaer.dev/problems/database-unavailable"
        daemon.wait_for(lambda: daemon.api("GET", "/health")[0] == 200, "recovery")
        assert daemon.api("GET", "/v1/torrents")[1]["items"] == []
        # The next commit tells the persistence actor the database is back.
        again = daemon.api(
            "POST",
            "/v1/torrents",
            {"magnet": "magnet:?xt=urn:btih:" + "3" * 40, "paused": True},
        )
        assert again[0] == 201, again
        events.wait_for(lambda: len(events.events) >= 2, "health_changed to ok")
    finally:
        events.close()

    changes = [(e["component"], e["status"]) for e in events.events]
    assert changes == [("database", "down"), ("database", "ok")]
    assert daemon.api("GET", "/health/full")[1]["queues"]["fsops_pending"] == 0


def _set_read_only(server_url: str, database_url: str, on: bool) -> None:
    """Makes new sessions of this database read-only, and ends the open ones
    so the daemon's pool reconnects into them (other databases untouched)."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(
                sql.Identifier(name), sql.SQL("on" if on else "off")
            )
        )
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        )


def test_full_health_names_the_database_down_while_it_refuses_writes(
    daemon: Daemon, postgres_server_url: str, database_url: str
) -> None:
    assert daemon.api("GET", "/health/full")[0] == 200

    _set_read_only(postgres_server_url, database_url, on=True)
    try:
        # The server still answers reads; the first write finds it read-only
        # (a new magnet each time, in case one got in before the change).
        magnets = (f"magnet:?xt=urn:btih:{n:040x}" for n in range(1, 10_000))
        add = daemon.wait_for(
            lambda: (
                (r := daemon.api("POST", "/v1/torrents", {"magnet": next(magnets)}))[0]
                == 503
                and r
            ),
            "a write to be refused",
        )
        short = daemon.api("GET", "/health")
        full = daemon.api("GET", "/health/full")
    finally:
        _set_read_only(postgres_server_url, database_url, on=False)

    assert add[1]["type"] == "https://revaer.dev/problems/database-unavailable"
    assert short[0] == 503
    assert short[1]["failing"] == ["database"]
    assert full[0] == 503
    assert full[1]["failing"] == ["database"]
    assert full[1]["components"]["database"]["status"] == "down"
    assert "durability degraded" in full[1]["components"]["database"]["error"]
    # The server answered, so its version is still shown.
    assert full[1]["versions"]["postgresql"]
    daemon.wait_for(lambda: daemon.api("GET", "/health/full")[0] == 200, "recovery")
