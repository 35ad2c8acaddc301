"""The catalog at scale: many torrents, a few hundred active, one daemon.

    python benchmarks/scale.py [--torrents 1000] [--active 200] [--database-url URL]

Adds TORRENTS torrents (ACTIVE of them downloading from a loopback seeder, the
rest paused magnets), waits for the active ones to finish, then prints the
daemon's thread count, its resident memory and the time to list every torrent.
When qbittorrent-nox is installed (Debian package) the same workload runs
against it in the same run and the ratios are printed; otherwise that column
says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import libtorrent as lt  # noqa: E402

from tests.daemon import Daemon, free_port  # noqa: E402
from tests.seeder import LOOPBACK_SETTINGS, make_torrent  # noqa: E402

FINISH_TIMEOUT = 180.0


@dataclass
class Figures:
    threads: int
    rss_mib: float
    list_ms: float
    add_seconds: float
    finish_seconds: float
    finished: int


class Swarm:
    """One libtorrent session seeding ACTIVE small torrents on 127.0.0.1."""

    def __init__(self, root: Path, count: int) -> None:
        # libtorrent's default queue would seed only 5 torrents at once, and
        # its 200-connection cap and accept backlog of 5 would turn away (and
        # so, after three tries, forget) some of the downloader's peers.
        self.session = lt.session(
            {
                **LOOPBACK_SETTINGS,
                "active_seeds": -1,
                "active_limit": -1,
                "connections_limit": 4000,
                "listen_queue_size": 1024,
                "unchoke_slots_limit": -1,
            }
        )
        self.magnets: list[str] = []
        for i in range(count):
            folder = root / f"item-{i:05d}"
            folder.mkdir(parents=True)
            (folder / "data.bin").write_bytes(os.urandom(64 * 1024))
            info = lt.torrent_info(make_torrent(folder))
            params = lt.add_torrent_params()
            params.ti = info
            params.save_path = str(root)
            # The files were just written: seed at once instead of queueing
            # 200 hash checks, during which the peers would be turned away.
            params.flags |= lt.torrent_flags.seed_mode
            params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
            self.session.add_torrent(params)
            self.magnets.append(
                f"magnet:?xt=urn:btih:{info.info_hashes().v1}&dn={folder.name}"
                f"&x.pe=127.0.0.1:{self.session.listen_port()}"
            )


def idle_magnets(count: int) -> list[str]:
    return [f"magnet:?xt=urn:btih:{os.urandom(20).hex()}" for _ in range(count)]


def measure_revaer(
    work: Path, swarm: Swarm, idle: list[str], database_url: str | None
) -> Figures:
    daemon = Daemon(work / "revaer", database_url)
    daemon.start()
    try:
        started = time.perf_counter()
        for magnet in swarm.magnets:
            daemon.api("POST", "/v1/torrents", {"magnet": magnet})
        for magnet in idle:
            daemon.api("POST", "/v1/torrents", {"magnet": magnet, "paused": True})
        added = time.perf_counter() - started

        def finished() -> int:
            items = daemon.torrents()
            return sum(1 for t in items if t["progress"] >= 1.0)

        finish = _wait(lambda: finished() >= len(swarm.magnets)) - started
        list_ms = _median_ms(daemon.torrents)
        assert daemon.process is not None
        process = psutil.Process(daemon.process.pid)
        return Figures(
            process.num_threads(),
            process.memory_info().rss / 2**20,
            list_ms,
            added,
            finish,
            finished(),
        )
    finally:
        daemon.stop()


def measure_qbittorrent(work: Path, swarm: Swarm, idle: list[str]) -> Figures | None:
    binary = shutil.which("qbittorrent-nox")
    if binary is None:
        return None

    profile = work / "qbt"
    port = free_port()
    config = profile / "qBittorrent" / "config"
    config.mkdir(parents=True)
    (config / "qBittorrent.conf").write_text(
        "[LegalNotice]\nAccepted=true\n\n[Preferences]\n"
        "WebUI\\LocalHostAuth=false\nWebUI\\Address=127.0.0.1\n"
        "Connection\\Interface=lo\nBittorrent\\DHT=false\nBittorrent\\LSD=false\n"
        "Bittorrent\\PeX=false\nConnection\\UPnP=false\n"
        "Queueing\\QueueingEnabled=false\n"
        f"Downloads\\SavePath={work / 'qbt-downloads'}\n"
    )
    process = subprocess.Popen(
        [binary, f"--profile={profile}", f"--webui-port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v2"
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(CookieJar())
    )

    def call(path: str, form: dict[str, str] | None = None) -> bytes:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        with opener.open(base + path, data=data, timeout=60) as response:
            return bytes(response.read())

    try:
        _wait(lambda: _answers(call), 60.0)
        started = time.perf_counter()
        for magnet in swarm.magnets:
            call("/torrents/add", {"urls": magnet})
        for magnet in idle:
            call("/torrents/add", {"urls": magnet, "paused": "true"})
        added = time.perf_counter() - started

        def finished() -> int:
            items = json.loads(call("/torrents/info"))
            return sum(1 for t in items if t["progress"] >= 1.0)

        finish = _wait(lambda: finished() >= len(swarm.magnets)) - started
        list_ms = _median_ms(lambda: call("/torrents/info"))
        ps = psutil.Process(process.pid)
        return Figures(
            ps.num_threads(),
            ps.memory_info().rss / 2**20,
            list_ms,
            added,
            finish,
            finished(),
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _answers(call: object) -> bool:
    try:
        call("/app/version")  # type: ignore[operator]
    except OSError:
        return False
    return True


def _wait(predicate: object, timeout: float = FINISH_TIMEOUT) -> float:
    """When predicate() first held, or when the timeout ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            break
        time.sleep(0.5)
    return time.perf_counter()


def _median_ms(work: object, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--torrents", type=int, default=1000)
    parser.add_argument("--active", type=int, default=200)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="revaer-scale-"))
    try:
        swarm = Swarm(work / "seed", args.active)
        idle = idle_magnets(args.torrents - args.active)
        ours = measure_revaer(work, swarm, idle, args.database_url)
        theirs = measure_qbittorrent(work, swarm, idle)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.torrents} torrents, {args.active} active against a loopback seeder")
    print(f"{'':<28}{'revaer':>12}{'qbittorrent-nox':>18}{'ratio':>8}")
    for label, attr, unit in (
        ("threads", "threads", ""),
        ("resident memory", "rss_mib", " MiB"),
        ("list every torrent", "list_ms", " ms"),
        ("add all torrents", "add_seconds", " s"),
        ("active ones finished after", "finish_seconds", " s"),
        ("active ones finished", "finished", ""),
    ):
        mine = getattr(ours, attr)
        if theirs is None:
            print(f"{label:<28}{mine:>10.1f}{unit:<2}{'not installed':>18}")
            continue
        other = getattr(theirs, attr)
        ratio = mine / other if other else float("nan")
        print(f"{label:<28}{mine:>10.1f}{unit:<2}{other:>16.1f}{unit:<2}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
