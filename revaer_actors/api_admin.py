"""/v1/settings and /v1/keys."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from revaer_actors.api_common import SERVICES, Services, is_id, json_body
from revaer_actors.api_events import end_streams_of_revoked_keys
from revaer_actors.auth import key_hash, new_key, public_row
from revaer_actors.errors import InvalidInput


async def get_settings(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = await services.bridge.ask(services.orchestrator.settings())
    return web.json_response(settings)


async def patch_settings(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await json_body(request)
    settings = await services.bridge.ask(services.orchestrator.update_settings(body))
    return web.json_response(settings)


async def list_keys(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    rows = await services.bridge.ask(services.persistence.api_keys())
    return web.json_response({"items": [public_row(r) for r in rows], "next": None})


async def issue_key(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await json_body(request)
    name = body.get("name") if isinstance(body, dict) else None
    if not _printable_name(name):
        raise InvalidInput(
            "name must be printable text of 1 to 100 characters", field="/name"
        )
    assert isinstance(name, str)

    key = new_key()
    row = await services.bridge.ask(
        services.persistence.issue_api_key(name.strip(), key_hash(key))
    )
    await _reload_keys(services)
    return web.json_response({**public_row(row), "key": key}, status=201)


def _printable_name(name: Any) -> bool:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON escapes
        return False
    return name.isprintable()


async def revoke_key(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    raw = request.match_info["id"]
    if not is_id(raw):
        raise web.HTTPNotFound(text=f"no api key with id {raw}")

    row = await services.bridge.ask(services.persistence.revoke_api_key(int(raw)))
    if row is None:
        raise web.HTTPNotFound(text=f"no api key with id {raw}")
    await _reload_keys(services)
    end_streams_of_revoked_keys(services)
    return web.json_response(public_row(row))


async def _reload_keys(services: Services) -> None:
    if services.keyring is not None:
        rows = await services.bridge.ask(services.persistence.api_keys())
        services.keyring.load(rows)
