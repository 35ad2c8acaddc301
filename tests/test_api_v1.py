"""The status API as a person, a script and a monitoring system use it: keys,
pages, filters, the OpenAPI document, /health/full and fs-job details."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import libtorrent as lt
import psycopg
import pytest

from revaer_actors.api import Services, create_app
from tests.daemon import Daemon


def _magnet(name: str) -> str:
    return f"magnet:?xt=urn:btih:{secrets.token_hex(20)}&dn={name}"


def _add(daemon: Daemon, name: str, **options: Any) -> str:
    status, body = daemon.api(
        "POST", "/v1/torrents", {"magnet": _magnet(name), "paused": True, **options}
    )
    assert status == 201, body
    return str(body["id"])


def _get(daemon: Daemon, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(daemon.api_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        assert exc.headers.get_content_type() == "application/problem+json"
        return exc.code, json.loads(exc.read())


# Keys.


def test_first_start_writes_a_key_readable_by_its_owner_only(
    daemon: Daemon, database_url: str
) -> None:
    key_file = daemon.data_dir / "api-key"
    key = key_file.read_text().strip()

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT name, key_hash FROM revaer_runtime.api_keys"
        ).fetchall()
    assert rows == [("initial", hashlib.sha256(key.encode()).hexdigest())]
    # A restart keeps the key: it is not issued again.
    daemon.stop()
    daemon.start()
    assert key_file.read_text().strip() == key
    assert daemon.api("GET", "/v1/torrents")[0] == 200


def test_v1_routes_need_a_key_but_health_does_not(module_daemon: Daemon) -> None:
    key = module_daemon.api_key
    assert key is not None

    missing = _get(module_daemon, "/v1/torrents", {})
    wrong = _get(module_daemon, "/v1/settings", {"Authorization": "Bearer nope"})
    header = _get(module_daemon, "/v1/torrents", {"X-Api-Key": key})
    bearer = _get(module_daemon, "/v1/torrents", {"Authorization": f"Bearer {key}"})
    health = _get(module_daemon, "/health", {})

    assert missing[0] == 401 and wrong[0] == 401
    assert missing[1]["type"] == "https://revaer.dev/problems/unauthorized"
    assert missing[1]["status"] == 401 and "X-Api-Key" in missing[1]["detail"]
    assert header[0] == 200 and bearer[0] == 200
    assert health[0] == 200


def test_keys_are_issued_listed_and_revoked_with_the_cli(module_daemon: Daemon) -> None:
    issued = module_daemon.cli("keys", "issue", "sonarr")
    assert issued.returncode == 0, issued.stderr
    new_key = issued.stdout.strip()
    assert _get(module_daemon, "/v1/torrents", {"X-Api-Key": new_key})[0] == 200

    listed = module_daemon.cli_json("keys", "list")
    sonarr = next(k for k in listed if k["name"] == "sonarr")
    assert sonarr["revoked_at"] is None and "key" not in sonarr
    assert new_key not in json.dumps(listed)

    revoked = module_daemon.cli("keys", "revoke", str(sonarr["id"]))
    assert revoked.returncode == 0, revoked.stderr
    assert _get(module_daemon, "/v1/torrents", {"X-Api-Key": new_key})[0] == 401
    # The daemon's own first key still works.
    assert module_daemon.api("GET", "/v1/torrents")[0] == 200
    unknown = module_daemon.cli("keys", "revoke", "999999")
    assert unknown.returncode == 2 and "404" in unknown.stderr


def test_the_cli_finds_the_key_through_the_environment(module_daemon: Daemon) -> None:
    base = [sys.executable, "-m", "revaer_actors", "--api-url", module_daemon.api_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVAER_")}

    without = subprocess.run(
        [*base, "ls"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=module_daemon.data_dir.parent,
    )
    with_key = subprocess.run(
        [*base, "ls", "--json"],
        env={**env, "REVAER_API_KEY": module_daemon.api_key or ""},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert without.returncode == 2 and "401" in without.stderr
    assert with_key.returncode == 0 and isinstance(json.loads(with_key.stdout), list)


def test_refuses_to_listen_beyond_loopback_without_authentication(
    tmp_path: Path,
) -> None:
    (tmp_path / "revaer.toml").write_text("api_auth = false\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "revaer_actors",
            "run",
            "--data-dir",
            str(tmp_path),
            "--api-listen",
            "0.0.0.0:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "without authentication" in result.stderr
    assert not (tmp_path / "postgres").exists()


# Pages and filters.


def test_pages_neither_repeat_nor_skip_while_torrents_are_added(
    daemon: Daemon,
) -> None:
    before = {_add(daemon, f"before-{i}") for i in range(60)}
    added_during: set[str] = set()
    stop = threading.Event()

    def keep_adding() -> None:
        i = 0
        while not stop.is_set():
            added_during.add(_add(daemon, f"during-{i}"))
            i += 1

    adder = threading.Thread(target=keep_adding)
    adder.start()
    seen: list[str] = []
    try:
        cursor = None
        while True:
            query = "?limit=7" + (f"&cursor={cursor}" if cursor else "")
            status, page = daemon.api("GET", "/v1/torrents" + query)
            assert status == 200, page
            assert len(page["items"]) <= 7
            seen.extend(t["id"] for t in page["items"])
            cursor = page["next"]
            if cursor is None:
                break
    finally:
        stop.set()
        adder.join(timeout=60)

    assert len(seen) == len(set(seen)), "a torrent came twice"
    assert before <= set(seen), "a torrent added before paging was skipped"
    assert set(seen) <= before | added_during
    assert added_during, "the adder thread added nothing while we paged"


def test_filters_and_sorts(module_daemon: Daemon) -> None:
    tag = secrets.token_hex(4)
    a = _add(module_daemon, f"Alpha.{tag}", category="tv", tags=[tag])
    b = _add(module_daemon, f"beta.{tag}", category="movies", tags=[tag])
    c = _add(module_daemon, f"Gamma.{tag}", category="tv", tags=[tag, "hd"])

    def ids(query: str) -> list[str]:
        return [t["id"] for t in module_daemon.torrents(f"&tag={tag}{query}")]

    assert ids("") == [a, b, c]  # added_at, oldest first
    assert ids("&category=tv") == [a, c]
    assert ids(f"&name=ALPHA.{tag.upper()}") == [a]
    assert ids("&sort=name&order=desc") == [c, b, a]  # case-insensitive names
    assert ids("&state=paused") == [a, b, c]
    assert ids("&state=seeding") == []
    listed = module_daemon.cli_json("ls", "--tag", tag, "--category", "tv")
    assert [t["id"] for t in listed] == [a, c]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("state=sleeping", "state"),
        ("sort=size", "sort"),
        ("order=up", "order"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("cursor=%ff%fe", "cursor"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(
    module_daemon: Daemon, query: str, param: str
) -> None:
    status, body = module_daemon.api("GET", f"/v1/torrents?{query}")

    assert status == 400
    assert body["type"] == "https://revaer.dev/problems/invalid-input"
    assert body["invalid_params"][0]["name"] == param


def test_a_cursor_only_fits_its_own_sort(module_daemon: Daemon) -> None:
    for i in range(3):
        _add(module_daemon, f"cursor-{i}")
    page = module_daemon.api("GET", "/v1/torrents?limit=1&sort=name")[1]

    status, body = module_daemon.api(
        "GET", f"/v1/torrents?limit=1&sort=added_at&cursor={page['next']}"
    )

    assert status == 400 and body["invalid_params"][0]["name"] == "cursor"


# The document, health, jobs.


def test_openapi_document_matches_the_routes(module_daemon: Daemon) -> None:
    status, document = module_daemon.api("GET", "/v1/openapi.json")
    app = create_app(Services(None, None, None, None, None))  # type: ignore[arg-type]
    served = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {
        (path, method) for path, item in document["paths"].items() for method in item
    }
    _add(module_daemon, "doc")
    listed = module_daemon.torrents()[0]

    assert status == 200 and document["openapi"].startswith("3.")
    assert served == documented
    paths = document["paths"]
    assert "409" in paths["/v1/keys/{id}"]["delete"]["responses"]
    assert "422" in paths["/v1/torrents"]["post"]["responses"]
    torrent_schema = document["components"]["schemas"]["Torrent"]
    assert set(torrent_schema["properties"]) == set(listed)


def test_health_full_names_components_versions_and_queues(
    module_daemon: Daemon,
) -> None:
    status, body = module_daemon.api("GET", "/health/full")

    assert status == 200
    assert body["status"] == "ok" and body["failing"] == []
    for name in ("engine", "database", "fsops"):
        assert body["components"][name]["status"] == "ok"
    assert body["components"]["database"]["latency_ms"] >= 0
    assert body["versions"]["libtorrent"] == lt.__version__
    assert body["versions"]["postgresql"][0].isdigit()
    assert body["uptime_seconds"] > 0
    assert body["queues"]["persistence_outbox"] >= 0
    # FsOps answered a probe, timed like the others, and its queues are counted.
    assert body["components"]["fsops"]["latency_ms"] >= 0
    assert "busy_workers" not in body["components"]["fsops"]
    assert body["queues"]["fsops_pending"] == 0
    assert body["queues"]["fsops_moving"] == 0


def test_unknown_job_is_404_and_bad_filters_are_400(module_daemon: Daemon) -> None:
    assert module_daemon.api("GET", "/v1/fs-jobs/424242")[0] == 404
    assert module_daemon.api("GET", "/v1/fs-jobs/abc")[0] == 404
    retry = module_daemon.api("POST", "/v1/fs-jobs/abc/retry")
    assert retry[0] == 404
    assert retry[1]["detail"] == "no fs job with id abc"
    bad_status = module_daemon.api("GET", "/v1/fs-jobs?status=dancing")
    assert bad_status[0] == 400
    assert bad_status[1]["invalid_params"][0]["name"] == "status"
    assert module_daemon.api("GET", "/v1/fs-jobs?torrent_id=zz")[0] == 400


def test_add_wait_returns_once_the_download_is_in_the_library(
    daemon: Daemon, seeder: Any
) -> None:
    added = daemon.cli("add", seeder.magnet, "--category", "tv", "--wait", "--json")

    assert added.returncode == 0, added.stderr
    answer = json.loads(added.stdout)
    assert answer["id"] == seeder.info_hash
    library = daemon.data_dir / "library" / "tv" / "Show.S01"
    assert f"filed into {library}" in added.stderr
    assert answer["torrent"]["id"] == seeder.info_hash
    assert answer["torrent"]["library_path"] == str(library)
    assert answer["job"]["torrent_id"] == seeder.info_hash
    assert answer["job"]["status"] == "moved"
    # --wait returned only after the job finished: the files are already there.
    for source in seeder.payload.rglob("*"):
        if source.is_file():
            target = library / source.relative_to(seeder.payload)
            assert target.read_bytes() == source.read_bytes()
    assert daemon.cli_json("jobs", "--status", "moved")[0]["torrent_id"] == (
        seeder.info_hash
    )

    # `jobs list` with its filters, `jobs show` and `jobs retry`.
    job_id = answer["job"]["id"]
    listed = daemon.cli_json("jobs", "list")
    assert [j["id"] for j in listed] == [job_id]
    prefix = seeder.info_hash[:8]
    assert [j["id"] for j in daemon.cli_json("jobs", "list", "--torrent", prefix)] == [
        job_id
    ]
    assert daemon.cli_json("jobs", "list", "--status", "moved")[0]["id"] == job_id
    assert daemon.cli_json("jobs", "list", "--status", "failed") == []
    other = "ab" * 20
    assert daemon.cli_json("jobs", "list", "--torrent", other) == []
    table = daemon.cli("jobs", "list")
    assert table.returncode == 0 and seeder.info_hash in table.stdout
    assert str(library) in table.stdout
    bad_status = daemon.cli("jobs", "list", "--status", "completed")
    assert bad_status.returncode == 2 and "completed" in bad_status.stderr
    shown = daemon.cli_json("jobs", "show", str(job_id))
    assert shown["status"] == "moved" and shown["history"][-1]["status"] == "moved"
    not_failed = daemon.cli("jobs", "retry", str(job_id))
    assert not_failed.returncode == 2 and "409" in not_failed.stderr


def test_add_json_prints_the_id(module_daemon: Daemon) -> None:
    magnet = _magnet("json-add")

    added = module_daemon.cli("add", magnet, "--paused", "--json")

    assert added.returncode == 0, added.stderr
    answer = json.loads(added.stdout)
    assert set(answer) == {"id"} and answer["id"] == magnet.split("btih:")[1][:40]
    assert module_daemon.api("GET", f"/v1/torrents/{answer['id']}")[0] == 200
