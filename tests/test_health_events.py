"""health_changed for the engine and FsOps: a dashboard hears when an actor
behind the API stops, without polling /health."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pykka
import pytest
from aiohttp.test_utils import TestClient, TestServer

from revaer_actors import api_health
from revaer_actors.api import Services, create_app
from revaer_actors.events import Event
from revaer_actors.folders import Folders
from revaer_actors.fsops import FsOpsActor, FsOpsPool


class FakeEngineActor(pykka.ThreadingActor):
    """Stands in for the libtorrent session: only its liveness is watched."""


async def _next_health_event(queue: asyncio.Queue[Event | None]) -> Event:
    event = await asyncio.wait_for(queue.get(), 30)
    assert event is not None
    return event


def test_stopping_fsops_and_the_engine_publishes_health_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_health, "HEALTH_WATCH_SECONDS", 0.1)
    folders = Folders(tmp_path / "downloads", tmp_path / "library")
    # Real FsOps actors: nothing here sends them work, so they need no database.
    fsops = FsOpsPool(
        1,
        lambda reserved: FsOpsActor.start(
            None, None, folders, reservations=reserved
        ).proxy(),
    )
    engine = FakeEngineActor.start()
    services = Services(
        None,
        None,
        engine.proxy(),
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        fsops=fsops,
    )
    app = create_app(services)

    async def scenario() -> list[dict[str, Any]]:
        async with TestClient(TestServer(app, host="127.0.0.1")):
            subscription, _ = services.events.subscribe(kinds=["health_changed"])
            # Both are alive: nothing to report yet.
            await asyncio.sleep(0.5)
            assert subscription.queue.empty()
            seen = []
            fsops.stop(timeout=10)
            seen.append(await _next_health_event(subscription.queue))
            engine.stop(timeout=10)
            seen.append(await _next_health_event(subscription.queue))
            return [e.data for e in seen]

    try:
        events = asyncio.run(scenario())
    finally:
        fsops.stop(timeout=10)
        if engine.is_alive():
            engine.stop(timeout=10)

    assert events == [
        {"component": "fsops", "status": "down"},
        {"component": "engine", "status": "down"},
    ]
