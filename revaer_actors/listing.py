"""Filtering, sorting and cursor pagination of the torrent list.

Pages are cut by keyset, not by offset: the cursor holds the sort key of the
last torrent shown, and the next page starts strictly after it. A torrent
added between two requests therefore never shifts the others, so pages
neither repeat nor skip a torrent.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from revaer_actors.domain import TorrentRecord, TorrentState
from revaer_actors.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
SORTS = ("added_at", "name", "progress")
ORDERS = ("asc", "desc")
MAX_CURSOR_CHARS = 1024


@dataclass(frozen=True)
class Query:
    limit: int = DEFAULT_LIMIT
    sort: str = "added_at"
    order: str = "asc"
    after: tuple[Any, str] | None = None
    state: TorrentState | None = None
    category: str | None = None
    tag: str | None = None
    name: str | None = None

    def matches(self, record: TorrentRecord) -> bool:
        if self.state is not None and record.state != self.state:
            return False
        if self.category is not None and record.category != self.category:
            return False
        if self.tag is not None and self.tag not in record.tags:
            return False
        return self.name is None or self.name.casefold() in record.name.casefold()


def parse_query(params: Mapping[str, str]) -> Query:
    """The list query from URL parameters; InvalidInput names a bad one."""
    sort = _choice(params, "sort", SORTS, "added_at")
    order = _choice(params, "order", ORDERS, "asc")
    state = params.get("state")
    if state is not None and state not in TorrentState.__members__.values():
        raise InvalidInput(
            f"state must be one of {', '.join(TorrentState)}", field="state"
        )

    return Query(
        limit=_limit(params.get("limit")),
        sort=sort,
        order=order,
        after=_cursor(params.get("cursor"), sort, order),
        state=TorrentState(state) if state is not None else None,
        category=params.get("category"),
        tag=params.get("tag"),
        name=params.get("name"),
    )


def page(
    records: Iterable[TorrentRecord], query: Query
) -> tuple[list[TorrentRecord], str | None]:
    """One page of matching torrents and the cursor of the next, if any."""
    matching = [
        r
        for r in records
        if query.matches(r) and (query.after is None or _beyond(r, query))
    ]
    # Only one page more than asked is needed, not the whole order.
    pick = heapq.nlargest if query.order == "desc" else heapq.nsmallest
    chosen = pick(query.limit + 1, matching, key=lambda r: sort_key(r, query.sort))

    shown = chosen[: query.limit]
    if len(chosen) <= query.limit:
        return shown, None
    return shown, encode_cursor(sort_key(shown[-1], query.sort), query)


def sort_key(record: TorrentRecord, sort: str) -> tuple[Any, str]:
    # The id breaks ties, so the order is total and a cursor is exact.
    if sort == "name":
        return (record.name.casefold(), record.info_hash)
    if sort == "progress":
        return (record.progress, record.info_hash)
    return (record.added_at, record.info_hash)


def encode_cursor(key: tuple[Any, str], query: Query) -> str:
    value = key[0].isoformat() if isinstance(key[0], datetime) else key[0]
    raw = json.dumps([query.sort, query.order, value, key[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _beyond(record: TorrentRecord, query: Query) -> bool:
    assert query.after is not None
    key = sort_key(record, query.sort)
    return key < query.after if query.order == "desc" else key > query.after


def _choice(
    params: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str
) -> str:
    value = params.get(name, default)
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}", field=name)
    return value


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not (
        1 <= int(raw) <= MAX_LIMIT
    ):
        raise InvalidInput(
            f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit"
        )
    return int(raw)


def _cursor(raw: str | None, sort: str, order: str) -> tuple[Any, str] | None:
    if raw is None:
        return None
    try:
        if len(raw) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        padded = raw + "=" * (-len(raw) % 4)
        cur_sort, cur_order, value, info_hash = json.loads(
            base64.urlsafe_b64decode(padded.encode("ascii"))
        )
        if (cur_sort, cur_order) != (sort, order) or not isinstance(info_hash, str):
            raise ValueError("cursor of another sort")
        return (_key_value(sort, value), info_hash)
    except (ValueError, TypeError, OverflowError, UnicodeError, binascii.Error):
        raise InvalidInput(
            "cursor is not one this server gave for this sort and order; "
            "start again without it",
            field="cursor",
        ) from None


def _key_value(sort: str, value: Any) -> Any:
    if sort == "added_at" and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("cursor time without a zone")
        return moment
    if sort == "name" and isinstance(value, str):
        return value
    if sort == "progress" and isinstance(value, int | float):
        progress = float(value)
        if not 0.0 <= progress <= 1.0:
            raise ValueError("cursor progress out of range")
        return progress
    raise ValueError("cursor value does not fit its sort")
