"""SIGKILL at random moments of an add/pause/resume/remove/complete workload:
after each restart every command the API acknowledged is there, and a download
the API showed complete (from a real seeder on 127.0.0.1) is complete again.
Only a 2xx answer counts as acknowledged.

REVAER_CRASH_POINTS sets how many kill points to try (a handful by default).
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass, field

from tests.daemon import Daemon
from tests.seeder import Seeder

KILL_POINTS = int(os.environ.get("REVAER_CRASH_POINTS", "4"))


@dataclass
class Acknowledged:
    """What the API confirmed; ids with a command in flight are uncertain."""

    present: dict[str, bool] = field(default_factory=dict)  # id -> paused
    absent: set[str] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)


def _completed(daemon: Daemon, info_hash: str) -> bool:
    status, body = daemon.api("GET", f"/v1/torrents/{info_hash}")
    return (
        200 <= status < 300
        and body["completed_at"] is not None
        and body["progress"] == 1.0
    )


def _workload(
    daemon: Daemon, rng: random.Random, seen: Acknowledged, seeder: Seeder
) -> None:
    while True:
        known = list(seen.present)
        choice = rng.random()
        if seeder.info_hash in seen.present:
            try:
                if _completed(daemon, seeder.info_hash):
                    seen.completed.add(seeder.info_hash)
            except Exception:
                return  # killed while asking
        if choice < 0.1 and seeder.info_hash not in seen.present:
            # The complete step: a real download from the loopback seeder.
            info_hash = seeder.info_hash
            request = ("POST", "/v1/torrents", {"magnet": seeder.magnet})
        elif not known or choice < 0.4:
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
    if not 200 <= status < 300:
        if status >= 500:
            seen.uncertain.add(info_hash)  # it may have committed before failing
        return
    kind = body.get("type", "add")
    if kind == "add":
        seen.present[info_hash] = bool(body.get("paused", False))
        seen.absent.discard(info_hash)
    elif kind == "remove":
        seen.present.pop(info_hash, None)
        seen.absent.add(info_hash)
        seen.completed.discard(info_hash)
    elif kind in ("pause", "resume"):
        seen.present[info_hash] = kind == "pause"


def test_every_acknowledged_command_survives_sigkill_at_random_moments(
    daemon: Daemon, seeder: Seeder
) -> None:
    rng = random.Random(20261203)
    seen = Acknowledged()
    completions_seen: set[str] = set()

    for _ in range(KILL_POINTS):
        killer = threading.Timer(
            rng.uniform(0.2, 1.5), daemon.kill9_from_another_thread
        )
        killer.start()
        _workload(daemon, rng, seen, seeder)
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
        for info_hash in seen.completed - seen.uncertain:
            # Boot re-derives it from the files even if the completion event
            # was still in the outbox at the kill.
            daemon.wait_for(
                lambda h=info_hash: _completed(daemon, h),
                f"the completed download to be complete again: {info_hash}",
            )
        # What a killed request did is unknown; from here on, believe the catalog.
        for info_hash in seen.uncertain:
            if info_hash in catalog:
                seen.present[info_hash] = catalog[info_hash][3]
                seen.absent.discard(info_hash)
            else:
                seen.present.pop(info_hash, None)
                seen.absent.add(info_hash)
                seen.completed.discard(info_hash)
        completions_seen |= seen.completed
        seen.uncertain.clear()

    assert len(seen.present) + len(seen.absent) > KILL_POINTS
    assert completions_seen, "no download completed before a kill"
