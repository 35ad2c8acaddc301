"""The qBittorrent-compatible API's HTTP rules, checked with plain requests:
sessions, bans, bodies, booleans, lists, the Origin check and unknown paths."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.daemon import Daemon

VALID = "c3f5c8a7d7f1e0b2a4d6c8e0f2a4b6c8d0e2f4a6"
OTHER = "d4a6c8e0f2a4b6c8d0e2f4a6c3f5c8a7d7f1e0b2"
TIMEOUT = 30


def catalog(items: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    """What a user told the daemon about each torrent (no live figures)."""
    return {(t["hash"], t["name"], t["category"], t["tags"]) for t in items}


def magnet(info_hash: str, name: str) -> str:
    return f"magnet:?xt=urn:btih:{info_hash}&dn={name}"


def base(daemon: Daemon) -> str:
    return daemon.api_url + "/api/v2/"


def password(daemon: Daemon) -> str:
    return (daemon.data_dir / "qbittorrent-password").read_text().strip()


def logged_in(daemon: Daemon) -> requests.Session:
    client = requests.Session()
    answer = client.post(
        base(daemon) + "auth/login",
        data={"username": "admin", "password": password(daemon)},
        timeout=TIMEOUT,
    )
    assert (answer.status_code, answer.text) == (200, "Ok.")
    return client


@pytest.fixture(scope="module")
def qbt(module_daemon: Daemon) -> Daemon:
    return module_daemon


@pytest.fixture(scope="module")
def client(qbt: Daemon) -> requests.Session:
    return logged_in(qbt)


def test_the_generated_password_is_written_once_readable_only_by_the_owner(
    qbt: Daemon,
) -> None:
    path = qbt.data_dir / "qbittorrent-password"

    mode = stat.S_IMODE(path.stat().st_mode)

    assert mode == 0o600
    assert len(password(qbt)) >= 12
    assert password(qbt) not in qbt.log()


def test_every_call_without_a_session_is_a_403_and_login_sets_sid(
    qbt: Daemon,
) -> None:
    anonymous = requests.get(base(qbt) + "app/webapiVersion", timeout=TIMEOUT)
    unknown = requests.get(base(qbt) + "nope/nothing", timeout=TIMEOUT)
    wrong = requests.post(
        base(qbt) + "auth/login",
        data={"username": "admin", "password": "wrong"},
        timeout=TIMEOUT,
    )
    login = requests.post(
        base(qbt) + "auth/login",
        data={"username": "admin", "password": password(qbt)},
        timeout=TIMEOUT,
    )
    cookie = login.headers["Set-Cookie"]
    version = requests.get(
        base(qbt) + "app/webapiVersion", cookies=login.cookies, timeout=TIMEOUT
    )

    assert (anonymous.status_code, anonymous.text) == (403, "Forbidden")
    assert unknown.status_code == 403
    assert (wrong.status_code, wrong.text) == (200, "Fails.")
    assert (login.status_code, login.text) == (200, "Ok.")
    assert cookie.startswith("SID=") and "HttpOnly" in cookie
    assert "secure" not in cookie.lower()
    assert (version.status_code, version.text) == (200, "2.11.4")


def test_basic_credentials_work_without_a_login_and_empty_ones_are_ignored(
    qbt: Daemon,
) -> None:
    good = base64.b64encode(f"admin:{password(qbt)}".encode()).decode()

    with_basic = requests.get(
        base(qbt) + "app/version",
        headers={"Authorization": f"Basic {good}"},
        timeout=TIMEOUT,
    )
    radarr_empty = requests.get(
        base(qbt) + "app/version",
        headers={"Authorization": "Basic Og=="},
        timeout=TIMEOUT,
    )

    assert (with_basic.status_code, with_basic.text) == (200, "v5.1.0")
    assert "SID=" in with_basic.headers["Set-Cookie"]
    assert radarr_empty.status_code == 403


def test_unknown_endpoints_are_404_and_post_only_actions_refuse_get(
    client: requests.Session, qbt: Daemon
) -> None:
    unknown_action = client.get(base(qbt) + "torrents/nothing", timeout=TIMEOUT)
    unknown_scope = client.get(base(qbt) + "nothing/info", timeout=TIMEOUT)
    too_deep = client.get(base(qbt) + "torrents/info/extra", timeout=TIMEOUT)
    get_delete = client.get(
        base(qbt) + "torrents/delete", params={"hashes": "all"}, timeout=TIMEOUT
    )

    for answer in (unknown_action, unknown_scope, too_deep):
        assert (answer.status_code, answer.text) == (404, "Endpoint does not exist")
        assert answer.headers["Content-Type"].startswith("text/plain")
    assert get_delete.status_code == 405


def test_a_browser_request_from_another_origin_is_refused(
    client: requests.Session, qbt: Daemon
) -> None:
    host = f"127.0.0.1:{qbt.port}"

    foreign = client.get(
        base(qbt) + "app/version",
        headers={"Origin": "http://evil.example:8080"},
        timeout=TIMEOUT,
    )
    foreign_referer = client.get(
        base(qbt) + "app/version",
        headers={"Referer": "http://127.0.0.1:1/page"},
        timeout=TIMEOUT,
    )
    same = client.get(
        base(qbt) + "app/version",
        headers={"Origin": f"http://{host}", "Referer": f"http://{host}/"},
        timeout=TIMEOUT,
    )
    cross_fetch = client.get(
        base(qbt) + "app/version",
        headers={"Sec-Fetch-Site": "cross-site"},
        timeout=TIMEOUT,
    )

    assert foreign.status_code == 401
    assert foreign_referer.status_code == 401
    assert cross_fetch.status_code == 401
    assert (same.status_code, same.text) == (200, "v5.1.0")


def test_form_and_multipart_bodies_true_in_any_case_and_pipe_lists(
    client: requests.Session, qbt: Daemon
) -> None:
    form = client.post(
        base(qbt) + "torrents/add",
        data={"urls": magnet(VALID, "Form.Show"), "paused": "True", "tags": "a, b"},
        timeout=TIMEOUT,
    )
    multipart = client.post(
        base(qbt) + "torrents/add",
        files={
            "urls": (None, magnet(OTHER, "Multi.Show")),
            "stopped": (None, "true"),
            "category": (None, "sonarr"),
        },
        timeout=TIMEOUT,
    )
    both = client.get(
        base(qbt) + "torrents/info",
        params={"hashes": f"{VALID}|{OTHER.upper()}", "sort": "name"},
        timeout=TIMEOUT,
    ).json()
    stopped = client.get(
        base(qbt) + "torrents/info", params={"filter": "stopped"}, timeout=TIMEOUT
    ).json()
    old_name = client.get(
        base(qbt) + "torrents/info", params={"filter": "paused"}, timeout=TIMEOUT
    ).json()
    paused_dl = client.get(
        base(qbt) + "torrents/info", params={"filter": "pausedDL"}, timeout=TIMEOUT
    ).json()
    paused_up = client.get(
        base(qbt) + "torrents/info", params={"filter": "pausedUP"}, timeout=TIMEOUT
    ).json()
    in_sonarr = client.get(
        base(qbt) + "torrents/info", params={"category": "sonarr"}, timeout=TIMEOUT
    ).json()
    tagged = client.get(
        base(qbt) + "torrents/info", params={"tag": "b"}, timeout=TIMEOUT
    ).json()

    assert (form.status_code, form.text) == (200, "Ok.")
    assert (multipart.status_code, multipart.text) == (200, "Ok.")
    assert [t["name"] for t in both] == ["Form.Show", "Multi.Show"]
    assert {t["hash"] for t in stopped} >= {VALID, OTHER}
    assert {t["state"] for t in stopped if t["hash"] in (VALID, OTHER)} == {"stoppedDL"}
    assert {t["hash"] for t in old_name} == {t["hash"] for t in stopped}
    assert {VALID, OTHER} <= {t["hash"] for t in paused_dl}
    assert {t["state"] for t in paused_dl} == {"stoppedDL"}
    assert {VALID, OTHER}.isdisjoint(t["hash"] for t in paused_up)
    assert [t["hash"] for t in in_sonarr] == [OTHER]
    assert [(t["hash"], t["tags"]) for t in tagged] == [(VALID, "a, b")]
    assert "sonarr" in client.get(base(qbt) + "torrents/categories").json()


def test_all_and_pipe_lists_reach_every_named_torrent(
    client: requests.Session, qbt: Daemon
) -> None:
    first, second = "ab" * 20, "cd" * 20
    for info_hash in (first, second):
        client.post(
            base(qbt) + "torrents/add",
            data={"urls": magnet(info_hash, f"List.{info_hash[:2]}"), "paused": "true"},
            timeout=TIMEOUT,
        )

    tagged = client.post(
        base(qbt) + "torrents/addTags",
        data={"hashes": f"{first}|{second}", "tags": "listed"},
        timeout=TIMEOUT,
    )
    forced = client.post(
        base(qbt) + "torrents/setForceStart",
        data={"hashes": "all", "value": "TRUE"},
        timeout=TIMEOUT,
    )
    infos = client.get(base(qbt) + "torrents/info", timeout=TIMEOUT).json()
    unforced = client.post(
        base(qbt) + "torrents/setForceStart",
        data={"hashes": "all", "value": "false"},
        timeout=TIMEOUT,
    )
    stopped = client.post(
        base(qbt) + "torrents/stop", data={"hashes": "all"}, timeout=TIMEOUT
    )
    after = client.get(base(qbt) + "torrents/info", timeout=TIMEOUT).json()

    assert tagged.status_code == forced.status_code == 200
    assert unforced.status_code == stopped.status_code == 200
    listed = {t["hash"] for t in infos if "listed" in t["tags"].split(", ")}
    assert listed == {first, second}
    assert all(t["force_start"] for t in infos)
    assert not any(t["force_start"] for t in after)
    assert {t["state"] for t in after} == {"stoppedDL"}
    assert "listed" in client.get(base(qbt) + "torrents/tags").json()


def test_bad_input_answers_in_plain_text_with_qbittorrent_codes(
    client: requests.Session, qbt: Daemon
) -> None:
    before = client.get(base(qbt) + "torrents/info", timeout=TIMEOUT).json()

    no_hash = client.get(base(qbt) + "torrents/properties", timeout=TIMEOUT)
    unknown = client.get(
        base(qbt) + "torrents/files", params={"hash": "ef" * 20}, timeout=TIMEOUT
    )
    bad_sort = client.get(
        base(qbt) + "torrents/info", params={"sort": "nope"}, timeout=TIMEOUT
    )
    bad_file = client.post(
        base(qbt) + "torrents/add",
        files={"torrents": ("evil.torrent", b"d4:infoi1ee")},
        timeout=TIMEOUT,
    )
    bad_category = client.post(
        base(qbt) + "torrents/setCategory",
        data={"hashes": "all", "category": "never-created"},
        timeout=TIMEOUT,
    )
    slash = client.post(
        base(qbt) + "torrents/createCategory",
        data={"category": "../etc"},
        timeout=TIMEOUT,
    )
    bad_magnet = client.post(
        base(qbt) + "torrents/add",
        data={"urls": "magnet:?xt=urn:btih:abc"},
        timeout=TIMEOUT,
    )
    bad_json = client.post(
        base(qbt) + "app/setPreferences", data={"json": "{"}, timeout=TIMEOUT
    )

    assert (no_hash.status_code, no_hash.text) == (
        400,
        "Missing required parameters: hash",
    )
    assert (unknown.status_code, unknown.text) == (404, "Not Found")
    assert (bad_sort.status_code, bad_sort.text) == (
        400,
        "'sort' parameter is invalid",
    )
    assert (bad_file.status_code, bad_file.text) == (
        415,
        "Error: 'evil.torrent' is not a valid torrent file.",
    )
    assert (bad_category.status_code, bad_category.text) == (
        409,
        "Incorrect category name",
    )
    assert (slash.status_code, slash.text) == (409, "Incorrect category name")
    assert bad_magnet.status_code == 400
    assert bad_magnet.text == "magnet has a malformed hash: 'urn:btih:abc'"
    assert bad_json.status_code == 400
    for answer in (no_hash, unknown, bad_file, bad_category, bad_json):
        assert answer.headers["Content-Type"].startswith("text/plain")
    assert catalog(client.get(base(qbt) + "torrents/info").json()) == catalog(before)


def test_five_failed_logins_ban_the_address(daemon: Daemon) -> None:
    answers = [
        requests.post(
            base(daemon) + "auth/login",
            data={"username": "admin", "password": f"guess{i}"},
            timeout=TIMEOUT,
        )
        for i in range(5)
    ]
    right = requests.post(
        base(daemon) + "auth/login",
        data={"username": "admin", "password": password(daemon)},
        timeout=TIMEOUT,
    )

    assert [(a.status_code, a.text) for a in answers] == [(200, "Fails.")] * 5
    assert right.status_code == 403
    assert right.text == (
        "Your IP address has been banned after too many failed authentication attempts."
    )


def test_credentials_from_revaer_toml_and_the_api_key(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon]
) -> None:
    instance = Daemon(tmp_path / "data", database_url)
    with (instance.data_dir / "revaer.toml").open("a") as handle:
        handle.write('\n[qbittorrent]\nusername = "sonarr"\npassword = "s3cret pass"\n')
    daemon_factory.append(instance)
    instance.start()
    key = (instance.data_dir / "api-key").read_text().strip()

    login = requests.post(
        base(instance) + "auth/login",
        data={"username": "sonarr", "password": "s3cret pass"},
        timeout=TIMEOUT,
    )
    admin = requests.post(
        base(instance) + "auth/login",
        data={"username": "admin", "password": "s3cret pass"},
        timeout=TIMEOUT,
    )
    bearer = requests.post(
        base(instance) + "app/version",
        headers={"Authorization": f"Bearer {key}"},
        timeout=TIMEOUT,
    )
    wrong_key = requests.get(
        base(instance) + "app/version",
        headers={"Authorization": "Bearer nope"},
        timeout=TIMEOUT,
    )
    # qBittorrent refuses an API key on auth/*, even with good credentials.
    bearer_auth = [
        requests.post(
            base(instance) + path,
            data={"username": "sonarr", "password": "s3cret pass"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=TIMEOUT,
        )
        for path in ("auth/login", "auth/logout")
    ]

    assert login.text == "Ok."
    assert admin.text == "Fails."
    assert (bearer.status_code, bearer.text) == (200, "v5.1.0")
    assert wrong_key.status_code == 403
    assert [(a.status_code, a.text) for a in bearer_auth] == [(403, "Forbidden")] * 2
    assert all("SID=" not in a.headers.get("Set-Cookie", "") for a in bearer_auth)
    assert not (instance.data_dir / "qbittorrent-password").exists()


def test_logout_ends_the_session(qbt: Daemon) -> None:
    own = logged_in(qbt)

    before = own.get(base(qbt) + "app/version", timeout=TIMEOUT)
    logout = own.post(base(qbt) + "auth/logout", timeout=TIMEOUT)
    after = own.get(
        base(qbt) + "app/version",
        cookies={"SID": before.request.headers["Cookie"].split("=", 1)[1]},
        timeout=TIMEOUT,
    )

    assert before.status_code == 200 and logout.status_code == 200
    assert after.status_code == 403


def test_an_oversized_upload_is_a_413_and_adds_nothing(
    client: requests.Session, qbt: Daemon
) -> None:
    limit = 2 * 16 * 1024 * 1024
    before = client.get(base(qbt) + "torrents/info", timeout=TIMEOUT).json()

    answer = client.post(
        base(qbt) + "torrents/add",
        files={"torrents": ("big.torrent", b"d" * (limit + 1))},
        data={"category": "too-big"},
        timeout=TIMEOUT,
    )

    assert (answer.status_code, answer.text) == (
        413,
        f"the body is larger than {limit} bytes",
    )
    assert catalog(client.get(base(qbt) + "torrents/info").json()) == catalog(before)
    assert "too-big" not in client.get(base(qbt) + "torrents/categories").json()


def test_sort_reverse_limit_and_offset(client: requests.Session, qbt: Daemon) -> None:
    names = ["Sort.C", "Sort.A", "Sort.B"]
    for index, name in enumerate(names):
        client.post(
            base(qbt) + "torrents/add",
            data={
                "urls": magnet(f"{index + 1:x}e" * 20, name),
                "paused": "true",
                "category": "sorting",
            },
            timeout=TIMEOUT,
        )

    def page(**query: str) -> list[str]:
        query["category"] = "sorting"
        items = client.get(base(qbt) + "torrents/info", params=query).json()
        return [t["name"] for t in items]

    assert page(sort="name") == ["Sort.A", "Sort.B", "Sort.C"]
    assert page(sort="name", reverse="True") == ["Sort.C", "Sort.B", "Sort.A"]
    assert page(sort="name", limit="2", offset="1") == ["Sort.B", "Sort.C"]
    assert page(sort="name", offset="-1") == ["Sort.C"]
    # `private` is null until the metadata is there; nulls sort last.
    assert len(page(sort="private")) == 3
    assert page(filter="completed") == []
    assert set(page(filter="downloading")) == set(names)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=XX", b"--XX\r\nno headers end"),
        ("multipart/form-data", b"--XX\r\n\r\n--XX--\r\n"),
        ("application/x-www-form-urlencoded; charset=utf-8", b"urls=\xff\xfe"),
    ],
)
def test_a_malformed_form_body_is_a_400_and_adds_nothing(
    client: requests.Session, qbt: Daemon, content_type: str, body: bytes
) -> None:
    before = client.get(base(qbt) + "torrents/info", timeout=TIMEOUT).json()

    answer = client.post(
        base(qbt) + "torrents/add",
        data=body,
        headers={"Content-Type": content_type},
        timeout=TIMEOUT,
    )

    assert answer.status_code == 400, answer.text
    assert answer.text.startswith("malformed form body")
    assert catalog(client.get(base(qbt) + "torrents/info").json()) == catalog(before)


def test_an_origin_that_names_no_host_is_refused(
    client: requests.Session, qbt: Daemon
) -> None:
    answer = client.get(
        base(qbt) + "app/version", headers={"Origin": "null"}, timeout=TIMEOUT
    )

    assert answer.status_code == 401


def test_trackers_transfer_info_log_and_head(
    client: requests.Session, qbt: Daemon
) -> None:
    info_hash = "9c" * 20
    tracker = "http://127.0.0.1:9/announce"
    client.post(
        base(qbt) + "torrents/add",
        data={"urls": magnet(info_hash, "Tracked") + "&tr=" + tracker, "paused": "1"},
        timeout=TIMEOUT,
    )

    trackers = client.get(
        base(qbt) + "torrents/trackers", params={"hash": info_hash}, timeout=TIMEOUT
    ).json()
    transfer = client.get(base(qbt) + "transfer/info", timeout=TIMEOUT).json()
    lines = client.get(base(qbt) + "log/main", timeout=TIMEOUT).json()
    # Something to log after the first read, so `newer` cannot be empty.
    later = "9d" * 20
    client.post(
        base(qbt) + "torrents/add",
        data={"urls": magnet(later, "Later"), "paused": "true"},
        timeout=TIMEOUT,
    )
    newer = client.get(
        base(qbt) + "log/main",
        params={"last_known_id": str(lines[-1]["id"])},
        timeout=TIMEOUT,
    ).json()
    head = client.head(base(qbt) + "app/version", timeout=TIMEOUT)
    maindata = client.get(base(qbt) + "sync/maindata", timeout=TIMEOUT).json()
    item = client.get(
        base(qbt) + "torrents/info", params={"hashes": info_hash}, timeout=TIMEOUT
    ).json()[0]

    assert [t["url"] for t in trackers] == [tracker]
    assert set(transfer) >= {"dl_info_speed", "up_info_data", "connection_status"}
    assert any(info_hash in line["message"] for line in lines)
    assert newer and all(line["id"] > lines[-1]["id"] for line in newer)
    assert any(later in line["message"] for line in newer)
    assert not any(later in line["message"] for line in lines)
    assert {"id", "message", "timestamp", "type"} <= set(lines[0])
    assert head.status_code == 200
    assert maindata["trackers"][tracker] == [info_hash]
    # "1" is not a qBittorrent boolean: the torrent was not added stopped.
    assert item["state"] != "stoppedDL" and item["trackers_count"] == 1
