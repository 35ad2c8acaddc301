"""`transfer/info`, `sync/maindata` and `log/main`."""

from __future__ import annotations

import shutil
from typing import Any

from aiohttp import web

from revaer_actors.domain import TorrentRecord
from revaer_actors.qbittorrent_auth import Session
from revaer_actors.qbittorrent_common import (
    Params,
    Upload,
    facade_of,
    int_param,
    json_body,
    known_categories,
    parse_bool,
    read_context,
    read_records,
    read_settings,
)
from revaer_actors.qbittorrent_view import (
    Context,
    SyncState,
    category_json,
    meta_of,
    torrent_json,
)
from revaer_actors.settings import Settings


async def transfer_info(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    records = await read_records(request)
    settings = await read_settings(request)
    state = _server_state(request, records, settings)
    keys = (
        "dl_info_speed",
        "dl_info_data",
        "up_info_speed",
        "up_info_data",
        "dl_rate_limit",
        "up_rate_limit",
        "dht_nodes",
        "connection_status",
    )
    return json_body({key: state[key] for key in keys})


def _server_state(
    request: web.Request, records: list[TorrentRecord], settings: Settings
) -> dict[str, Any]:
    downloaded = sum(r.downloaded for r in records)
    uploaded = sum(r.uploaded for r in records)
    try:
        free = shutil.disk_usage(facade_of(request).downloads).free
    except OSError:
        free = 0
    return {
        "connection_status": "connected",
        "dht_nodes": 0,
        "dl_info_data": downloaded,
        "up_info_data": uploaded,
        "dl_info_speed": sum(r.download_rate for r in records),
        "up_info_speed": sum(r.upload_rate for r in records),
        "dl_rate_limit": settings.download_limit or 0,
        "up_rate_limit": settings.upload_limit or 0,
        "alltime_dl": downloaded,
        "alltime_ul": uploaded,
        "total_wasted_session": 0,
        "global_ratio": f"{uploaded / downloaded:.2f}" if downloaded else "0.00",
        "read_cache_hits": "0",
        "write_cache_overload": "0",
        "read_cache_overload": "0",
        "total_peer_connections": sum(r.num_peers for r in records),
        "total_buffers_size": 0,
        "queued_io_jobs": 0,
        "average_time_queue": 0,
        "total_queued_size": 0,
        "free_space_on_disk": free,
        "queueing": settings.max_active_downloads >= 0
        or settings.max_active_seeds >= 0,
        "use_alt_speed_limits": False,
        "refresh_interval": 1500,
        "last_external_address_v4": "",
        "last_external_address_v6": "",
    }


def _maindata_torrents(
    records: list[TorrentRecord], ctx: Context
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Torrents by hash (without `hash`), and each tracker's torrents."""
    torrents = {}
    tracker_map: dict[str, list[str]] = {}
    for record in records:
        item = torrent_json(record, ctx)
        del item["hash"]
        torrents[record.info_hash] = item
        for url in meta_of(record).trackers:
            tracker_map.setdefault(url, []).append(record.info_hash)
    return torrents, tracker_map


async def maindata(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    session: Session = request["qbt_session"]
    if session.sync is None:
        session.sync = SyncState()
    records = await read_records(request)
    ctx = await read_context(request, records)
    library = facade_of(request).library
    bridge = facade_of(request).services.bridge
    torrents, tracker_map = await bridge.run(_maindata_torrents, records, ctx)
    snapshot = {
        "torrents": torrents,
        "categories": {
            name: category_json(name, library)
            for name in sorted(await known_categories(request))
        },
        "tags": sorted({tag for r in records for tag in r.tags}),
        "trackers": tracker_map,
        "server_state": _server_state(request, records, ctx.settings),
    }
    try:
        asked = int(params.get("rid", "0") or 0)
    except ValueError:
        asked = 0
    return json_body(session.sync.answer(asked, snapshot))


async def log_main(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    last = int_param(params, "last_known_id")
    wanted = {
        1: parse_bool(params.get("normal")) is not False,
        2: parse_bool(params.get("info")) is not False,
        4: parse_bool(params.get("warning")) is not False,
        8: parse_bool(params.get("critical")) is not False,
    }
    lines = [
        line
        for line in facade_of(request).logs.lines
        if (last is None or line["id"] > last) and wanted[line["type"]]
    ]
    return json_body(lines)
