"""The qBittorrent-compatible Web API under /api/v2, for Sonarr, Radarr,
Prowlarr, qbittorrent-api and VueTorrent.

It is a sub-application with middlewares of its own: errors are plain text
with qBittorrent's status codes (never /v1's Problem+JSON), and every call but
`auth/login` needs a session. Requests become the same orchestrator commands
as /v1; only the names, units and state strings are qBittorrent's.
"""

from __future__ import annotations

import logging
from typing import Any

import pykka
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from revaer_actors import qbittorrent_auth as auth
from revaer_actors import qbittorrent_changes as changes
from revaer_actors import qbittorrent_prefs as prefs
from revaer_actors import qbittorrent_sync as sync
from revaer_actors import qbittorrent_torrents as torrents
from revaer_actors import sources
from revaer_actors.errors import (
    DatabaseUnavailable,
    EngineError,
    InvalidInput,
    TorrentNotFound,
)
from revaer_actors.folders import Folders
from revaer_actors.qbittorrent_auth import Gatekeeper, password_hash
from revaer_actors.qbittorrent_common import (
    FACADE,
    PREFIX,
    Facade,
    Handler,
    Next,
    Params,
    QbtError,
    Upload,
    text,
)

# Several .torrent files in one add; an urlencoded body is held to the app's
# client_max_size instead.
MAX_FORM_BYTES = 2 * sources.MAX_METAINFO_BYTES


def mount(app: web.Application, services: Any) -> None:
    """Serves the façade under /api/v2 of `app` (when the daemon has a config)."""
    config = getattr(services, "config", None)
    if config is None:
        return
    sub = web.Application(middlewares=[plain_errors, auth.authenticate])
    sub[FACADE] = Facade(
        services=services,
        data_dir=config.data_dir,
        folders=getattr(services, "folders", None)
        or Folders(config.downloads_dir, config.library_dir),
        gate=Gatekeeper(config.qbittorrent.username),
    )
    sub.on_startup.append(_start)
    sub.on_cleanup.append(_stop)
    sub.router.add_route("*", "/{scope}/{action}", dispatch)
    sub.router.add_route("*", "/{tail:.*}", _not_found)
    app.add_subapp(PREFIX, sub)


async def _start(app: web.Application) -> None:
    facade = app[FACADE]
    services = facade.services
    config = services.config
    facade.gate.password_hash = await services.bridge.run(
        password_hash, config.qbittorrent, config.data_dir, services.persistence
    )
    stored = await services.bridge.ask(services.persistence.load_categories())
    facade.categories.update(stored)
    logging.getLogger().addHandler(facade.logs)


async def _stop(app: web.Application) -> None:
    logging.getLogger().removeHandler(app[FACADE].logs)


# Middlewares.


@web.middleware
async def plain_errors(request: web.Request, handler: Next) -> web.StreamResponse:
    try:
        return await handler(request)
    except QbtError as exc:
        return text(exc.text, exc.status)
    except InvalidInput as exc:
        return text(exc.detail, 400)
    except TorrentNotFound:
        return text("Not Found", 404)
    except DatabaseUnavailable as exc:
        return text(str(exc), 503)
    except pykka.Timeout:
        return text("the daemon did not answer in time; try again later", 503)
    except EngineError as exc:
        return text(exc.detail, 409)
    except web.HTTPRequestEntityTooLarge:
        return text("Payload Too Large", 413)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return text(exc.reason, exc.status)


# Dispatch.


async def dispatch(request: web.Request) -> web.StreamResponse:
    key = (request.match_info["scope"], request.match_info["action"])
    route = ROUTES.get(key)
    if route is None:
        return text("Endpoint does not exist", 404)
    handler, post_only = route
    if request.method not in ("GET", "HEAD", "POST"):
        return text("Method Not Allowed", 405)
    if post_only and request.method != "POST":
        return text("Method Not Allowed", 405)
    params, uploads = await _params(request)
    return await handler(request, params, uploads)


async def _not_found(request: web.Request) -> web.StreamResponse:
    return text("Endpoint does not exist", 404)


async def _params(request: web.Request) -> tuple[Params, list[Upload]]:
    """Query parameters, then (for POST) the form body, urlencoded or multipart.

    Every multipart part with a filename is a torrent file, whatever its name,
    as qBittorrent reads them.
    """
    params: Params = dict(request.query)
    uploads: list[Upload] = []
    if request.method != "POST" or not request.body_exists:
        return params, uploads
    try:
        await _read_form(request, params, uploads)
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        # aiohttp's form parsers: bad encodings, boundaries or part headers.
        raise QbtError(400, f"malformed form body: {exc}") from None
    return params, uploads


async def _read_form(
    request: web.Request, params: Params, uploads: list[Upload]
) -> None:
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        budget = MAX_FORM_BYTES
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                raise QbtError(400, "nested multipart bodies are not accepted")
            data = await _read_part(part, budget)
            budget -= len(data)
            if part.filename is not None:
                uploads.append((part.filename, data))
            elif part.name:
                params[part.name] = data.decode("utf-8", errors="replace")
        return
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, str):
            params[name] = value
        elif isinstance(value, web.FileField):
            uploads.append((value.filename, value.file.read()))


async def _read_part(part: BodyPartReader, budget: int) -> bytes:
    """One part, refused once the whole body passes MAX_FORM_BYTES."""
    chunks = []
    size = 0
    while chunk := await part.read_chunk():
        size += len(chunk)
        if size > budget:
            raise QbtError(413, f"the body is larger than {MAX_FORM_BYTES} bytes")
        chunks.append(chunk)
    return bytes(part.decode(b"".join(chunks)))


ROUTES: dict[tuple[str, str], tuple[Handler, bool]] = {
    ("auth", "login"): (auth.login, True),
    ("auth", "logout"): (auth.logout, True),
    ("app", "webapiVersion"): (prefs.web_api_version, False),
    ("app", "version"): (prefs.app_version, False),
    ("app", "buildInfo"): (prefs.build_info, False),
    ("app", "preferences"): (prefs.preferences, False),
    ("app", "setPreferences"): (prefs.set_preferences, True),
    ("app", "defaultSavePath"): (prefs.default_save_path, False),
    ("torrents", "info"): (torrents.info, False),
    ("torrents", "properties"): (torrents.properties, False),
    ("torrents", "files"): (torrents.files, False),
    ("torrents", "trackers"): (torrents.trackers, False),
    ("torrents", "categories"): (torrents.categories, False),
    ("torrents", "tags"): (torrents.tags, False),
    ("torrents", "add"): (changes.add, True),
    ("torrents", "delete"): (changes.delete, True),
    ("torrents", "stop"): (changes.stop, True),
    ("torrents", "pause"): (changes.stop, True),
    ("torrents", "start"): (changes.start, True),
    ("torrents", "resume"): (changes.start, True),
    ("torrents", "recheck"): (changes.recheck, True),
    ("torrents", "reannounce"): (changes.reannounce, True),
    ("torrents", "setCategory"): (changes.set_category, True),
    ("torrents", "createCategory"): (changes.create_category, True),
    ("torrents", "editCategory"): (changes.edit_category, True),
    ("torrents", "removeCategories"): (changes.remove_categories, True),
    ("torrents", "addTags"): (changes.add_tags, True),
    ("torrents", "removeTags"): (changes.remove_tags, True),
    ("torrents", "setShareLimits"): (changes.set_share_limits, True),
    ("torrents", "topPrio"): (changes.top_prio, True),
    ("torrents", "bottomPrio"): (changes.bottom_prio, True),
    ("torrents", "setForceStart"): (changes.set_force_start, True),
    ("torrents", "setLocation"): (changes.set_location, True),
    ("transfer", "info"): (sync.transfer_info, False),
    ("sync", "maindata"): (sync.maindata, False),
    ("log", "main"): (sync.log_main, False),
}
