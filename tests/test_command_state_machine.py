"""Random command sequences against a real daemon: after every step the
catalog (API), libtorrent's view and a plain model agree, and after a restart
the database does too."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.daemon import Daemon

HASHES = [f"{n:x}" * 40 for n in range(1, 7)]
CATEGORIES = st.sampled_from([None, "tv", "movies"])
TAGS = st.lists(st.sampled_from(["hd", "fr", "keep"]), max_size=3, unique=True)
LIMITS = st.sampled_from([0, 10_000, 250_000])


@dataclass(frozen=True)
class Model:
    paused: bool
    category: str | None = None
    tags: tuple[str, ...] = ()
    sequential: bool = False
    download_limit: int | None = None
    upload_limit: int | None = None


@dataclass
class World:
    daemon: Daemon
    database_url: str
    restarts: int = 0
    model: dict[str, Model] = field(default_factory=dict)


class CommandMachine(RuleBasedStateMachine):
    world: World
    # Ids that were added at some point (some since removed, which the model
    # knows): commands mostly target these, so they meet real torrents.
    added = Bundle("added")

    @initialize()
    def start_clean(self) -> None:
        for item in self.world.daemon.api("GET", "/v1/torrents")[1]["items"]:
            self._act(item["id"], {"type": "remove"})
        self.world.model = {}
        self.world.restarts = 0

    def _act(self, info_hash: str, body: dict[str, Any]) -> tuple[int, Any]:
        return self.world.daemon.api("POST", f"/v1/torrents/{info_hash}/action", body)

    def _expect(self, info_hash: str, status: int) -> None:
        known = info_hash in self.world.model
        assert status == (200 if known else 404), (info_hash, status)

    @rule(
        target=added,
        info_hash=st.sampled_from(HASHES),
        paused=st.booleans(),
        category=CATEGORIES,
        tags=TAGS,
    )
    def add(
        self, info_hash: str, paused: bool, category: str | None, tags: list[str]
    ) -> str:
        body: dict[str, Any] = {
            "magnet": f"magnet:?xt=urn:btih:{info_hash}",
            "paused": paused,
            "tags": tags,
        }
        if category:
            body["category"] = category
        status, _ = self.world.daemon.api("POST", "/v1/torrents", body)
        if info_hash in self.world.model:
            assert status == 409
            return info_hash
        assert status == 201
        self.world.model[info_hash] = Model(paused, category, tuple(tags))
        return info_hash

    @rule(info_hash=added, paused=st.booleans())
    def pause_or_resume(self, info_hash: str, paused: bool) -> None:
        status, _ = self._act(info_hash, {"type": "pause" if paused else "resume"})
        self._expect(info_hash, status)
        if status == 200:
            self._change(info_hash, paused=paused)

    @rule(info_hash=added | st.sampled_from(HASHES))
    def remove(self, info_hash: str) -> None:
        status, _ = self._act(info_hash, {"type": "remove"})
        self._expect(info_hash, status)
        self.world.model.pop(info_hash, None)

    @rule(info_hash=added, category=CATEGORIES, tags=TAGS)
    def label(self, info_hash: str, category: str | None, tags: list[str]) -> None:
        first, _ = self._act(info_hash, {"type": "category", "category": category})
        second, _ = self._act(info_hash, {"type": "tags", "tags": tags})
        self._expect(info_hash, first)
        self._expect(info_hash, second)
        if first == 200:
            self._change(info_hash, category=category, tags=tuple(tags))

    @rule(info_hash=added, enable=st.booleans())
    def sequential(self, info_hash: str, enable: bool) -> None:
        status, _ = self._act(info_hash, {"type": "sequential", "enable": enable})
        self._expect(info_hash, status)
        if status == 200:
            self._change(info_hash, sequential=enable)

    @rule(info_hash=added, down=LIMITS, up=LIMITS)
    def rate(self, info_hash: str, down: int, up: int) -> None:
        body = {"type": "rate", "download_limit": down, "upload_limit": up}
        status, _ = self._act(info_hash, body)
        self._expect(info_hash, status)
        if status == 200:
            self._change(
                info_hash, download_limit=down or None, upload_limit=up or None
            )

    @precondition(lambda self: self.world.restarts < 1)
    @rule()
    def restart(self) -> None:
        self.world.restarts += 1
        self.world.daemon.stop()
        self._check_database()
        self.world.daemon.start()

    def _change(self, info_hash: str, **changes: Any) -> None:
        self.world.model[info_hash] = replace(self.world.model[info_hash], **changes)

    def _check_database(self) -> None:
        with psycopg.connect(self.world.database_url) as conn:
            rows = conn.execute(
                "SELECT info_hash, paused, category, tags, sequential,"
                " download_limit, upload_limit FROM revaer_runtime.torrents"
            ).fetchall()
        stored = {
            row[0]: Model(row[1], row[2], tuple(row[3]), row[4], row[5], row[6])
            for row in rows
        }
        assert stored == self.world.model

    @invariant()
    def catalog_engine_and_model_agree(self) -> None:
        items = self.world.daemon.api("GET", "/v1/torrents")[1]["items"]
        assert {t["id"] for t in items} == set(self.world.model)
        for info_hash, expected in self.world.model.items():
            detail = self.world.daemon.api("GET", f"/v1/torrents/{info_hash}")[1]
            shown = Model(
                detail["paused"],
                detail["category"],
                tuple(detail["tags"]),
                detail["sequential"],
                detail["download_limit"],
                detail["upload_limit"],
            )
            assert shown == expected
            engine = detail["engine"]
            assert engine["paused"] == expected.paused
            assert engine["sequential"] == expected.sequential
            assert engine["download_limit"] == (expected.download_limit or -1) or (
                expected.download_limit is None and engine["download_limit"] == 0
            )


@pytest.fixture
def machine_world(daemon: Daemon, database_url: str) -> World:
    return World(daemon, database_url)


def test_random_command_sequences_keep_catalog_engine_and_model_in_step(
    machine_world: World,
) -> None:
    CommandMachine.world = machine_world
    runner = CommandMachine.TestCase()
    runner.settings = settings(
        max_examples=15,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    runner.runTest()
