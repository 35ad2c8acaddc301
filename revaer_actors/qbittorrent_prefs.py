"""`app/*`: identity, build information and preferences, read and set."""

from __future__ import annotations

import json
from typing import Any

import libtorrent as lt
from aiohttp import web

from revaer_actors.qbittorrent_common import (
    Params,
    QbtError,
    Upload,
    facade_of,
    json_body,
    parse_bool,
    read_settings,
    require,
    text,
)
from revaer_actors.settings import Settings, apply_patch

WEB_API_VERSION = "2.11.4"
APP_VERSION = "v5.1.0"


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
    return json_body(
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
    return text(str(facade_of(request).library))


_ENCRYPTION = {"enabled": 0, "forced": 1, "disabled": 2}
_GOAL_ACTS = {"pause": 0, "remove": 1}


async def preferences(
    request: web.Request, params: Params, _: list[Upload]
) -> web.Response:
    facade = facade_of(request)
    s = await read_settings(request)
    queueing = s.max_active_downloads >= 0 or s.max_active_seeds >= 0
    ratio_on = s.ratio_limit is not None and s.ratio_limit >= 0
    time_on = s.seeding_time_limit is not None and s.seeding_time_limit >= 0
    port = s.listen.rsplit(":", 1)[1]
    return json_body(
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
    require(params, "json")
    try:
        body = json.loads(params["json"])
    except (ValueError, RecursionError):
        raise QbtError(400, "'json' is not valid JSON") from None
    if not isinstance(body, dict):
        raise QbtError(400, "'json' must be a JSON object")

    current = await read_settings(request)
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
    facade = facade_of(request)
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
    # qBittorrent stores any number for these and fails later (an unknown
    # encryption mode reads as "disabled", a port past 65535 listens nowhere);
    # here a value with no meaning is a 400 that changes nothing.
    if "encryption" in body:
        names = {v: k for k, v in _ENCRYPTION.items()}
        mode = _pref_int(body, "encryption")
        if mode not in names:
            raise QbtError(
                400, "encryption must be 0 (prefer), 1 (force) or 2 (disable)"
            )
        patch["encryption"] = names[mode]
    port = None
    if "random_port" in body and _pref_bool(body, "random_port"):
        port = 0  # as qBittorrent: the system picks one
    elif "listen_port" in body:
        port = _pref_int(body, "listen_port")
        if not 0 <= port <= 65535:
            raise QbtError(400, "listen_port must be between 0 and 65535")
    if port is not None:
        # Only the port: the address stays what --bt-listen or revaer.toml set.
        patch["listen"] = f"{current.listen.rpartition(':')[0]}:{port}"
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
