"""`revaer run`: boots the database, the actors and the API, and shuts them down
in order on SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pykka
from aiohttp import web
from psycopg_pool import ConnectionPool

from revaer_actors.api import Services, create_app
from revaer_actors.auth import (
    INITIAL_KEY_NAME,
    KeyRing,
    key_hash,
    new_key,
    write_key_file,
)
from revaer_actors.bridge import ActorBridge
from revaer_actors.config import Config
from revaer_actors.database import EmbeddedPostgres, migrate, open_pool
from revaer_actors.errors import AlreadyRunning
from revaer_actors.events import EventHub
from revaer_actors.folders import Folders
from revaer_actors.fsops import FsOpsActor, FsOpsPool
from revaer_actors.orchestrator import OrchestratorActor
from revaer_actors.persistence import PersistenceActor
from revaer_actors.session import SessionActor

log = logging.getLogger(__name__)

BOOT_TIMEOUT = 300.0
SHUTDOWN_TIMEOUT = 60.0
RUNNING_MARKER = "revaer.running"
LOCK_FILE = "revaer.lock"


@dataclass
class Actors:
    """Started in dependency order; stopped in reverse."""

    persistence: Any
    session: Any
    fsops: Any
    orchestrator: Any

    def in_start_order(self) -> list[Any]:
        return [self.persistence, self.session, self.fsops, self.orchestrator]


def run(config: Config) -> None:
    for folder in (config.data_dir, config.downloads_dir, config.library_dir):
        folder.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(config.data_dir)
    try:
        _run_locked(config)
    finally:
        lock.close()


def _lock_data_dir(data_dir: Path) -> IO[str]:
    """One daemon per data directory: a second one would share the embedded
    server, the downloads and the catalog with the first, and stop the
    server under it on its way out. The lock dies with the process, kill -9
    included."""
    handle = (data_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(
            f"another revaer daemon (pid {holder}) is running with {data_dir}; "
            "stop it first, or give this one another --data-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _run_locked(config: Config) -> None:
    embedded = None
    url = config.database_url
    if url is None:
        embedded = EmbeddedPostgres(config.embedded_pgdata)
        url = embedded.start()
    try:
        migrate(url)
        pool = open_pool(url)
        try:
            asyncio.run(_serve(config, pool))
        finally:
            pool.close()
    finally:
        if embedded is not None:
            embedded.stop()
    log.info("daemon stopped")


def start_actors(
    config: Config, pool: ConnectionPool, events: EventHub, folders: Folders
) -> Actors:
    persistence = PersistenceActor.start(pool, events).proxy()
    session = SessionActor.start(config.settings).proxy()
    fsops = FsOpsPool(
        config.fsops.workers,
        lambda reservations: FsOpsActor.start(
            persistence, session, folders, config.fsops, events, reservations
        ).proxy(),
    )
    orchestrator = OrchestratorActor.start(
        persistence,
        session,
        fsops,
        folders,
        config.settings,
        fsops_settings=config.fsops,
        events=events,
    ).proxy()

    # Events travel upward by tell; the lower actors learn their listener last.
    persistence.subscribe(lambda: orchestrator.database_recovered()).get()
    session.subscribe(lambda event: orchestrator.on_engine_event(event)).get()
    fsops.subscribe(
        lambda info_hash, save_path, library_path: orchestrator.torrent_relocated(
            info_hash, save_path, library_path
        ),
        lambda info_hash, running: orchestrator.job_running(info_hash, running),
    )
    return Actors(persistence, session, fsops, orchestrator)


def stop_actors(actors: Actors) -> None:
    for proxy in reversed(actors.in_start_order()):
        if isinstance(proxy, FsOpsPool):
            proxy.stop(SHUTDOWN_TIMEOUT)
            continue
        try:
            proxy.actor_ref.stop(timeout=SHUTDOWN_TIMEOUT)
        except pykka.ActorDeadError:
            pass
        except Exception:
            log.exception("actor did not stop cleanly actor=%s", proxy.actor_ref)


async def _serve(config: Config, pool: ConnectionPool) -> None:
    bridge = ActorBridge()
    # The marker exists while the daemon runs; finding it at boot means the
    # last run did not shut down cleanly.
    marker = config.data_dir / RUNNING_MARKER
    after_crash = marker.exists()
    if after_crash:
        log.warning("previous run did not shut down cleanly; rechecking downloads")
    marker.touch()
    events = EventHub()
    folders = Folders(config.downloads_dir, config.library_dir)
    actors = start_actors(config, pool, events, folders)
    try:
        await bridge.ask(actors.orchestrator.boot(after_crash), timeout=BOOT_TIMEOUT)
        keyring = await _keyring(config, actors.persistence, bridge)
        runner = web.AppRunner(
            create_app(
                Services(
                    config=config,
                    orchestrator=actors.orchestrator,
                    persistence=actors.persistence,
                    session=actors.session,
                    fsops=actors.fsops,
                    pool=pool,
                    bridge=bridge,
                    keyring=keyring,
                    events=events,
                    folders=folders,
                )
            ),
            access_log=None,
        )
        await runner.setup()
        await web.TCPSite(runner, config.api_host, config.api_port).start()
        log.info("api listening address=%s:%d", config.api_host, config.api_port)

        await _wait_for_signal()
        log.info("shutdown requested")
        await runner.cleanup()
        await bridge.ask(actors.orchestrator.shutdown(), timeout=SHUTDOWN_TIMEOUT)
        unwritten = await bridge.ask(
            actors.persistence.drain(), timeout=SHUTDOWN_TIMEOUT
        )
        if unwritten:
            # What libtorrent knows is newer than the catalog: the marker
            # makes the next boot recheck, as after a crash.
            log.warning(
                "shutdown with the database unavailable; next boot rechecks "
                "unwritten=%d",
                unwritten,
            )
        else:
            marker.unlink(missing_ok=True)
    finally:
        stop_actors(actors)
        bridge.close()


async def _keyring(
    config: Config, persistence: Any, bridge: ActorBridge
) -> KeyRing | None:
    """The active keys; on first start, issues one and writes it to a file."""
    if not config.api_auth:
        log.warning("api authentication is off; listening on loopback only")
        return None

    rows = await bridge.ask(persistence.api_keys())
    if not rows:
        # The file comes first: a crash before the commit only means a new
        # key next start, while a stored hash with no file would lock us out.
        key = new_key()
        path = write_key_file(config.data_dir, key)
        await bridge.ask(persistence.issue_api_key(INITIAL_KEY_NAME, key_hash(key)))
        log.info("first api key written path=%s", path)
        rows = await bridge.ask(persistence.api_keys())

    keyring = KeyRing()
    keyring.load(rows)
    return keyring


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
