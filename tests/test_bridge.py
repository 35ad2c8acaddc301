"""Waiting for an actor from aiohttp's loop leaves the loop free to serve."""

from __future__ import annotations

import asyncio
import threading

import pykka

from revaer_actors.bridge import ActorBridge


class SlowActor(pykka.ThreadingActor):
    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self._release = release

    def answer(self) -> str:
        self._release.wait(timeout=30)
        return "answered"


def test_the_loop_keeps_running_while_an_actor_is_slow() -> None:
    release = threading.Event()
    actor = SlowActor.start(release).proxy()
    bridge = ActorBridge()

    async def scenario() -> tuple[list[str], str]:
        seen: list[str] = []
        waiting = asyncio.create_task(bridge.ask(actor.answer(), timeout=30))
        for step in range(5):
            await asyncio.sleep(0.01)
            seen.append(f"loop ran {step}, actor done={waiting.done()}")
        release.set()
        return seen, await waiting

    try:
        seen, answer = asyncio.run(scenario())
    finally:
        actor.actor_ref.stop()
        bridge.close()

    # Had the wait blocked the loop, no step could run before the release.
    assert seen == [f"loop ran {i}, actor done=False" for i in range(5)]
    assert answer == "answered"
