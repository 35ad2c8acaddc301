"""What a hostile or careless client tried against the API, the façade and
the CLI, and what it must get: odd digits, tampered cursors, headers that are
not UTF-8, settings libtorrent cannot take, revoked keys on open streams, a
database that stays away or stops answering. Each test once failed."""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload
from tests.test_database_outage import StoppableServer

TIMEOUT = 30


def _magnet(name: str) -> str:
    return f"magnet:?xt=urn:btih:{secrets.token_hex(20)}&dn={name}"


def _raw(
    daemon: Daemon,
    method: str,
    path: str,
    headers: dict[str, Any] | None = None,
    body: bytes | None = None,
    timeout: float = TIMEOUT,
) -> tuple[int, str, bytes]:
    """One request with headers sent as given (bytes allowed), no checks."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return (
            response.status,
            response.headers.get_content_type(),
            response.read(),
        )
    finally:
        conn.close()


def _keyed(daemon: Daemon) -> dict[str, Any]:
    return {"X-Api-Key": daemon.api_key, "Content-Type": "application/json"}


def _basic(daemon: Daemon) -> dict[str, str]:
    password = (daemon.data_dir / "qbittorrent-password").read_text().strip()
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _cursor(value: list[Any]) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Numbers that str.isdigit() accepts but int() refuses, and over-long ones.


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/torrents?limit=%C2%B2", 400),
        ("GET", "/v1/torrents?limit=" + "9" * 5000, 400),
        ("GET", "/v1/events?last_event_id=%C2%B2", 400),
        ("DELETE", "/v1/keys/%C2%B2", 404),
        ("GET", "/v1/fs-jobs/%C2%B2", 404),
    ],
)
def test_odd_digits_are_a_client_error_not_a_server_error(
    module_daemon: Daemon, method: str, path: str, status: int
) -> None:
    # "²" is a digit to str.isdigit() but int("²") raises; 5,000 digits pass
    # isdigit() but exceed int()'s digit limit.
    got, content_type, _ = _raw(module_daemon, method, path, _keyed(module_daemon))

    assert (got, content_type) == (status, "application/problem+json")


@pytest.mark.parametrize(
    ("query", "cursor"),
    [
        # A datetime without a zone cannot be compared with added_at.
        ("", ["added_at", "asc", "2020-01-01T00:00:00", "x"]),
        # An integer too large for a float.
        ("&sort=progress", ["progress", "asc", 10**400, "x"]),
    ],
)
def test_a_tampered_cursor_is_400(
    module_daemon: Daemon, query: str, cursor: list[Any]
) -> None:
    status, body = module_daemon.api(
        "POST", "/v1/torrents", {"magnet": _magnet("cursor"), "paused": True}
    )
    assert status == 201, body

    got, content_type, raw = _raw(
        module_daemon,
        "GET",
        f"/v1/torrents?limit=1{query}&cursor={_cursor(cursor)}",
        _keyed(module_daemon),
    )

    assert (got, content_type) == (400, "application/problem+json"), raw
    assert json.loads(raw)["invalid_params"][0]["name"] == "cursor"


# Keys.


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/torrents", {"X-Api-Key": b"\xff\xfe"}, 401),
        ("/v1/torrents", {"Authorization": b"Bearer \xff\xfe"}, 401),
        ("/api/v2/app/version", {"Authorization": b"Bearer \xff\xfe"}, 403),
        ("/api/v2/app/version", {"Authorization": b"Basic \xff\xfe"}, 403),
    ],
)
def test_a_key_that_is_not_utf8_is_refused_not_a_500(
    module_daemon: Daemon, path: str, headers: dict[str, Any], status: int
) -> None:
    got, _, _ = _raw(module_daemon, "GET", path, headers)

    assert got == status


@pytest.mark.parametrize("name", ["a\u0000b", "a\ud800b"])
def test_a_key_name_the_database_cannot_store_is_400(
    module_daemon: Daemon, name: str
) -> None:
    _, before = module_daemon.api("GET", "/v1/keys")

    got, content_type, _ = _raw(
        module_daemon,
        "POST",
        "/v1/keys",
        _keyed(module_daemon),
        json.dumps({"name": name}).encode(),
    )

    assert (got, content_type) == (400, "application/problem+json")
    assert module_daemon.api("GET", "/v1/keys")[1] == before


def test_revoking_a_key_ends_the_event_stream_it_opened(module_daemon: Daemon) -> None:
    status, issued = module_daemon.api("POST", "/v1/keys", {"name": "short-lived"})
    assert status == 201
    stream = socket.create_connection(("127.0.0.1", module_daemon.port), timeout=10)
    stream.sendall(
        b"GET /v1/events?kind=torrent_added&keepalive=0.5 HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nX-Api-Key: " + issued["key"].encode() + b"\r\n\r\n"
    )
    assert stream.recv(65536).startswith(b"HTTP/1.1 200")

    status, _ = module_daemon.api("DELETE", f"/v1/keys/{issued['id']}")
    assert status == 200
    status, added = module_daemon.api(
        "POST", "/v1/torrents", {"magnet": _magnet("after-revoke"), "paused": True}
    )
    assert status == 201

    # Read what the stream still carries: keep-alives every 0.5 s, or its end.
    received = b""
    stream.settimeout(3)
    for _ in range(6):
        try:
            chunk = stream.recv(65536)
        except OSError:  # a timeout, or the daemon reset the stream
            break
        if not chunk:
            break
        received += chunk
    stream.close()

    assert added["id"].encode() not in received


# Settings that libtorrent cannot take.


def test_a_setting_libtorrent_cannot_take_is_400_and_the_daemon_still_starts(
    daemon: Daemon,
) -> None:
    got, content_type, _ = _raw(
        daemon,
        "PATCH",
        "/v1/settings",
        _keyed(daemon),
        json.dumps({"max_active_downloads": 10**20}).encode(),
    )
    daemon.stop()

    daemon.start()  # today: boot fails, the huge value was committed first

    assert (got, content_type) == (400, "application/problem+json")
    assert daemon.api("GET", "/v1/settings")[1]["max_active_downloads"] == -1


@pytest.mark.parametrize(
    "preferences",
    [
        {"max_ratio_enabled": True, "max_ratio": "2"},
        {"max_seeding_time_enabled": True, "max_seeding_time": 1e400},
        {"queueing_enabled": True, "max_active_downloads": 10**20},
    ],
)
def test_set_preferences_with_wrong_types_is_400_and_changes_nothing(
    module_daemon: Daemon, preferences: dict[str, Any]
) -> None:
    url = module_daemon.api_url + "/api/v2/app/"
    before = requests.get(
        url + "preferences", headers=_basic(module_daemon), timeout=TIMEOUT
    ).json()

    answer = requests.post(
        url + "setPreferences",
        data={"json": json.dumps(preferences)},
        headers=_basic(module_daemon),
        timeout=TIMEOUT,
    )

    after = requests.get(
        url + "preferences", headers=_basic(module_daemon), timeout=TIMEOUT
    ).json()
    assert answer.status_code == 400
    assert after == before


# The CLI.


def test_tail_with_a_resume_file_it_cannot_write_exits_2(
    module_daemon: Daemon, tmp_path: Path
) -> None:
    resume = tmp_path / "missing-folder" / "last-id"
    before = _subscribers(module_daemon)
    tail = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "revaer_actors",
            "--api-url",
            module_daemon.api_url,
            "tail",
            "--resume-file",
            str(resume),
        ],
        env={**os.environ, "REVAER_DATA_DIR": str(module_daemon.data_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        module_daemon.wait_for(
            lambda: _subscribers(module_daemon) > before, "tail to subscribe"
        )
        module_daemon.api(
            "POST", "/v1/torrents", {"magnet": _magnet("tail"), "paused": True}
        )
        try:
            code: int | None = tail.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None  # today: "event stream lost ... reconnecting", forever
    finally:
        if tail.poll() is None:
            tail.kill()
        _, err = tail.communicate(timeout=10)

    assert code == 2, err
    assert "missing-folder" in err


def _subscribers(daemon: Daemon) -> int:
    _, _, body = _raw(daemon, "GET", "/health/full")
    return int(json.loads(body)["queues"]["event_subscribers"])


# The database: long outages and a server that stops answering.


@pytest.fixture
def outage_server() -> Iterator[StoppableServer]:
    server = StoppableServer()
    yield server
    server.close()


def _post_add(daemon: Daemon, name: str) -> tuple[str, int, bytes]:
    magnet = _magnet(name)
    info_hash = magnet.split("btih:")[1].split("&")[0]
    status, _, body = _raw(
        daemon,
        "POST",
        "/v1/torrents",
        _keyed(daemon),
        json.dumps({"magnet": magnet, "paused": True}).encode(),
        timeout=90,
    )
    return info_hash, status, body


def test_adds_during_a_long_outage_are_503_and_leave_no_torrent_behind(
    tmp_path: Path,
    outage_server: StoppableServer,
    daemon_factory: list[Daemon],
) -> None:
    # A slow download keeps engine events coming, so the outbox is never empty.
    payload = make_payload(tmp_path / "seed", "Slow", {"a.bin": 4 * 2**20})
    seeder = Seeder(payload, upload_limit=64 * 1024)
    daemon = Daemon(tmp_path / "data", outage_server.url)
    daemon_factory.append(daemon)
    daemon.start()
    try:
        status, _ = daemon.api("POST", "/v1/torrents", {"magnet": seeder.magnet})
        assert status == 201
        outage_server.stop()
        daemon.wait_for(lambda: daemon.api("GET", "/health")[0] == 503, "degraded")

        # Each refused add costs the caller at most the ask timeout; a few in a
        # row are what an *arr retrying during an outage sends.
        answers = [_post_add(daemon, f"during-outage-{i}") for i in range(4)]

        outage_server.start()
        daemon.wait_for(lambda: daemon.api("GET", "/health")[0] == 200, "recovery")
        time.sleep(2)  # let the persistence actor work off its mailbox
        known_now = {t["id"] for t in daemon.torrents()}
        daemon.stop()
        daemon.start()
        known_after_restart = {t["id"] for t in daemon.torrents()}
    finally:
        seeder.close()

    assert [status for _, status, _ in answers] == [503] * 4, answers
    refused = {info_hash for info_hash, _, _ in answers}
    assert not refused & known_now
    assert not refused & known_after_restart


def _server_pids(server: StoppableServer) -> list[int]:
    postmaster = int(
        (server.folder / "pgdata" / "postmaster.pid").read_text().split()[0]
    )
    children = psutil.Process(postmaster).children()
    return [postmaster, *(child.pid for child in children)]


def test_health_answers_503_while_the_database_does_not_answer(
    tmp_path: Path,
    outage_server: StoppableServer,
    daemon_factory: list[Daemon],
) -> None:
    daemon = Daemon(tmp_path / "data", outage_server.url)
    daemon_factory.append(daemon)
    daemon.start()
    pids = _server_pids(outage_server)
    # A server that stops answering (a hung host, a network partition).
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        answer: Any = None
        try:
            answer = _raw(daemon, "GET", "/health", timeout=20)
        except TimeoutError as exc:
            answer = exc
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)

    assert not isinstance(answer, Exception), "GET /health did not answer in 20 s"
    assert answer[0] == 503
