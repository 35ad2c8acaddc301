"""`torrents/*` changes: adding, removing, starting and stopping torrents,
their categories, tags, share limits, queue places and folders.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from revaer_actors import sources
from revaer_actors.commands import (
    ForceStart,
    Move,
    Pause,
    Priority,
    Reannounce,
    Recheck,
    Remove,
    Resume,
    SetCategory,
    SetGoals,
    SetTags,
)
from revaer_actors.errors import EngineError, InvalidInput, TorrentExists
from revaer_actors.fetch import fetch_torrent
from revaer_actors.layout import parse_layout
from revaer_actors.qbittorrent_common import (
    Params,
    QbtError,
    Upload,
    facade_of,
    float_param,
    for_each,
    int_param,
    known_categories,
    parse_bool,
    read_records,
    read_settings,
    require,
    selected_hashes,
    send_command,
    text,
)

log = logging.getLogger(__name__)


async def add(
    request: web.Request, params: Params, uploads: list[Upload]
) -> web.Response:
    options = await _add_options(request, params)
    added, refused, reasons = 0, 0, []

    parsed_uploads = []
    for filename, data in uploads:
        try:
            sources.parse_metainfo(data)
        except InvalidInput:
            raise QbtError(
                415, f"Error: '{filename}' is not a valid torrent file."
            ) from None
        parsed_uploads.append(data)

    items: list[dict[str, Any]] = [{"metainfo": data} for data in parsed_uploads]
    for url in params.get("urls", "").splitlines():
        url = url.strip()
        if url:
            items.append({"url": url})

    for item in items:
        try:
            await _add_one(request, item, options)
            added += 1
        except TorrentExists as exc:
            refused += 1
            log.info("qbittorrent api add duplicate info_hash=%s", exc.info_hash)
        except (InvalidInput, EngineError) as exc:
            refused += 1
            reasons.append(str(exc))
            log.info("qbittorrent api add refused cause=%s", exc)
    if added or not items:
        return text("Ok." if added else "Fails.")
    if reasons and len(reasons) == refused:
        return text(reasons[0], 400)
    return text("Fails.")


async def _add_one(
    request: web.Request, item: dict[str, Any], options: dict[str, Any]
) -> None:
    services = facade_of(request).services
    magnet, metainfo = None, item.get("metainfo")
    url = item.get("url")
    if url is not None:
        if re.fullmatch(r"[0-9a-fA-F]{40}", url):
            url = f"magnet:?xt=urn:btih:{url.lower()}"
        if url.startswith("magnet:"):
            magnet = url
        else:
            fetched = await fetch_torrent(url)
            magnet, metainfo = fetched.magnet, fetched.metainfo

    request_ = await services.bridge.run(
        lambda: sources.add_request(options=options, magnet=magnet, metainfo=metainfo)
    )
    await services.bridge.ask(services.orchestrator.add(request_))


async def _add_options(request: web.Request, params: Params) -> dict[str, Any]:
    """The add parameters as our add options; a bad value is a 400."""
    options: dict[str, Any] = {}
    category = params.get("category", "").strip()
    if category:
        sources.parse_label(category, "/category")
        options["category"] = category
    if params.get("tags"):
        options["tags"] = [t.strip() for t in params["tags"].split(",") if t.strip()]
    stopped = parse_bool(params.get("stopped"))
    paused = parse_bool(params.get("paused"))
    options["paused"] = bool(stopped if stopped is not None else paused)
    options["sequential"] = bool(parse_bool(params.get("sequentialDownload")))
    options["first_last_piece"] = bool(parse_bool(params.get("firstLastPiecePrio")))
    if params.get("contentLayout"):
        # Checked here so that a bad name is a 400 before any add.
        options["content_layout"] = parse_layout(
            params["contentLayout"].strip(), "/contentLayout"
        ).value
    if params.get("savepath"):
        options["save_path"] = params["savepath"]
    for theirs, ours in (("upLimit", "upload_limit"), ("dlLimit", "download_limit")):
        value = int_param(params, theirs)
        if value is not None and value > 0:
            options[ours] = value
    ratio = float_param(params, "ratioLimit")
    if ratio is not None and ratio != -2:
        options["ratio_limit"] = -1 if ratio < 0 else ratio
    minutes = int_param(params, "seedingTimeLimit")
    if minutes is not None and minutes != -2:
        options["seeding_time_limit"] = -1 if minutes < 0 else minutes
    # Checked now, so that a bad option is one clear 400 before any add.
    if "save_path" in options:
        sources.parse_save_path(options["save_path"], "/savepath")
    sources.parse_tags(options.get("tags", []))
    sources.parse_rate_limit(options.get("upload_limit"), "/upLimit")
    sources.parse_rate_limit(options.get("download_limit"), "/dlLimit")
    sources.parse_ratio_limit(options.get("ratio_limit"), "/ratioLimit")
    sources.parse_minutes(options.get("seeding_time_limit"), "/seedingTimeLimit")
    if category:
        await _ensure_category(request, category)
    return options


async def _ensure_category(request: web.Request, name: str) -> None:
    """As qBittorrent: an add naming an unknown category creates it."""
    if name in await known_categories(request):
        return
    await _store_category(request, name)


async def _store_category(request: web.Request, name: str) -> bool:
    facade = facade_of(request)
    created: bool = await facade.services.bridge.ask(
        facade.services.persistence.add_category(name)
    )
    facade.categories.add(name)
    if created:
        log.info("category created name=%s", name)
    return created


async def delete(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    # The *arr clients leave deleteFiles out when they keep the data.
    remove = Remove(delete_data=bool(parse_bool(params.get("deleteFiles"))))
    return await for_each(request, params, remove)


async def stop(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    return await for_each(request, params, Pause())


async def start(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    return await for_each(request, params, Resume())


async def recheck(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return await for_each(request, params, Recheck())


async def reannounce(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return await for_each(request, params, Reannounce())


async def set_category(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    require(params, "hashes", "category")
    name = params["category"].strip()
    if name and name not in await known_categories(request):
        raise QbtError(409, "Incorrect category name")
    return await for_each(request, params, SetCategory(name or None))


async def create_category(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    require(params, "category")
    name = params["category"].strip()
    if not name:
        raise QbtError(400, "Category cannot be empty")
    _check_category(name)
    _check_save_path(request, name, params.get("savePath", ""))
    if name in await known_categories(request):
        raise QbtError(409, "Unable to create category")
    if not await _store_category(request, name):
        raise QbtError(409, "Unable to create category")
    return text("")


async def edit_category(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    require(params, "category", "savePath")
    name = params["category"].strip()
    if name not in await known_categories(request):
        raise QbtError(409, "Unable to edit category")
    _check_save_path(request, name, params["savePath"])
    return text("")


def _check_category(name: str) -> None:
    try:
        sources.parse_label(name, "/category")
    except InvalidInput:
        raise QbtError(409, "Incorrect category name") from None


def _check_save_path(request: web.Request, name: str, asked: str) -> None:
    """A category's folder is where FsOps files it; no other can be honoured."""
    library = facade_of(request).library
    if asked.strip() in ("", str(library / name), str(library), name):
        return
    raise QbtError(
        400,
        f"savePath is fixed by the library layout: {library / name}; leave it empty",
    )


async def remove_categories(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    require(params, "categories")
    names = [n.strip() for n in params["categories"].splitlines() if n.strip()]
    facade = facade_of(request)
    await facade.services.bridge.ask(
        facade.services.persistence.remove_categories(names)
    )
    facade.categories.difference_update(names)
    for record in await read_records(request):
        if record.category in names:
            await send_command(request, record.info_hash, SetCategory(None))
    return text("")


async def add_tags(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    require(params, "hashes", "tags")
    new = _tag_list(params["tags"])
    return await _retag(request, params, lambda tags: (*tags, *new))


async def remove_tags(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    require(params, "hashes")
    gone = set(_tag_list(params.get("tags", "")))
    if not gone:
        return await _retag(request, params, lambda tags: ())
    return await _retag(
        request, params, lambda tags: [t for t in tags if t not in gone]
    )


def _tag_list(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


async def _retag(
    request: web.Request, params: Params, change: Callable[[Any], Any]
) -> web.Response:
    records = {r.info_hash: r for r in await read_records(request)}
    for info_hash in selected_hashes(params, list(records.values())):
        tags = sources.parse_tags(list(change(records[info_hash].tags)))
        if tags != records[info_hash].tags:
            await send_command(request, info_hash, SetTags(tags))
    return text("")


async def set_share_limits(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    require(params, "hashes", "ratioLimit", "seedingTimeLimit")
    ratio = float_param(params, "ratioLimit")
    minutes = int_param(params, "seedingTimeLimit")
    goals = SetGoals(
        ratio_limit=None if ratio is None or ratio == -2 else max(ratio, -1.0),
        seeding_time_limit=(
            None if minutes is None or minutes == -2 else max(minutes, -1)
        ),
    )
    sources.parse_ratio_limit(goals.ratio_limit, "/ratioLimit")
    sources.parse_minutes(goals.seeding_time_limit, "/seedingTimeLimit")
    return await for_each(request, params, goals)


async def top_prio(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return await _queue_move(request, params, "top")


async def bottom_prio(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return await _queue_move(request, params, "bottom")


async def _queue_move(request: web.Request, params: Params, move: str) -> web.Response:
    require(params, "hashes")
    settings = await read_settings(request)
    if settings.max_active_downloads < 0 and settings.max_active_seeds < 0:
        raise QbtError(409, "Torrent queueing must be enabled")
    return await for_each(request, params, Priority(move))


async def set_force_start(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    require(params, "hashes", "value")
    return await for_each(
        request, params, ForceStart(bool(parse_bool(params["value"])))
    )


async def set_location(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    require(params, "hashes", "location")
    location = params["location"].strip()
    if not location:
        raise QbtError(400, "Save path cannot be empty")
    try:
        sources.parse_save_path(location, "/location")
    except InvalidInput as exc:
        raise QbtError(400, exc.detail) from None
    try:
        return await for_each(request, params, Move(save_path=location))
    except InvalidInput as exc:
        raise QbtError(409, exc.detail) from None
