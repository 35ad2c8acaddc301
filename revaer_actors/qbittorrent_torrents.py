"""`torrents/*` reads: listings, properties, files, trackers, categories and
tags.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from revaer_actors.domain import TorrentRecord
from revaer_actors.qbittorrent_common import (
    Params,
    QbtError,
    Upload,
    facade_of,
    int_param,
    json_body,
    known_categories,
    parse_bool,
    read_context,
    read_record,
    read_records,
)
from revaer_actors.qbittorrent_view import (
    INFO_FIELDS,
    Context,
    category_json,
    files_json,
    matches_filter,
    properties_json,
    state_of,
    torrent_json,
    trackers_json,
)


async def info(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    records = await read_records(request)
    ctx = await read_context(request, records)
    sort = params.get("sort")
    if sort and sort not in INFO_FIELDS:
        raise QbtError(400, "'sort' parameter is invalid")
    # Off the event loop: a first listing parses every torrent's metainfo.
    result = await facade_of(request).services.bridge.run(
        _listing, records, params, ctx
    )

    if sort:
        # Nulls (`private` without metadata) last, never compared to values.
        result.sort(key=lambda t: (1, 0) if t[sort] is None else (0, t[sort]))
    if parse_bool(params.get("reverse")):
        result.reverse()
    offset = int_param(params, "offset") or 0
    if offset < 0:
        offset = max(len(result) + offset, 0)
    limit = int_param(params, "limit") or 0
    result = result[offset : offset + limit if limit > 0 else None]
    return json_body(result)


def _listing(
    records: list[TorrentRecord], params: Params, ctx: Context
) -> list[dict[str, Any]]:
    return [torrent_json(r, ctx) for r in records if _selected(r, params, ctx)]


def _selected(record: TorrentRecord, params: Params, ctx: Context) -> bool:
    state = state_of(record, record.info_hash in ctx.moving)
    if not matches_filter(params.get("filter", "all"), state, record):
        return False
    if "category" in params:
        wanted = params["category"]
        category = record.category or ""
        if wanted == "" and category:
            return False
        if wanted and category != wanted and not category.startswith(wanted + "/"):
            return False
    if "tag" in params:
        tag = params["tag"]
        if (tag == "" and record.tags) or (tag and tag not in record.tags):
            return False
    if "hashes" in params:
        wanted_hashes = {h.strip().lower() for h in params["hashes"].split("|")}
        if "all" not in wanted_hashes and record.info_hash not in wanted_hashes:
            return False
    return True


async def properties(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    record = await read_record(request, params)
    ctx = await read_context(request, [record])
    return json_body(properties_json(record, ctx))


async def files(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    record = await read_record(request, params)
    indexes = None
    if params.get("indexes"):
        try:
            indexes = {int(i) for i in params["indexes"].split("|")}
        except ValueError:
            raise QbtError(409, "'indexes' must be whole numbers") from None
        if any(not 0 <= i < len(record.files) for i in indexes):
            raise QbtError(409, "file index out of range")
    live = await _live(request, record.info_hash)
    return json_body(files_json(record, live, indexes))


async def trackers(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    record = await read_record(request, params)
    return json_body(trackers_json(await _live(request, record.info_hash)))


async def _live(request: web.Request, info_hash: str) -> dict[str, Any] | None:
    services = facade_of(request).services
    live: dict[str, Any] | None = await services.bridge.ask(
        services.session.inspect(info_hash)
    )
    return live


async def categories(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    library = facade_of(request).library
    names = sorted(await known_categories(request))
    return json_body({name: category_json(name, library) for name in names})


async def tags(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    records = await read_records(request)
    return json_body(sorted({tag for r in records for tag in r.tags}))
