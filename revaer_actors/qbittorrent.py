"""The qBittorrent-compatible Web API under /api/v2, for Sonarr, Radarr,
Prowlarr, qbittorrent-api and VueTorrent.

It is a sub-application with middlewares of its own: errors are plain text
with qBittorrent's status codes (never /v1's Problem+JSON), and every call but
`auth/login` needs a session. Requests become the same orchestrator commands
as /v1; only the names, units and state strings are qBittorrent's.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import itertools
import json
import logging
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import libtorrent as lt
import pykka
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from revaer_actors import repository, sources
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
from revaer_actors.domain import JobStatus, TorrentRecord
from revaer_actors.errors import (
    DatabaseUnavailable,
    EngineError,
    InvalidInput,
    TorrentExists,
    TorrentNotFound,
)
from revaer_actors.fetch import fetch_torrent
from revaer_actors.folders import Folders
from revaer_actors.qbittorrent_auth import (
    BANNED_TEXT,
    Gatekeeper,
    Session,
    api_key_valid,
    password_hash,
)
from revaer_actors.qbittorrent_view import (
    INFO_FIELDS,
    Context,
    SyncState,
    category_json,
    files_json,
    is_complete,
    matches_filter,
    meta_of,
    properties_json,
    state_of,
    torrent_json,
    trackers_json,
)
from revaer_actors.settings import Settings, apply_patch

log = logging.getLogger(__name__)

PREFIX = "/api/v2"
WEB_API_VERSION = "2.11.4"
APP_VERSION = "v5.1.0"
COOKIE = "SID"
LOG_LINES = 1000
# Several .torrent files in one add; an urlencoded body is held to the app's
# client_max_size instead.
MAX_FORM_BYTES = 2 * sources.MAX_METAINFO_BYTES
Params = dict[str, str]
Upload = tuple[str, bytes]
Handler = Callable[[web.Request, Params, list[Upload]], Awaitable[web.StreamResponse]]
Next = Callable[[web.Request], Awaitable[web.StreamResponse]]


class QbtError(Exception):
    """An answer with qBittorrent's status code and a plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def text(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/plain")


def _json(body: Any) -> web.Response:
    return web.json_response(body)


class LogBuffer(logging.Handler):
    """The daemon's recent log lines, for `log/main`."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=LOG_LINES
        )
        self._ids = itertools.count()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            kind = 8
        elif record.levelno >= logging.WARNING:
            kind = 4
        else:
            kind = 2
        self.lines.append(
            {
                "id": next(self._ids),
                "message": message,
                "timestamp": int(record.created),
                "type": kind,
            }
        )


@dataclass
class Facade:
    services: Any
    data_dir: Path
    folders: Folders
    gate: Gatekeeper
    categories: set[str] = field(default_factory=set)
    logs: LogBuffer = field(default_factory=LogBuffer)
    bearer_sessions: dict[str, Session] = field(default_factory=dict)

    @property
    def downloads(self) -> Path:
        return self.folders.downloads

    @property
    def library(self) -> Path:
        return self.folders.library


FACADE = web.AppKey("qbittorrent", Facade)


def mount(app: web.Application, services: Any) -> None:
    """Serves the façade under /api/v2 of `app` (when the daemon has a config)."""
    config = getattr(services, "config", None)
    if config is None:
        return
    sub = web.Application(middlewares=[plain_errors, authenticate])
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


@web.middleware
async def authenticate(request: web.Request, handler: Next) -> web.StreamResponse:
    facade = request.app[FACADE]
    if _cross_site(request):
        log.info("qbittorrent api cross-site request refused path=%s", request.path)
        return text("Unauthorized", 401)

    action = request.path[len(PREFIX) :].strip("/")
    authorization = request.headers.get("Authorization", "")
    if action.startswith("auth/") and authorization.startswith("Bearer "):
        # As qBittorrent: an API key has no business with sessions, and a
        # login carrying one must not count as a failed attempt either.
        return text("Forbidden", 403)
    if action == "auth/login":
        return await handler(request)

    session = facade.gate.session(request.cookies.get(COOKIE))
    if session is not None:
        request["qbt_session"] = session
        return await handler(request)

    if authorization.startswith("Bearer "):
        return await _with_api_key(request, handler, action, authorization[7:])
    if authorization.startswith("Basic "):
        verdict = await _basic(request, authorization)
        if verdict is True:
            session = facade.gate.open_session()
            request["qbt_session"] = session
            response = await handler(request)
            _set_cookie(response, session)
            return response
    return text("Forbidden", 403)


async def _with_api_key(
    request: web.Request, handler: Next, action: str, key: str
) -> web.StreamResponse:
    facade = request.app[FACADE]
    if action.startswith("auth/"):
        return text("Forbidden", 403)
    valid = await facade.services.bridge.run(
        api_key_valid, facade.services, facade.data_dir, key
    )
    if not valid:
        return text("Forbidden", 403)
    # API-key clients keep no cookie; their sync/maindata memory is per key.
    name = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
    session = facade.bearer_sessions.setdefault(name, Session(name, float("inf")))
    request["qbt_session"] = session
    return await handler(request)


async def _basic(request: web.Request, header: str) -> bool | None:
    """True for valid credentials; None for Radarr's empty `Og==` (no opinion)."""
    facade = request.app[FACADE]
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except ValueError:
        # Bad base64, non-ASCII text in the header, or bytes that are not UTF-8.
        return False
    username, _, password = decoded.partition(":")
    if not username and not password:
        return None
    address = request.remote or ""
    if facade.gate.banned(address):
        return False
    if facade.gate.basic_known(header):
        return True
    ok: bool = await facade.services.bridge.run(
        facade.gate.credentials_match, username, password
    )
    if ok:
        facade.gate.remember_basic(header)
        facade.gate.succeeded(address)
    else:
        facade.gate.failed(address)
    return ok


def _cross_site(request: web.Request) -> bool:
    """qBittorrent's CSRF rule: a browser's Origin/Referer must match Host."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
        return fetch_site == "cross-site"
    source = _host_port(origin, request.scheme)
    host = _host_port(f"{request.scheme}://{request.headers.get('Host', '')}", "")
    return source is None or source != host


def _host_port(url: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    default = 443 if (parts.scheme or scheme) == "https" else 80
    return parts.hostname.lower(), port or default


def _set_cookie(response: web.StreamResponse, session: Session) -> None:
    # Never Secure: over plain http the clients would not send it back.
    response.set_cookie(COOKIE, session.sid, httponly=True, path="/", samesite="Lax")


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


def _require(params: Params, *names: str) -> None:
    missing = [name for name in names if name not in params]
    if missing:
        raise QbtError(400, "Missing required parameters: " + ", ".join(missing))


def parse_bool(value: str | None) -> bool | None:
    """Qt's parseBool: `true`/`false` in any case; anything else is no answer."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def _int(params: Params, name: str) -> int | None:
    value = params.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise QbtError(400, f"'{name}' must be a whole number") from None


def _float(params: Params, name: str) -> float | None:
    value = params.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise QbtError(400, f"'{name}' must be a number") from None


# Reading the catalog.


def _facade(request: web.Request) -> Facade:
    return request.app[FACADE]


async def _records(request: web.Request) -> list[TorrentRecord]:
    services = _facade(request).services
    records: list[TorrentRecord] = await services.bridge.ask(
        services.orchestrator.list_torrents()
    )
    return records


async def _settings(request: web.Request) -> Settings:
    services = _facade(request).services
    body = await services.bridge.ask(services.orchestrator.settings())
    shown = {k: v for k, v in body.items() if k not in ("engine", "folders")}
    return apply_patch(Settings(), shown)


async def _context(request: web.Request, records: list[TorrentRecord]) -> Context:
    return Context(
        settings=await _settings(request), moving=await _moving(request, records)
    )


async def _moving(request: web.Request, records: list[TorrentRecord]) -> frozenset[str]:
    """Torrents a user move is carrying, and complete torrents that FsOps has
    not filed yet (or is filing now).

    Until its job says `moved` and the catalog shows the library folder, a
    finished download is reported `moving`, so no client imports it from a
    folder that is about to be emptied. A failed job leaves the files where
    they are, complete, so those torrents are reported as they are.
    """
    facade = _facade(request)
    orchestrator = facade.services.orchestrator
    moving: set[str] = await facade.services.bridge.ask(orchestrator.user_moves())
    candidates = [r for r in records if is_complete(r) and r.library_path is None]
    if not candidates:
        return frozenset(moving)

    def read() -> dict[str, Any]:
        with facade.services.pool.connection(timeout=5.0) as conn:
            return repository.select_latest_jobs(
                conn, [r.info_hash for r in candidates]
            )

    try:
        jobs = await facade.services.bridge.run(read)
    except Exception as exc:
        # Without the jobs we cannot tell; "moving" is the answer that never
        # lets a client import from the wrong place.
        log.warning("fs jobs unreadable for qbittorrent states cause=%s", exc)
        return frozenset(moving | {r.info_hash for r in candidates})

    for record in candidates:
        job = jobs.get(record.info_hash)
        if job is None or job.status in (JobStatus.PENDING, JobStatus.MOVING):
            moving.add(record.info_hash)
        elif job.status is JobStatus.MOVED and (
            Path(record.save_path) == Path(job.src_path).parent
        ):
            # Moved, but the catalog has not heard yet: still the old folder.
            moving.add(record.info_hash)
    return frozenset(moving)


async def _record(request: web.Request, params: Params) -> TorrentRecord:
    _require(params, "hash")
    info_hash = params["hash"].strip().lower()
    for record in await _records(request):
        if record.info_hash == info_hash:
            return record
    raise QbtError(404, "Not Found")


def _hashes(params: Params, records: list[TorrentRecord]) -> list[str]:
    """`hashes`: `|`-separated, or `all`; unknown hashes are skipped."""
    _require(params, "hashes")
    wanted = [h.strip().lower() for h in params["hashes"].split("|") if h.strip()]
    known = [r.info_hash for r in records]
    if wanted == ["all"]:
        return known
    present = set(known)
    return [h for h in dict.fromkeys(wanted) if h in present]


async def _known_categories(request: web.Request) -> set[str]:
    facade = _facade(request)
    records = await _records(request)
    settings = await _settings(request)
    names = set(facade.categories) | set(settings.categories)
    names |= {r.category for r in records if r.category}
    return names


async def _command(request: web.Request, info_hash: str, command: Any) -> None:
    services = _facade(request).services
    # Removed meanwhile: qBittorrent skips hashes it does not know.
    with contextlib.suppress(TorrentNotFound):
        await services.bridge.ask(services.orchestrator.command(info_hash, command))


async def _each(request: web.Request, params: Params, command: Any) -> web.Response:
    for info_hash in _hashes(params, await _records(request)):
        await _command(request, info_hash, command)
    return text("")


# auth/*


async def login(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    gate = _facade(request).gate
    address = request.remote or ""
    if gate.banned(address):
        return text(BANNED_TEXT, 403)
    if gate.session(request.cookies.get(COOKIE)) is not None:
        return text("Ok.")

    username = params.get("username", "")
    password = params.get("password", "")
    bridge = _facade(request).services.bridge
    if not await bridge.run(gate.credentials_match, username, password):
        gate.failed(address)
        log.info("qbittorrent api login failed address=%s", address)
        return text("Fails.")

    gate.succeeded(address)
    session = gate.open_session()
    response = text("Ok.")
    _set_cookie(response, session)
    return response


async def logout(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    _facade(request).gate.close_session(request.cookies.get(COOKIE))
    response = text("")
    response.del_cookie(COOKIE, path="/")
    return response


# app/*


async def web_api_version(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return text(WEB_API_VERSION)


async def app_version(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return text(APP_VERSION)


async def build_info(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return _json(
        {
            "qt": "",
            "libtorrent": lt.__version__,
            "boost": "",
            "openssl": "",
            "zlib": "",
            "bitness": 64,
            "platform": "linux",
        }
    )


async def default_save_path(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return text(str(_facade(request).library))


_ENCRYPTION = {"enabled": 0, "forced": 1, "disabled": 2}
_GOAL_ACTS = {"pause": 0, "remove": 1}


async def preferences(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    facade = _facade(request)
    s = await _settings(request)
    queueing = s.max_active_downloads >= 0 or s.max_active_seeds >= 0
    ratio_on = s.ratio_limit is not None and s.ratio_limit >= 0
    time_on = s.seeding_time_limit is not None and s.seeding_time_limit >= 0
    port = s.listen.rsplit(":", 1)[1]
    return _json(
        {
            "app_instance_name": "revaer",
            "locale": "en",
            "save_path": str(facade.library),
            "temp_path_enabled": True,
            "temp_path": str(facade.downloads),
            "auto_tmm_enabled": False,
            "create_subfolder_enabled": True,
            "start_paused_enabled": False,
            "add_stopped_enabled": False,
            "torrent_content_layout": "Original",
            "dl_limit": s.download_limit or 0,
            "up_limit": s.upload_limit or 0,
            "alt_dl_limit": 0,
            "alt_up_limit": 0,
            "scheduler_enabled": False,
            "queueing_enabled": queueing,
            "max_active_downloads": s.max_active_downloads,
            "max_active_uploads": s.max_active_seeds,
            "max_active_torrents": -1,
            "dont_count_slow_torrents": False,
            "max_ratio_enabled": ratio_on,
            "max_ratio": s.ratio_limit if ratio_on else -1,
            "max_seeding_time_enabled": time_on,
            "max_seeding_time": s.seeding_time_limit if time_on else -1,
            "max_inactive_seeding_time_enabled": False,
            "max_inactive_seeding_time": -1,
            "max_ratio_act": _GOAL_ACTS[s.goal_action],
            "dht": s.dht,
            "pex": s.pex,
            "lsd": s.lsd,
            "upnp": s.upnp,
            "encryption": _ENCRYPTION[s.encryption],
            "listen_port": int(port),
            "random_port": False,
            "web_ui_username": facade.gate.username,
            "web_ui_port": request.url.port or 80,
            "bypass_local_auth": False,
            "web_ui_csrf_protection_enabled": True,
            "web_ui_max_auth_fail_count": 5,
            "web_ui_ban_duration": 3600,
            "web_ui_session_timeout": 3600,
            "refresh_interval": 1500,
        }
    )


async def set_preferences(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "json")
    try:
        body = json.loads(params["json"])
    except (ValueError, RecursionError):
        raise QbtError(400, "'json' is not valid JSON") from None
    if not isinstance(body, dict):
        raise QbtError(400, "'json' must be a JSON object")

    current = await _settings(request)
    try:
        patch = preferences_patch(body, current)
    except (TypeError, ValueError, OverflowError) as exc:
        # A string where a number goes, a number too big for one, and such.
        raise QbtError(
            400, f"a preference has the wrong type or range: {exc}"
        ) from None
    folders = folders_patch(body)
    # The whole patch is checked before anything changes: a bad value after a
    # good save_path must not leave the library moved behind a 400.
    apply_patch(current, patch)
    facade = _facade(request)
    services = facade.services
    if folders:
        if not patch:
            await services.bridge.ask(services.orchestrator.change_folders(**folders))
            return text("")
        previous = facade.folders.as_json()
        await services.bridge.ask(services.orchestrator.change_folders(**folders))
        try:
            await services.bridge.ask(services.orchestrator.update_settings(patch))
        except Exception:
            # Checked above, so only a fault (the database, libtorrent) lands
            # here; the folders go back so the answer describes no change.
            await services.bridge.ask(services.orchestrator.change_folders(**previous))
            raise
        return text("")
    if patch:
        await services.bridge.ask(services.orchestrator.update_settings(patch))
    return text("")


def folders_patch(body: dict[str, Any]) -> dict[str, str | None]:
    """`save_path` is the library; `temp_path` the downloads folder.

    Downloads always go to the downloads folder first and FsOps files them,
    so `temp_path_enabled = false` cannot be honoured and leaves it as it is.
    """
    library = body.get("save_path")
    downloads = body.get("temp_path") if body.get("temp_path_enabled", True) else None
    for name, value in (("save_path", library), ("temp_path", downloads)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise QbtError(400, f"'{name}' must be a folder path")
    if library is None and downloads is None:
        return {}
    return {"downloads": downloads, "library": library}


def preferences_patch(body: dict[str, Any], current: Settings) -> dict[str, Any]:
    """Our settings for the qBittorrent preferences that have an equivalent.

    Unknown keys are ignored, as qBittorrent does.
    """
    patch: dict[str, Any] = {}
    for ours in ("dht", "pex", "lsd"):
        if ours in body:
            patch[ours] = _pref_bool(body, ours)
    if "upnp" in body:
        patch["upnp"] = patch["natpmp"] = _pref_bool(body, "upnp")
    for theirs, ours in (("dl_limit", "download_limit"), ("up_limit", "upload_limit")):
        if theirs in body:
            value = _pref_int(body, theirs)
            patch[ours] = value if value > 0 else None
    if "encryption" in body:
        names = {v: k for k, v in _ENCRYPTION.items()}
        patch["encryption"] = names.get(_pref_int(body, "encryption"), "enabled")
    _queueing(body, current, patch)
    _share_limits(body, current, patch)
    return patch


def _queueing(body: dict[str, Any], current: Settings, patch: dict[str, Any]) -> None:
    enabled = current.max_active_downloads >= 0 or current.max_active_seeds >= 0
    if "queueing_enabled" in body:
        enabled = _pref_bool(body, "queueing_enabled")
    if not enabled:
        if "queueing_enabled" in body:
            patch["max_active_downloads"] = patch["max_active_seeds"] = -1
        return
    # qBittorrent's defaults when queueing is switched on without numbers.
    downloads = current.max_active_downloads
    seeds = current.max_active_seeds
    patch["max_active_downloads"] = (
        _pref_int(body, "max_active_downloads")
        if "max_active_downloads" in body
        else (downloads if downloads >= 0 else 3)
    )
    patch["max_active_seeds"] = (
        _pref_int(body, "max_active_uploads")
        if "max_active_uploads" in body
        else (seeds if seeds >= 0 else 3)
    )


def _share_limits(
    body: dict[str, Any], current: Settings, patch: dict[str, Any]
) -> None:
    if "max_ratio_enabled" in body or "max_ratio" in body:
        on = (
            _pref_bool(body, "max_ratio_enabled")
            if "max_ratio_enabled" in body
            else current.ratio_limit is not None
        )
        ratio = (
            _pref_number(body, "max_ratio")
            if "max_ratio" in body
            else current.ratio_limit
        )
        patch["ratio_limit"] = (
            float(ratio) if on and ratio is not None and ratio >= 0 else None
        )
    if "max_seeding_time_enabled" in body or "max_seeding_time" in body:
        on = (
            _pref_bool(body, "max_seeding_time_enabled")
            if "max_seeding_time_enabled" in body
            else current.seeding_time_limit is not None
        )
        minutes = (
            _pref_int(body, "max_seeding_time")
            if "max_seeding_time" in body
            else current.seeding_time_limit
        )
        patch["seeding_time_limit"] = (
            minutes if on and minutes is not None and minutes >= 0 else None
        )
    if "max_ratio_act" in body:
        act = _pref_int(body, "max_ratio_act")
        if act not in (0, 1):
            raise QbtError(
                400, "max_ratio_act: only 0 (stop) and 1 (remove) are supported"
            )
        patch["goal_action"] = "pause" if act == 0 else "remove"


def _pref_bool(body: dict[str, Any], name: str) -> bool:
    """A JSON boolean, or `true`/`false` as text in any case; else a 400."""
    value = body[name]
    if isinstance(value, bool):
        return value
    parsed = parse_bool(value) if isinstance(value, str) else None
    if parsed is None:
        raise QbtError(400, f"{name} must be true or false")
    return parsed


def _pref_number(body: dict[str, Any], name: str) -> float:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QbtError(400, f"{name} must be a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise QbtError(400, f"{name} must be a finite number")
    return float(value)


def _pref_int(body: dict[str, Any], name: str) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise QbtError(400, f"{name} must be a whole number")
    return value


# torrents/* reads.


async def info(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    records = await _records(request)
    ctx = await _context(request, records)
    sort = params.get("sort")
    if sort and sort not in INFO_FIELDS:
        raise QbtError(400, "'sort' parameter is invalid")
    # Off the event loop: a first listing parses every torrent's metainfo.
    result = await _facade(request).services.bridge.run(_listing, records, params, ctx)

    if sort:
        # Nulls (`private` without metadata) last, never compared to values.
        result.sort(key=lambda t: (1, 0) if t[sort] is None else (0, t[sort]))
    if parse_bool(params.get("reverse")):
        result.reverse()
    offset = _int(params, "offset") or 0
    if offset < 0:
        offset = max(len(result) + offset, 0)
    limit = _int(params, "limit") or 0
    result = result[offset : offset + limit if limit > 0 else None]
    return _json(result)


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
    record = await _record(request, params)
    ctx = await _context(request, [record])
    return _json(properties_json(record, ctx))


async def files(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    record = await _record(request, params)
    indexes = None
    if params.get("indexes"):
        try:
            indexes = {int(i) for i in params["indexes"].split("|")}
        except ValueError:
            raise QbtError(409, "'indexes' must be whole numbers") from None
        if any(not 0 <= i < len(record.files) for i in indexes):
            raise QbtError(409, "file index out of range")
    live = await _live(request, record.info_hash)
    return _json(files_json(record, live, indexes))


async def trackers(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    record = await _record(request, params)
    return _json(trackers_json(await _live(request, record.info_hash)))


async def _live(request: web.Request, info_hash: str) -> dict[str, Any] | None:
    services = _facade(request).services
    live: dict[str, Any] | None = await services.bridge.ask(
        services.session.inspect(info_hash)
    )
    return live


async def categories(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    library = _facade(request).library
    names = sorted(await _known_categories(request))
    return _json({name: category_json(name, library) for name in names})


async def tags(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    records = await _records(request)
    return _json(sorted({tag for r in records for tag in r.tags}))


# torrents/* changes.


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
    services = _facade(request).services
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
    # TODO(contentLayout): Subfolder/NoSubfolder are ignored; honouring them
    # means renaming files in add_torrent_params and a catalog file list,
    # content_path and FsOps source that follow the renamed root.
    if params.get("savepath"):
        options["save_path"] = params["savepath"]
    for theirs, ours in (("upLimit", "upload_limit"), ("dlLimit", "download_limit")):
        value = _int(params, theirs)
        if value is not None and value > 0:
            options[ours] = value
    ratio = _float(params, "ratioLimit")
    if ratio is not None and ratio != -2:
        options["ratio_limit"] = -1 if ratio < 0 else ratio
    minutes = _int(params, "seedingTimeLimit")
    if minutes is not None and minutes != -2:
        options["seeding_time_limit"] = -1 if minutes < 0 else minutes
    # Checked now, so that a bad option is one clear 400 before any add.
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
    if name in await _known_categories(request):
        return
    await _store_category(request, name)


async def _store_category(request: web.Request, name: str) -> bool:
    facade = _facade(request)
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
    return await _each(request, params, remove)


async def stop(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    return await _each(request, params, Pause())


async def start(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    return await _each(request, params, Resume())


async def recheck(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return await _each(request, params, Recheck())


async def reannounce(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return await _each(request, params, Reannounce())


async def set_category(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "hashes", "category")
    name = params["category"].strip()
    if name and name not in await _known_categories(request):
        raise QbtError(409, "Incorrect category name")
    return await _each(request, params, SetCategory(name or None))


async def create_category(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "category")
    name = params["category"].strip()
    if not name:
        raise QbtError(400, "Category cannot be empty")
    _check_category(name)
    _check_save_path(request, name, params.get("savePath", ""))
    if name in await _known_categories(request):
        raise QbtError(409, "Unable to create category")
    if not await _store_category(request, name):
        raise QbtError(409, "Unable to create category")
    return text("")


async def edit_category(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "category", "savePath")
    name = params["category"].strip()
    if name not in await _known_categories(request):
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
    library = _facade(request).library
    if asked.strip() in ("", str(library / name), str(library), name):
        return
    raise QbtError(
        400,
        f"savePath is fixed by the library layout: {library / name}; leave it empty",
    )


async def remove_categories(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "categories")
    names = [n.strip() for n in params["categories"].splitlines() if n.strip()]
    facade = _facade(request)
    await facade.services.bridge.ask(
        facade.services.persistence.remove_categories(names)
    )
    facade.categories.difference_update(names)
    for record in await _records(request):
        if record.category in names:
            await _command(request, record.info_hash, SetCategory(None))
    return text("")


async def add_tags(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "hashes", "tags")
    new = _tag_list(params["tags"])
    return await _retag(request, params, lambda tags: (*tags, *new))


async def remove_tags(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "hashes")
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
    records = {r.info_hash: r for r in await _records(request)}
    for info_hash in _hashes(params, list(records.values())):
        tags = sources.parse_tags(list(change(records[info_hash].tags)))
        if tags != records[info_hash].tags:
            await _command(request, info_hash, SetTags(tags))
    return text("")


async def set_share_limits(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "hashes", "ratioLimit", "seedingTimeLimit")
    ratio = _float(params, "ratioLimit")
    minutes = _int(params, "seedingTimeLimit")
    goals = SetGoals(
        ratio_limit=None if ratio is None or ratio == -2 else max(ratio, -1.0),
        seeding_time_limit=(
            None if minutes is None or minutes == -2 else max(minutes, -1)
        ),
    )
    sources.parse_ratio_limit(goals.ratio_limit, "/ratioLimit")
    sources.parse_minutes(goals.seeding_time_limit, "/seedingTimeLimit")
    return await _each(request, params, goals)


async def top_prio(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return await _queue_move(request, params, "top")


async def bottom_prio(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    return await _queue_move(request, params, "bottom")


async def _queue_move(request: web.Request, params: Params, move: str) -> web.Response:
    _require(params, "hashes")
    settings = await _settings(request)
    if settings.max_active_downloads < 0 and settings.max_active_seeds < 0:
        raise QbtError(409, "Torrent queueing must be enabled")
    return await _each(request, params, Priority(move))


async def set_force_start(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "hashes", "value")
    return await _each(request, params, ForceStart(bool(parse_bool(params["value"]))))


async def set_location(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    _require(params, "hashes", "location")
    location = params["location"].strip()
    if not location:
        raise QbtError(400, "Save path cannot be empty")
    try:
        return await _each(request, params, Move(save_path=location))
    except InvalidInput as exc:
        raise QbtError(409, exc.detail) from None


# transfer, sync, log


async def transfer_info(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    records = await _records(request)
    settings = await _settings(request)
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
    return _json({key: state[key] for key in keys})


def _server_state(
    request: web.Request, records: list[TorrentRecord], settings: Settings
) -> dict[str, Any]:
    downloaded = sum(r.downloaded for r in records)
    uploaded = sum(r.uploaded for r in records)
    try:
        free = shutil.disk_usage(_facade(request).downloads).free
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
    records = await _records(request)
    ctx = await _context(request, records)
    library = _facade(request).library
    bridge = _facade(request).services.bridge
    torrents, tracker_map = await bridge.run(_maindata_torrents, records, ctx)
    snapshot = {
        "torrents": torrents,
        "categories": {
            name: category_json(name, library)
            for name in sorted(await _known_categories(request))
        },
        "tags": sorted({tag for r in records for tag in r.tags}),
        "trackers": tracker_map,
        "server_state": _server_state(request, records, ctx.settings),
    }
    try:
        asked = int(params.get("rid", "0") or 0)
    except ValueError:
        asked = 0
    return _json(session.sync.answer(asked, snapshot))


async def log_main(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    last = _int(params, "last_known_id")
    wanted = {
        1: parse_bool(params.get("normal")) is not False,
        2: parse_bool(params.get("info")) is not False,
        4: parse_bool(params.get("warning")) is not False,
        8: parse_bool(params.get("critical")) is not False,
    }
    lines = [
        line
        for line in _facade(request).logs.lines
        if (last is None or line["id"] > last) and wanted[line["type"]]
    ]
    return _json(lines)


ROUTES: dict[tuple[str, str], tuple[Handler, bool]] = {
    ("auth", "login"): (login, True),
    ("auth", "logout"): (logout, True),
    ("app", "webapiVersion"): (web_api_version, False),
    ("app", "version"): (app_version, False),
    ("app", "buildInfo"): (build_info, False),
    ("app", "preferences"): (preferences, False),
    ("app", "setPreferences"): (set_preferences, True),
    ("app", "defaultSavePath"): (default_save_path, False),
    ("torrents", "info"): (info, False),
    ("torrents", "properties"): (properties, False),
    ("torrents", "files"): (files, False),
    ("torrents", "trackers"): (trackers, False),
    ("torrents", "categories"): (categories, False),
    ("torrents", "tags"): (tags, False),
    ("torrents", "add"): (add, True),
    ("torrents", "delete"): (delete, True),
    ("torrents", "stop"): (stop, True),
    ("torrents", "pause"): (stop, True),
    ("torrents", "start"): (start, True),
    ("torrents", "resume"): (start, True),
    ("torrents", "recheck"): (recheck, True),
    ("torrents", "reannounce"): (reannounce, True),
    ("torrents", "setCategory"): (set_category, True),
    ("torrents", "createCategory"): (create_category, True),
    ("torrents", "editCategory"): (edit_category, True),
    ("torrents", "removeCategories"): (remove_categories, True),
    ("torrents", "addTags"): (add_tags, True),
    ("torrents", "removeTags"): (remove_tags, True),
    ("torrents", "setShareLimits"): (set_share_limits, True),
    ("torrents", "topPrio"): (top_prio, True),
    ("torrents", "bottomPrio"): (bottom_prio, True),
    ("torrents", "setForceStart"): (set_force_start, True),
    ("torrents", "setLocation"): (set_location, True),
    ("transfer", "info"): (transfer_info, False),
    ("sync", "maindata"): (maindata, False),
    ("log", "main"): (log_main, False),
}
