"""Reading a server-sent event stream, for `revaer tail`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamEvent:
    id: str | None
    kind: str
    data: Any


def parse_stream(lines: Iterable[bytes]) -> Iterator[StreamEvent]:
    """Events from the stream's lines; comments (keep-alives) are skipped."""
    event_id: str | None = None
    kind = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield StreamEvent(event_id, kind, _decode("\n".join(data)))
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
