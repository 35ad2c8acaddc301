"""The status codes a client relies on, each over HTTP against a real daemon:
401 on every /v1 route, 404 and 405 for routes that are not there, 409 for the
last key, the select route's 400 and 404, and the default page size."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from revaer_actors.api import Services, create_app
from tests.daemon import Daemon

PROBLEMS = "https://revaer.dev/problems/"


def _v1_routes() -> list[tuple[str, str]]:
    app = create_app(Services(None, None, None, None, None))  # type: ignore[arg-type]
    return sorted(
        {
            (route.method, route.resource.canonical)
            for route in app.router.routes()
            if route.resource is not None
            and route.resource.canonical.startswith("/v1/")
            and route.method != "HEAD"
        }
    )


def _raw(
    daemon: Daemon, method: str, path: str, headers: dict[str, str]
) -> tuple[int, str, dict[str, str], Any]:
    request = urllib.request.Request(
        daemon.api_url + path,
        method=method,
        headers=headers,
        data=b"{}" if method in ("POST", "PATCH") else None,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raise AssertionError(f"{method} {path} answered {response.status}")
    except urllib.error.HTTPError as exc:
        return (
            exc.code,
            exc.headers.get_content_type(),
            dict(exc.headers),
            json.loads(exc.read()),
        )


def _add(daemon: Daemon, tag: str) -> str:
    magnet = f"magnet:?xt=urn:btih:{secrets.token_hex(20)}&dn={tag}"
    status, body = daemon.api(
        "POST", "/v1/torrents", {"magnet": magnet, "paused": True, "tags": [tag]}
    )
    assert status == 201, body
    return str(body["id"])


@pytest.mark.parametrize(("method", "route"), _v1_routes())
def test_every_v1_route_is_401_without_a_key(
    module_daemon: Daemon, method: str, route: str
) -> None:
    path = route.replace("{id}", "1")

    status, content_type, headers, body = _raw(module_daemon, method, path, {})

    assert status == 401
    assert content_type == "application/problem+json"
    assert body["type"] == PROBLEMS + "unauthorized" and body["status"] == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")


def test_the_401_list_covers_the_routes_users_know() -> None:
    routes = _v1_routes()
    assert ("GET", "/v1/torrents") in routes and ("GET", "/v1/events") in routes
    assert ("DELETE", "/v1/keys/{id}") in routes


def test_an_unknown_v1_route_is_a_404_problem(module_daemon: Daemon) -> None:
    status, content_type, _, body = _raw(
        module_daemon, "GET", "/v1/nowhere", module_daemon.headers()
    )

    assert status == 404 and content_type == "application/problem+json"
    assert body["type"] == PROBLEMS + "not-found" and body["title"] == "Not found"
    assert "/v1/nowhere" in body["detail"] and "404" not in body["detail"]


def test_a_wrong_method_is_a_405_problem_naming_the_allowed_ones(
    module_daemon: Daemon,
) -> None:
    status, content_type, headers, body = _raw(
        module_daemon, "DELETE", "/v1/torrents", module_daemon.headers()
    )

    assert status == 405 and content_type == "application/problem+json"
    assert body["type"] == PROBLEMS + "method-not-allowed"
    assert body["title"] == "Method not allowed"
    assert "GET" in body["detail"] and "POST" in body["detail"]
    assert set(headers["Allow"].split(",")) >= {"GET", "POST"}


def test_revoking_the_last_active_key_is_409_and_it_keeps_working(
    module_daemon: Daemon,
) -> None:
    keys = module_daemon.api("GET", "/v1/keys")[1]["items"]
    active = [k for k in keys if k["revoked_at"] is None]
    assert len(active) == 1

    status, body = module_daemon.api("DELETE", f"/v1/keys/{active[0]['id']}")

    assert status == 409 and body["type"] == PROBLEMS + "last-active-key"
    assert module_daemon.api("GET", "/v1/torrents")[0] == 200
    listed = module_daemon.api("GET", "/v1/keys")[1]["items"]
    assert [k["revoked_at"] for k in listed] == [None]


def test_select_is_404_for_an_unknown_torrent_and_400_for_a_bad_body(
    module_daemon: Daemon,
) -> None:
    torrent = _add(module_daemon, secrets.token_hex(4))

    unknown = module_daemon.api(
        "POST", f"/v1/torrents/{'e' * 40}/select", {"include": ["*.mkv"]}
    )
    not_an_id = module_daemon.api("POST", "/v1/torrents/xyz/select", {})
    bad_field = module_daemon.api(
        "POST", f"/v1/torrents/{torrent}/select", {"include": "*.mkv"}
    )
    not_json = module_daemon.api(
        "POST", f"/v1/torrents/{torrent}/select", raw=b"{not json"
    )

    assert unknown[0] == 404 and unknown[1]["type"] == PROBLEMS + "not-found"
    assert not_an_id[0] == 404
    assert bad_field[0] == 400 and bad_field[1]["type"] == PROBLEMS + "invalid-input"
    assert bad_field[1]["invalid_params"][0]["name"] == "/include"
    assert not_json[0] == 400 and "JSON" in not_json[1]["detail"]


def test_a_page_holds_50_torrents_unless_asked_otherwise(
    module_daemon: Daemon,
) -> None:
    tag = secrets.token_hex(4)
    added = [_add(module_daemon, tag) for _ in range(53)]

    status, page = module_daemon.api("GET", f"/v1/torrents?tag={tag}")
    rest = module_daemon.api("GET", f"/v1/torrents?tag={tag}&cursor={page['next']}")

    assert status == 200 and len(page["items"]) == 50
    assert page["next"] is not None
    assert [t["id"] for t in page["items"] + rest[1]["items"]] == added
    assert rest[1]["next"] is None


def test_ls_json_follows_every_page(module_daemon: Daemon) -> None:
    tag = secrets.token_hex(4)
    added = [_add(module_daemon, tag) for _ in range(5)]

    listed = module_daemon.cli_json("ls", "--tag", tag, "--page-size", "2")

    assert [t["id"] for t in listed] == added
    too_big = module_daemon.cli("ls", "--page-size", "501")
    assert too_big.returncode == 2


def test_every_problem_status_these_tests_met_is_documented(
    module_daemon: Daemon,
) -> None:
    """Runs last in this module: the daemon counted every answer it gave."""
    document = module_daemon.api("GET", "/v1/openapi.json")[1]
    with urllib.request.urlopen(module_daemon.api_url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    met = set()
    for family in text_string_to_metric_families(text):
        if family.name != "revaer_http_requests":
            continue
        for sample in family.samples:
            route, status = sample.labels["route"], sample.labels["status"]
            if sample.name.endswith("_total") and int(status) >= 400:
                met.add((route, status))

    undocumented = {
        (route, status)
        for route, status in met
        if route.startswith("/v1/")
        and not any(
            status in operation["responses"]
            for operation in document["paths"][route].values()
        )
    }
    assert {s for r, s in met if r.startswith("/v1/")} >= {"400", "401", "404", "409"}
    assert undocumented == set()
