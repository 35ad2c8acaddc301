"""A thread that tells an actor to do something at a fixed interval."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pykka

log = logging.getLogger(__name__)


class Ticker:
    """Calls `tick` every `interval` seconds from its own daemon thread.

    Used to send timer messages to actors (pykka has no timers). The callback
    must only `tell`, never block: an actor that is gone ends the ticker.
    """

    def __init__(self, name: str, interval: float, tick: Callable[[], object]) -> None:
        self._interval = interval
        self._tick = tick
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._tick()
            except pykka.ActorDeadError:
                return
            except Exception:
                log.exception("ticker failed name=%s", self._thread.name)
