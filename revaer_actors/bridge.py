"""Waiting for actors from asyncio without stalling the event loop.

pykka futures are awaitable, but their `__await__` ends in a blocking `get()`,
which freezes the whole loop until the actor answers. Instead the wait happens
on a small pool of threads and the loop is woken when the answer is there.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pykka

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0


class ActorBridge:
    """Runs blocking waits (actor answers, pool reads) off the event loop."""

    def __init__(self, workers: int = 16) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="actor-wait")

    async def ask(self, future: pykka.Future[T], timeout: float = DEFAULT_TIMEOUT) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(future.get, timeout=timeout)
        )

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
