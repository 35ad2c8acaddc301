"""An SSE client for tests, read on a thread as a browser's EventSource would."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from typing import Any

from revaer_actors.sse import parse_stream
from tests.daemon import Daemon


class EventClient:
    """One SSE connection read on a thread, as a browser's EventSource would."""

    def __init__(self, daemon: Daemon, query: str = "", last_id: int | None = None):
        self.events: list[dict[str, Any]] = []
        self.comments = 0
        self._conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
        headers = {"Authorization": f"Bearer {daemon.api_key}"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        self._conn.request("GET", "/v1/events" + query, headers=headers)
        self.response = self._conn.getresponse()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in parse_stream(self._lines()):
                self.events.append(event.data)
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            # AttributeError: http.client, when close() pulls the socket away.
            pass

    def _lines(self) -> Any:
        while True:
            line = self.response.readline()
            if not line:
                return
            if line.startswith(b":"):
                self.comments += 1
            yield line

    def kinds(self, torrent_id: str) -> list[str]:
        return [e["kind"] for e in self.events if e["torrent_id"] == torrent_id]

    def wait_for(self, predicate: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise TimeoutError(f"no {what}; got {self.events}")

    def close(self) -> None:
        # shutdown() wakes the reader thread's blocked recv; close() would not.
        if self._conn.sock is not None:
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()
        self._thread.join(timeout=10)
