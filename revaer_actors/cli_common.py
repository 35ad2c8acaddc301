"""What the `revaer` commands share: the daemon's address and key, the HTTP
calls to its API, the exit codes and messages of a failure, the consoles, and
torrent ids given by prefix."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, NoReturn

import click
from rich.console import Console

EXIT_BAD_INPUT = 2


EXIT_RUNTIME = 3


HTTP_TIMEOUT = 60.0


PAGE_SIZE = 500


@dataclass(frozen=True)
class Api:
    """Where the daemon answers and the key to show it."""

    url: str
    key: str | None


# Tables fold long ids and paths instead of cutting them, even when piped.
console = Console(width=200) if not sys.stdout.isatty() else Console()


errors = Console(stderr=True)


json_flag = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def resolve_id(api: Api, given: str) -> str:
    """A full id, or the one torrent whose id starts with the given prefix."""
    given = given.strip().lower()
    if len(given) == 40 or len(given) < 4:
        return given
    ids = [t["id"] for t in all_torrents(api, {})]
    matches = [i for i in ids if i.startswith(given)]
    if len(matches) > 1:
        fail(
            EXIT_BAD_INPUT,
            f"{given} matches {len(matches)} torrents; give more of the id",
        )
    return matches[0] if matches else given


def all_torrents(
    api: Api, query: dict[str, str], page_size: int = PAGE_SIZE
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {**query, "limit": str(page_size)}
    while True:
        page = request_json(
            api, "GET", "/v1/torrents?" + urllib.parse.urlencode(params)
        )
        items.extend(page["items"])
        if page["next"] is None:
            return items
        params["cursor"] = page["next"]


def request_json(api: Api, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        api.url + path, data=data, method=method, headers=headers_for(api)
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = problem_detail(exc)
        code = EXIT_BAD_INPUT if 400 <= exc.code < 500 else EXIT_RUNTIME
        fail(code, f"{exc.code}: {detail}")
    except (urllib.error.URLError, OSError) as exc:
        fail(EXIT_RUNTIME, f"cannot reach the daemon at {api.url}: {exc}")


def headers_for(api: Api) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api.key is not None:
        headers["Authorization"] = f"Bearer {api.key}"
    return headers


def problem_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read())
        return str(body.get("detail") or body.get("title"))
    except (ValueError, AttributeError):
        return exc.reason


def fail(code: int, message: str) -> NoReturn:
    errors.print(f"revaer: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)
