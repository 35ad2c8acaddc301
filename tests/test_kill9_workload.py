"""SIGKILL at random moments of an add/pause/resume/remove workload: after each
restart every command the API acknowledged is there.

REVAER_CRASH_POINTS sets how many kill points to try (a handful by default).
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass, field

from tests.daemon import Daemon

KILL_POINTS = int(os.environ.get("REVAER_CRASH_POINTS", "4"))


@dataclass
class Acknowledged:
    """What the API confirmed; ids with a command in flight are uncertain."""

    present: dict[str, bool] = field(default_factory=dict)  # id -> paused
    absent: set[str] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)


def _workload(daemon: Daemon, rng: random.Random, seen: Acknowledged) -> None:
    while True:
        known = list(seen.present)
        choice = rng.random()
        if not known or choice < 0.4:
            info_hash = f"{rng.getrandbits(160):040x}"
            request = (
                "POST",
                "/v1/torrents",
                {
                    "magnet": f"magnet:?xt=urn:btih:{info_hash}",
                    "paused": True,
                },
            )
        else:
            info_hash = rng.choice(known)
            kind = rng.choice(["pause", "resume", "remove"])
            request = ("POST", f"/v1/torrents/{info_hash}/action", {"type": kind})
        try:
            status, _ = daemon.api(*request)
        except Exception:
            seen.uncertain.add(info_hash)  # killed mid-request: either outcome
            return
        _record(seen, info_hash, request[2], status)


def _record(seen: Acknowledged, info_hash: str, body: dict, status: int) -> None:
    kind = body.get("type", "add")
    if kind == "add" and status == 201:
        seen.present[info_hash] = True
        seen.absent.discard(info_hash)
    elif kind == "remove" and status == 200:
        seen.present.pop(info_hash, None)
        seen.absent.add(info_hash)
    elif kind in ("pause", "resume") and status == 200:
        seen.present[info_hash] = kind == "pause"


def test_every_acknowledged_command_survives_sigkill_at_random_moments(
    daemon: Daemon,
) -> None:
    rng = random.Random(20261203)
    seen = Acknowledged()

    for _ in range(KILL_POINTS):
        killer = threading.Timer(
            rng.uniform(0.2, 1.5), daemon.kill9_from_another_thread
        )
        killer.start()
        _workload(daemon, rng, seen)
        killer.join()
        daemon.kill9()
        daemon.start()

        catalog = daemon.catalog()
        for info_hash, paused in seen.present.items():
            if info_hash in seen.uncertain:
                continue
            assert info_hash in catalog, f"acknowledged add lost: {info_hash}"
            assert catalog[info_hash][3] is paused, f"pause state lost: {info_hash}"
        for info_hash in seen.absent - seen.uncertain:
            assert info_hash not in catalog, f"acknowledged remove lost: {info_hash}"
        # What a killed request did is unknown; from here on, believe the catalog.
        for info_hash in seen.uncertain:
            if info_hash in catalog:
                seen.present[info_hash] = catalog[info_hash][3]
                seen.absent.discard(info_hash)
            else:
                seen.present.pop(info_hash, None)
                seen.absent.add(info_hash)
        seen.uncertain.clear()

    assert len(seen.present) + len(seen.absent) > KILL_POINTS
