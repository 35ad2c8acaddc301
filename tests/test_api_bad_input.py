"""Bad input gets a clear Problem+JSON answer and changes nothing."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import Daemon
from tests.seeder import make_payload, make_torrent

ZERO = "0" * 40
VALID = "c3f5c8a7d7f1e0b2a4d6c8e0f2a4b6c8d0e2f4a6"
PROBLEM = "https://revaer.dev/problems/"


@pytest.fixture(scope="module")
def api_daemon(module_daemon: Daemon) -> Daemon:
    return module_daemon


@pytest.fixture
def unchanged(api_daemon: Daemon) -> Iterator[None]:
    """Asserts that the test left the catalog and the job list as it found them."""
    before = api_daemon.catalog()
    jobs_before = api_daemon.api("GET", "/v1/fs-jobs")[1]["items"]
    yield
    assert api_daemon.catalog() == before
    assert api_daemon.api("GET", "/v1/fs-jobs")[1]["items"] == jobs_before


@pytest.mark.parametrize(
    ("magnet", "detail"),
    [
        (
            f"magnet:?xt=urn:btih:{VALID}\n",
            "magnet contains whitespace or control characters",
        ),
        (
            f"magnet:?xt=urn:btih:{VALID} ",
            "magnet contains whitespace or control characters",
        ),
        (
            f"magnet:?xt=urn:btih:{ZERO}",
            f"magnet has a malformed hash: 'urn:btih:{ZERO}'",
        ),
        ("magnet:?xt=urn:btih:abc", "magnet has a malformed hash: 'urn:btih:abc'"),
        (
            f"magnet:?xt=urn:btih:{VALID[:-1]}g",
            f"magnet has a malformed hash: 'urn:btih:{VALID[:-1]}g'",
        ),
        ("magnet:?dn=nothing", "magnet has no 'xt' (exact topic)"),
        (
            f"http://example.invalid/?xt=urn:btih:{VALID}",
            "magnet must start with 'magnet:?'",
        ),
    ],
)
def test_a_bad_magnet_is_a_400_naming_the_problem(
    api_daemon: Daemon, unchanged: None, magnet: str, detail: str
) -> None:
    status, body = api_daemon.api("POST", "/v1/torrents", {"magnet": magnet})

    assert status == 400
    assert body == {
        "type": PROBLEM + "invalid-input",
        "title": "Invalid input",
        "status": 400,
        "detail": detail,
        "invalid_params": [{"name": "/magnet", "reason": detail}],
    }


def test_bad_json_is_a_400(api_daemon: Daemon, unchanged: None) -> None:
    status, body = api_daemon.api("POST", "/v1/torrents", raw=b'{"magnet": ')

    assert status == 400
    assert body["type"] == PROBLEM + "invalid-input"
    assert body["detail"].startswith("body is not valid JSON")


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"magnet": f"magnet:?xt=urn:btih:{VALID}", "category": "../etc"}, "/category"),
        ({"magnet": f"magnet:?xt=urn:btih:{VALID}", "category": "a/b"}, "/category"),
        ({"magnet": f"magnet:?xt=urn:btih:{VALID}", "tags": ["ok", 3]}, "/tags/1"),
        ({"magnet": f"magnet:?xt=urn:btih:{VALID}", "paused": "yes"}, "/paused"),
        ({"magnet": f"magnet:?xt=urn:btih:{VALID}", "colour": "red"}, "/colour"),
        ({"metainfo": "not base64!"}, "/metainfo"),
        (
            {"magnet": f"magnet:?xt=urn:btih:{VALID}", "save_path": "/tmp\x00/x"},
            "/save_path",
        ),
        ({"magnet": f"magnet:?xt=urn:btih:{VALID}", "tags": ["ok", "a,b"]}, "/tags/1"),
        (
            {
                "magnet": f"magnet:?xt=urn:btih:{VALID}",
                "fsops": {"template": "../../{name}"},
            },
            "/fsops/template",
        ),
        (
            {
                "magnet": f"magnet:?xt=urn:btih:{VALID}",
                "fsops": {"template": "{name}/../../../../escapeC"},
            },
            "/fsops/template",
        ),
        ({"metainfo": base64.b64encode(b"d4:spam4:eggse").decode()}, "/metainfo"),
    ],
)
def test_a_bad_field_is_a_400_with_its_pointer(
    api_daemon: Daemon, unchanged: None, body: dict[str, object], pointer: str
) -> None:
    status, problem = api_daemon.api("POST", "/v1/torrents", body)

    assert status == 400
    assert [p["name"] for p in problem["invalid_params"]] == [pointer]


def test_neither_or_both_sources_is_a_400(api_daemon: Daemon, unchanged: None) -> None:
    for body in ({}, {"magnet": f"magnet:?xt=urn:btih:{VALID}", "metainfo": ""}):
        status, problem = api_daemon.api("POST", "/v1/torrents", body)

        assert status == 400
        assert problem["detail"] == (
            "give exactly one of 'magnet', 'metainfo' and 'url'"
        )


def test_an_oversized_body_is_a_413(api_daemon: Daemon, unchanged: None) -> None:
    raw = b'{"metainfo": "' + b"A" * (24 * 1024 * 1024) + b'"}'

    status, problem = api_daemon.api("POST", "/v1/torrents", raw=raw)

    assert status == 413
    assert problem["type"] == PROBLEM + "body-too-large"


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary at all",
        b"--x\r\nContent-Disposition: form-data; name=torrent\r\n\r\nabc",
        b"--x\r\nbroken header line\r\n\r\nabc\r\n--x--\r\n",
    ],
)
def test_a_malformed_multipart_body_is_a_400(
    api_daemon: Daemon, unchanged: None, body: bytes
) -> None:
    request = urllib.request.Request(
        api_daemon.api_url + "/v1/torrents",
        data=body,
        method="POST",
        headers=api_daemon.headers("multipart/form-data; boundary=x"),
    )

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)

    assert answer.value.code == 400
    problem = json.loads(answer.value.read())
    assert problem["type"] == PROBLEM + "invalid-input"


@pytest.mark.parametrize("torrent_id", [VALID, ZERO, "not-a-hash", VALID.upper()])
def test_an_unknown_id_is_a_404(
    api_daemon: Daemon, unchanged: None, torrent_id: str
) -> None:
    status, problem = api_daemon.api("GET", f"/v1/torrents/{torrent_id}")

    assert status == 404
    assert problem["title"] == "Not found"
    assert problem["detail"] == f"no torrent with id {torrent_id}"


def test_the_cli_prints_the_detail_and_exits_2_on_bad_input(
    api_daemon: Daemon, unchanged: None, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.torrent"
    junk.write_bytes(b"this is not bencode")

    result = api_daemon.cli("add", str(junk))

    assert result.returncode == 2
    assert "libtorrent refused the torrent" in result.stderr
    missing = api_daemon.cli("status", VALID)
    assert missing.returncode == 2
    assert f"404: no torrent with id {VALID}" in missing.stderr


def test_the_cli_exits_3_when_the_daemon_is_unreachable() -> None:
    import subprocess
    import sys

    from tests.daemon import free_port

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "revaer_actors",
            "--api-url",
            f"http://127.0.0.1:{free_port()}",
            "ls",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 3
    assert "cannot reach the daemon" in result.stderr


def test_adding_the_same_torrent_twice_is_a_409(api_daemon: Daemon) -> None:
    magnet = "magnet:?xt=urn:btih:" + "1" * 40 + "&dn=twice"
    first = api_daemon.api("POST", "/v1/torrents", {"magnet": magnet, "paused": True})
    before = api_daemon.catalog()

    second = api_daemon.api("POST", "/v1/torrents", {"magnet": magnet})

    assert first == (201, {"id": "1" * 40})
    assert second[0] == 409
    assert second[1]["type"] == PROBLEM + "already-exists"
    assert api_daemon.catalog() == before


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "body is not valid JSON: nested too deep"),
        (b'{"paused": ' + b"9" * 5000 + b"}", "body is not valid JSON: Exceeds"),
        (b'{"magnet": "\xff"}', "body is not valid JSON: 'utf-8' codec"),
    ],
)
def test_hostile_json_is_a_400(
    api_daemon: Daemon, unchanged: None, raw: bytes, detail: str
) -> None:
    status, problem = api_daemon.api("POST", "/v1/torrents", raw=raw)

    assert status == 400
    assert problem["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("magnet", "detail"),
    [
        (
            f"magnet:?xt=urn:btih:{VALID}&dn=\ud800",
            "magnet must be ASCII; percent-encode other characters",
        ),
        (
            f"magnet:?xt=urn:btih:{VALID}&xt=urn:btih:{'5' * 40}",
            "magnet names more than one v1 info hash",
        ),
    ],
)
def test_ambiguous_or_non_ascii_magnets_are_refused(
    api_daemon: Daemon, unchanged: None, magnet: str, detail: str
) -> None:
    status, problem = api_daemon.api("POST", "/v1/torrents", {"magnet": magnet})

    assert status == 400
    assert problem["detail"] == detail


def test_a_category_too_long_for_a_folder_name_is_refused(
    api_daemon: Daemon, unchanged: None
) -> None:
    body = {"magnet": f"magnet:?xt=urn:btih:{VALID}", "category": "\U0001f600" * 64}

    status, problem = api_daemon.api("POST", "/v1/torrents", body)

    assert status == 400
    assert problem["detail"] == "category must be at most 64 characters and 255 bytes"


@pytest.mark.parametrize(
    ("dn", "name"),
    [("%ff", None), ("a%00b", "a_b"), ("%5B%2F%5D", "[/]")],
)
def test_odd_display_names_are_cleaned_not_refused(
    api_daemon: Daemon, dn: str, name: str | None
) -> None:
    digest = "6" * 39 + str(len(dn))
    magnet = f"magnet:?xt=urn:btih:{digest}&dn={dn}"

    status, answer = api_daemon.api(
        "POST", "/v1/torrents", {"magnet": magnet, "paused": True}
    )
    listed = api_daemon.cli("ls")
    shown = api_daemon.cli("status", digest)

    assert (status, answer) == (201, {"id": digest})
    stored = api_daemon.api("GET", f"/v1/torrents/{digest}")[1]
    assert stored["name"] == (name or digest)
    assert listed.returncode == 0, listed.stderr
    assert shown.returncode == 0, shown.stderr
    assert f"name: {name or digest}" in shown.stdout


@pytest.fixture(scope="module")
def two_files(api_daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A paused torrent whose two files (0 and 1) are known from its metainfo."""
    payload = make_payload(
        tmp_path_factory.mktemp("payload"), "Two", {"a.mkv": 20_000, "b.nfo": 300}
    )
    metainfo = base64.b64encode(make_torrent(payload, v1_only=True)).decode()
    status, answer = api_daemon.api(
        "POST", "/v1/torrents", {"metainfo": metainfo, "paused": True}
    )
    assert status == 201, answer
    return str(answer["id"])


@pytest.mark.parametrize(
    ("path", "body", "pointer", "detail"),
    [
        (
            "action",
            {"type": "move", "save_path": "{downloads}\x00/x"},
            "/save_path",
            "save_path must not contain NUL or other control characters",
        ),
        (
            "action",
            {"type": "tags", "tags": ["a,b"]},
            "/tags/0",
            "tags[0] must not contain a comma",
        ),
        (
            "select",
            {
                "priorities": [
                    {"index": 0, "priority": "high"},
                    {"index": 99999, "priority": "skip"},
                ]
            },
            "/priorities/1/index",
            "index 99999: the torrent has no file with that index (its last is 1)",
        ),
    ],
)
def test_a_bad_command_is_a_400_naming_the_field_and_changes_nothing(
    api_daemon: Daemon,
    two_files: str,
    path: str,
    body: dict[str, Any],
    pointer: str,
    detail: str,
) -> None:
    downloads = str(api_daemon.data_dir / "downloads")
    body = {
        k: v.replace("{downloads}", downloads) if isinstance(v, str) else v
        for k, v in body.items()
    }
    before = api_daemon.api("GET", f"/v1/torrents/{two_files}")[1]

    status, problem = api_daemon.api("POST", f"/v1/torrents/{two_files}/{path}", body)

    assert status == 400, problem
    assert problem["detail"] == detail
    assert problem["invalid_params"] == [{"name": pointer, "reason": detail}]
    assert api_daemon.api("GET", f"/v1/torrents/{two_files}")[1] == before
    assert "embedded null byte" not in api_daemon.log()


def test_select_by_a_known_index_is_accepted(
    api_daemon: Daemon, two_files: str
) -> None:
    body = {"priorities": [{"index": 1, "priority": "skip"}]}

    status, record = api_daemon.api("POST", f"/v1/torrents/{two_files}/select", body)

    assert status == 200, record
    assert [f["priority"] for f in record["files"]] == ["normal", "skip"]
