"""The pool of FsOps actors on a real database and real files: jobs of different
torrents run side by side, a torrent never has two runs at once, and a long job
holds up only its own torrent.

The actors are started as the daemon starts them and talk by real messages;
the test listens where the orchestrator would (the `running` callback every
job calls as it starts and ends) and holds a job there to make its point
without relying on how fast anything runs. Copy mode never asks libtorrent for
anything, so no session is started.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pykka
import pytest

from revaer_actors import repository
from revaer_actors.database import migrate, open_pool
from revaer_actors.domain import FileEntry, JobRecord, TorrentRecord, TorrentState
from revaer_actors.events import EventHub
from revaer_actors.folders import Folders
from revaer_actors.fsops import FsOpsActor, FsOpsPool
from revaer_actors.persistence import PersistenceActor
from revaer_actors.pipeline import STAGES
from revaer_actors.policy import FsOpsSettings, Policy

WAIT = 60.0
# How long a held job waits for a wrong second run to show itself.
GRACE = 5.0


def _hashes(count: int, slot: int | None = None) -> list[str]:
    """Info hashes; with `slot`, ones that hashing the info hash over two
    actors would send to the same actor."""
    found = []
    for n in range(1, 10_000):
        candidate = f"{n:040x}"
        if slot is None or zlib.crc32(candidate.encode()) % 2 == slot:
            found.append(candidate)
        if len(found) == count:
            return found
    raise AssertionError("no hashes found")


@dataclass
class Pool:
    """A pool of FsOps actors as the daemon builds it, and what they told."""

    url: str
    persistence: Any
    folders: Folders
    settings: FsOpsSettings
    fsops: FsOpsPool | None = None
    relocated: dict[str, str] = field(default_factory=dict)
    session: Any = None

    def start(self, on_running: Callable[[str, bool], object]) -> FsOpsPool:
        events = EventHub()
        self.fsops = FsOpsPool(
            self.settings.workers,
            lambda reservations: FsOpsActor.start(
                self.persistence,
                self.session,
                self.folders,
                self.settings,
                events,
                reservations,
            ).proxy(),
        )
        self.fsops.subscribe(
            lambda info_hash, save_path, library: self.relocated.__setitem__(
                info_hash, library
            ),
            on_running,
        )
        return self.fsops

    def torrent(
        self, info_hash: str, name: str, size: int = 512 * 1024
    ) -> TorrentRecord:
        save_path = self.folders.downloads / info_hash
        payload = save_path / name
        payload.mkdir(parents=True)
        (payload / "video.bin").write_bytes(os.urandom(size))
        (payload / "readme.txt").write_bytes(name.encode())
        record = TorrentRecord(
            info_hash=info_hash,
            name=name,
            state=TorrentState.SEEDING,
            save_path=str(save_path),
            added_at=datetime.now(UTC),
            magnet=f"magnet:?xt=urn:btih:{info_hash}",
            files=(
                FileEntry(f"{name}/video.bin", size, 0),
                FileEntry(f"{name}/readme.txt", len(name), 1),
            ),
        )
        self.persistence.add_torrent(record).get(timeout=WAIT)
        return record

    def settled(self, info_hash: str, timeout: float = WAIT) -> JobRecord:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: JobRecord | None = self.persistence.latest_job(info_hash).get(
                timeout=WAIT
            )
            if job is not None and job.status.value in ("moved", "failed"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"the job of {info_hash} did not settle")

    def history(self, job_id: int) -> list[dict[str, Any]]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return repository.select_job_history(conn, job_id)

    def jobs_of(self, info_hash: str) -> list[JobRecord]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return [
                j for j in repository.select_jobs(conn) if j.torrent_id == info_hash
            ]


@pytest.fixture
def pool(tmp_path: Path, database_url: str) -> Iterator[Pool]:
    migrate(database_url)
    connections = open_pool(database_url)
    persistence = PersistenceActor.start(connections).proxy()
    folders = Folders(tmp_path / "downloads", tmp_path / "library")
    settings = FsOpsSettings(defaults=Policy(transfer="copy"))
    made = Pool(database_url, persistence, folders, settings)
    try:
        yield made
    finally:
        if made.fsops is not None:
            made.fsops.stop(timeout=WAIT)
        if made.session is not None:
            made.session.actor_ref.stop(timeout=WAIT)
        persistence.actor_ref.stop(timeout=WAIT)
        connections.close()


def _same_bytes(library: Path, record: TorrentRecord) -> bool:
    source = Path(record.save_path) / record.name
    return all(
        (library / name).read_bytes() == (source / name).read_bytes()
        for name in ("video.bin", "readme.txt")
    )


def _stages(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Every transition after the job was opened."""
    return [(h["stage"], h["outcome"]) for h in history[1:]]


def test_two_torrents_jobs_run_at_once_on_the_default_pool_of_two(pool: Pool) -> None:
    first, second = _hashes(1, slot=0)[0], _hashes(1, slot=1)[0]
    records = [pool.torrent(first, "One"), pool.torrent(second, "Two")]
    # Each job, as it starts, waits for the other one to have started: with
    # one actor (or both on the same one) the second never could, and the
    # wait breaks.
    both_started = threading.Barrier(2, timeout=20)
    met: dict[str, bool] = {}

    def on_running(info_hash: str, running: bool) -> None:
        if not running or info_hash in met:
            return
        try:
            both_started.wait()
            met[info_hash] = True
        except threading.BrokenBarrierError:
            met[info_hash] = False

    fsops = pool.start(on_running)
    for record in records:
        fsops.post_process(record)
    jobs = [pool.settled(r.info_hash) for r in records]

    histories = [pool.history(job.id) for job in jobs]
    assert pool.settings.workers == 2
    assert met == {first: True, second: True}
    assert [job.status.value for job in jobs] == ["moved", "moved"]
    for record in records:
        library = pool.folders.library / record.name
        assert pool.relocated[record.info_hash] == str(library)
        assert _same_bytes(library, record)
    # The database says so too: each job started before the other finished.
    one, two = histories
    assert one[1]["at"] < two[-1]["at"] and two[1]["at"] < one[-1]["at"]


def test_a_torrent_never_has_two_runs_at_once_however_often_it_is_asked(
    pool: Pool,
) -> None:
    info_hash = _hashes(1)[0]
    record = pool.torrent(info_hash, "Busy")
    running: dict[str, int] = {}
    most = 0
    later: list[pykka.Future[Any]] = []
    sent = threading.Event()
    held = threading.Event()
    lock = threading.Lock()

    def on_running(info_hash: str, now_running: bool) -> None:
        nonlocal most
        with lock:
            running[info_hash] = running.get(info_hash, 0) + (1 if now_running else -1)
            most = max(most, running[info_hash])
            hold = now_running and not held.is_set()
            held.set()
        if not hold:
            return
        # Held here, the first run gives the repeated requests every chance
        # to start a second run of the same job elsewhere in the pool; done
        # right, they wait behind this one and the hold ends after GRACE.
        sent.wait(WAIT)
        deadline = time.monotonic() + GRACE
        for future in later:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except pykka.Timeout:
                return

    fsops = pool.start(on_running)
    fsops.post_process(record)
    later.extend(fsops.post_process(record) for _ in range(3))
    sent.set()
    pykka.get_all(later, timeout=WAIT)
    job = pool.settled(info_hash)

    library = pool.folders.library / "Busy"
    assert most == 1, "two runs of one torrent's job at once"
    assert job.status.value == "moved", job
    assert [j.id for j in pool.jobs_of(info_hash)] == [job.id]
    expected = [(s, o) for s in STAGES for o in ("started", "done")]
    assert _stages(pool.history(job.id)) == expected
    assert _same_bytes(library, record)


def test_a_long_job_holds_up_only_its_own_torrent_while_another_actor_is_idle(
    pool: Pool,
) -> None:
    # Two torrents that hashing the info hash would put on the same actor.
    slow, quick = _hashes(2, slot=0)
    records = [pool.torrent(slow, "Slow"), pool.torrent(quick, "Quick")]
    started = threading.Event()
    release = threading.Event()

    def on_running(info_hash: str, running: bool) -> None:
        # The slow torrent's job stands for a large copy: it goes on only once
        # the test lets it, after the quick one has been filed (or given up).
        if info_hash == slow and running and not started.is_set():
            started.set()
            release.wait(WAIT)

    fsops = pool.start(on_running)
    fsops.post_process(records[0])
    assert started.wait(WAIT)
    fsops.post_process(records[1])
    try:
        quick_job = pool.settled(quick, timeout=20)
    finally:
        release.set()
    slow_job = pool.settled(slow)

    assert quick_job.status.value == "moved", quick_job
    assert slow_job.status.value == "moved", slow_job
    for record in records:
        assert _same_bytes(pool.folders.library / record.name, record)
    # The quick job finished before the slow one was let go.
    assert pool.history(quick_job.id)[-1]["at"] < pool.history(slow_job.id)[1]["at"]


def test_a_torrent_whose_job_waits_between_messages_keeps_its_actor() -> None:
    from revaer_actors.fsops import Reservations

    routes = Reservations()
    waiting = routes.route("waiting", 2, preferred=0)
    # Its job now waits for libtorrent's move or for its retry timer.
    routes.handled("waiting", kept=True)
    busy = routes.route("busy", 2, preferred=0)

    assert (waiting, busy) == (0, 0)
    # Actor 1 is idle, but the waiting job's next message must find it.
    assert routes.route("waiting", 2, preferred=1) == 0
    assert routes.route("new", 2, preferred=0) == 1
    routes.handled("waiting", kept=False)
    routes.handled("busy", kept=False)
    routes.handled("new", kept=False)
    assert routes.route("waiting", 2, preferred=1) == 1


def test_a_file_that_appears_as_libtorrent_starts_moving_is_refused_and_kept(
    pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Move mode with a real libtorrent session: a file filed by somebody else
    after FsOps looked and before libtorrent did makes libtorrent refuse the
    move (fail_if_exist), and that file is not taken for a partial copy."""
    import libtorrent as lt

    from revaer_actors import pipeline
    from revaer_actors.domain import StorageMoved, StorageMoveFailed
    from revaer_actors.session import EngineAdd, SessionActor
    from revaer_actors.settings import Settings
    from revaer_actors.sources import files_of
    from tests.seeder import make_payload, make_torrent

    source = make_payload(
        pool.folders.downloads / "ready", "Race", {"a.bin": 300_000, "b.txt": 99}
    )
    metainfo = make_torrent(source, v1_only=True)
    info = lt.torrent_info(metainfo)
    info_hash = str(info.info_hashes().v1)
    record = TorrentRecord(
        info_hash=info_hash,
        name="Race",
        state=TorrentState.SEEDING,
        save_path=str(source.parent),
        added_at=datetime.now(UTC),
        metainfo=metainfo,
        files=files_of(info),
    )
    pool.persistence.add_torrent(record).get(timeout=WAIT)
    local = Settings(
        listen="127.0.0.1:0", dht=False, lsd=False, upnp=False, natpmp=False
    )
    pool.session = SessionActor.start(local).proxy()
    pool.settings = FsOpsSettings(defaults=Policy(transfer="move"), retry_limit=3)
    fsops = pool.start(lambda info_hash, running: None)

    def engine_event(event: object) -> None:
        if isinstance(event, StorageMoved):
            fsops.storage_moved(event.info_hash, event.path)
        elif isinstance(event, StorageMoveFailed):
            fsops.storage_move_failed(event.info_hash, event.error)

    pool.session.subscribe(engine_event).get(timeout=WAIT)
    pool.session.add_torrent(
        EngineAdd(info_hash, str(source.parent), metainfo=metainfo)
    ).get(timeout=WAIT)
    theirs = pool.folders.library / "Race" / "a.bin"
    real = pipeline.occupied_destinations
    looked = 0

    def injected_race_occupied_destinations(plan: pipeline.Plan) -> list[str]:
        # The race cannot be timed on demand: the file is filed the moment
        # FsOps has looked, so only libtorrent's own check can find it.
        nonlocal looked
        found = real(plan)
        looked += 1
        if looked == 1:
            theirs.parent.mkdir(parents=True, exist_ok=True)
            theirs.write_bytes(b"somebody else's")
        return found

    monkeypatch.setattr(
        pipeline, "occupied_destinations", injected_race_occupied_destinations
    )
    fsops.post_process(record)
    job = pool.settled(info_hash)

    assert job.status.value == "failed", job
    assert job.last_error is not None
    assert job.last_error.startswith("EEXIST: destination appeared while filing")
    assert str(theirs) in job.last_error
    assert job.attempt == 1
    assert theirs.read_bytes() == b"somebody else's"
    assert sorted(p.name for p in (pool.folders.library / "Race").iterdir()) == [
        "a.bin"
    ]
    for name, size in (("a.bin", 300_000), ("b.txt", 99)):
        assert (source / name).stat().st_size == size
