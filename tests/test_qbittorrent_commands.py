"""qBittorrent-style commands and preferences: what they change is what
revaer's own API shows, and it is still there after a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.daemon import Daemon, free_port
from tests.seeder import make_payload, make_torrent

TIMEOUT = 30


class Qbt:
    """A logged-in plain-HTTP client for one daemon's /api/v2."""

    def __init__(self, daemon: Daemon) -> None:
        self.base = daemon.api_url + "/api/v2/"
        self.http = requests.Session()
        password = (daemon.data_dir / "qbittorrent-password").read_text().strip()
        answer = self.post("auth/login", username="admin", password=password)
        assert answer.text == "Ok."

    def post(self, path: str, files: Any = None, **form: str) -> requests.Response:
        return self.http.post(self.base + path, data=form, files=files, timeout=TIMEOUT)

    def get(self, path: str, **query: str) -> Any:
        answer = self.http.get(self.base + path, params=query, timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def torrent(self, info_hash: str) -> dict[str, Any]:
        items = self.get("torrents/info", hashes=info_hash)
        assert len(items) == 1
        return dict(items[0])


@pytest.fixture(scope="module")
def qbt(module_daemon: Daemon) -> Qbt:
    return Qbt(module_daemon)


@pytest.fixture(scope="module")
def metainfo(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    payload = make_payload(
        tmp_path_factory.mktemp("payload"), "Movie.2024", {"Movie.2024.mkv": 70_000}
    )
    return make_torrent(payload)


def test_a_torrent_file_upload_carries_the_add_options(
    qbt: Qbt, module_daemon: Daemon, metainfo: bytes
) -> None:
    answer = qbt.post(
        "torrents/add",
        files={"torrents": ("movie.torrent", metainfo, "application/octet-stream")},
        category="radarr",
        paused="True",
        ratioLimit="1.5",
        seedingTimeLimit="120",
        upLimit="40000",
        dlLimit="-1",
        sequentialDownload="True",
        firstLastPiecePrio="True",
        contentLayout="Original",
    )
    items = qbt.get("torrents/info", category="radarr")
    info_hash = items[0]["hash"]
    files = qbt.get("torrents/files", hash=info_hash.upper())
    ours = module_daemon.api("GET", f"/v1/torrents/{info_hash}")[1]

    assert (answer.status_code, answer.text) == (200, "Ok.")
    assert len(items) == 1
    view = items[0]
    assert view["name"] == "Movie.2024"
    assert view["state"] == "stoppedDL"
    assert (view["ratio_limit"], view["seeding_time_limit"]) == (1.5, 120)
    assert (view["up_limit"], view["dl_limit"]) == (40000, -1)
    assert view["seq_dl"] is True and view["has_metadata"] is True
    assert view["f_l_piece_prio"] is True
    assert ours["engine"]["first_last_piece"] is True
    assert view["size"] == 70_000 and view["amount_left"] == 70_000
    assert [(f["index"], f["name"], f["size"]) for f in files] == [
        (0, "Movie.2024/Movie.2024.mkv", 70_000)
    ]
    assert files[0]["progress"] == 0 and files[0]["priority"] == 1
    assert (ours["ratio_limit"], ours["seeding_time_limit"]) == (1.5, 120)
    assert ours["upload_limit"] == 40000 and ours["sequential"] is True


def test_share_limits_force_start_and_queue_rules(
    qbt: Qbt, module_daemon: Daemon
) -> None:
    info_hash = "5e" * 20
    qbt.post(
        "torrents/add",
        urls=f"magnet:?xt=urn:btih:{info_hash}&dn=Limits",
        stopped="true",
    )

    limits = qbt.post(
        "torrents/setShareLimits",
        hashes=info_hash,
        ratioLimit="2",
        seedingTimeLimit="-1",
        inactiveSeedingTimeLimit="-2",
    )
    limited = qbt.torrent(info_hash)
    back = qbt.post(
        "torrents/setShareLimits",
        hashes=info_hash,
        ratioLimit="-2",
        seedingTimeLimit="-2",
    )
    inherited = qbt.torrent(info_hash)
    top = qbt.post("torrents/topPrio", hashes=info_hash)
    missing = qbt.post("torrents/setShareLimits", hashes=info_hash)
    recheck = qbt.post("torrents/recheck", hashes=info_hash)
    reannounce = qbt.post("torrents/reannounce", hashes=info_hash)
    ours = module_daemon.api("GET", f"/v1/torrents/{info_hash}")[1]

    assert limits.status_code == back.status_code == 200
    assert (limited["ratio_limit"], limited["seeding_time_limit"]) == (2, -1)
    assert (limited["max_ratio"], limited["max_seeding_time"]) == (2, -1)
    assert (inherited["ratio_limit"], inherited["seeding_time_limit"]) == (-2, -2)
    assert (ours["ratio_limit"], ours["seeding_time_limit"]) == (None, None)
    # Queueing is off by default, so queue moves are refused as qBittorrent does.
    assert (top.status_code, top.text) == (409, "Torrent queueing must be enabled")
    assert missing.status_code == 400
    assert missing.text == "Missing required parameters: ratioLimit, seedingTimeLimit"
    assert recheck.status_code == reannounce.status_code == 200


def test_set_location_moves_the_payload_folder(qbt: Qbt, module_daemon: Daemon) -> None:
    info_hash = "6f" * 20
    target = module_daemon.data_dir / "library" / "elsewhere"
    qbt.post(
        "torrents/add", urls=f"magnet:?xt=urn:btih:{info_hash}&dn=Moved", paused="true"
    )

    moved = qbt.post("torrents/setLocation", hashes=info_hash, location=str(target))
    outside = qbt.post("torrents/setLocation", hashes=info_hash, location="/etc")
    deadline = time.monotonic() + 30
    while qbt.torrent(info_hash)["save_path"] != str(target):
        assert time.monotonic() < deadline, qbt.torrent(info_hash)
        time.sleep(0.1)

    assert moved.status_code == 200
    assert outside.status_code == 409
    assert "inside the downloads or the library folder" in outside.text


def test_preferences_are_applied_at_once_and_persisted(
    daemon: Daemon, tmp_path: Path
) -> None:
    qbt = Qbt(daemon)
    password = (daemon.data_dir / "qbittorrent-password").read_text()
    changes = {
        "dl_limit": 1_000_000,
        "up_limit": 0,
        "queueing_enabled": True,
        "max_active_downloads": 2,
        "max_active_uploads": 4,
        "max_ratio_enabled": True,
        "max_ratio": 1.5,
        "max_seeding_time_enabled": True,
        "max_seeding_time": 600,
        "max_ratio_act": 1,
        "pex": False,
        "an_unknown_key": "ignored",
    }

    answer = qbt.post("app/setPreferences", json=json.dumps(changes))
    prefs = qbt.get("app/preferences")
    ours = daemon.api("GET", "/v1/settings")[1]
    qbt.post("torrents/createCategory", category="kept")
    daemon.stop()
    daemon.start()
    again = Qbt(daemon)
    after = again.get("app/preferences")

    assert answer.status_code == 200
    expected = {k: v for k, v in changes.items() if k != "an_unknown_key"}
    assert {k: prefs[k] for k in expected} == expected
    assert ours["download_limit"] == 1_000_000
    assert ours["engine"]["download_rate_limit"] == 1_000_000
    assert (ours["max_active_downloads"], ours["max_active_seeds"]) == (2, 4)
    assert (ours["ratio_limit"], ours["seeding_time_limit"]) == (1.5, 600)
    assert ours["goal_action"] == "remove" and ours["pex"] is False
    assert {k: after[k] for k in expected} == expected
    assert "kept" in again.get("torrents/categories")
    # The generated password was written once and still works after a restart.
    assert (daemon.data_dir / "qbittorrent-password").read_text() == password


def test_categories_create_edit_remove(qbt: Qbt, module_daemon: Daemon) -> None:
    library = module_daemon.data_dir / "library"
    info_hash = "7a" * 20
    qbt.post(
        "torrents/add",
        urls=f"magnet:?xt=urn:btih:{info_hash}&dn=Cat",
        paused="true",
        category="auto-made",
    )

    created = qbt.post("torrents/createCategory", category="films", savePath="")
    again = qbt.post("torrents/createCategory", category="films")
    elsewhere = qbt.post(
        "torrents/createCategory", category="odd", savePath="/somewhere/else"
    )
    edited = qbt.post(
        "torrents/editCategory", category="films", savePath=str(library / "films")
    )
    unknown_edit = qbt.post("torrents/editCategory", category="nope", savePath="")
    listed = qbt.get("torrents/categories")
    removed = qbt.post("torrents/removeCategories", categories="auto-made\nfilms")
    after = qbt.get("torrents/categories")

    assert created.status_code == 200
    assert (again.status_code, again.text) == (409, "Unable to create category")
    assert elsewhere.status_code == 400 and str(library / "odd") in elsewhere.text
    assert edited.status_code == 200
    assert unknown_edit.status_code == 409
    assert listed["films"] == {
        "name": "films",
        "savePath": str(library / "films"),
        "download_path": None,
    }
    assert listed["auto-made"]["savePath"] == str(library / "auto-made")
    assert "odd" not in listed
    assert removed.status_code == 200
    assert "films" not in after and "auto-made" not in after
    assert qbt.torrent(info_hash)["category"] == ""


def test_save_path_and_temp_path_move_new_downloads_at_once_and_persist(
    daemon: Daemon, seeder: Any, tmp_path: Path
) -> None:
    qbt = Qbt(daemon)
    library = tmp_path / "media" / "library"
    downloads = tmp_path / "media" / "incoming"
    old_library = daemon.data_dir / "library"

    answer = qbt.post(
        "app/setPreferences",
        json=json.dumps(
            {
                "save_path": str(library),
                "temp_path_enabled": True,
                "temp_path": str(downloads),
            }
        ),
    )
    prefs = qbt.get("app/preferences")
    added = qbt.post("torrents/add", urls=seeder.magnet, category="tv")
    filed = daemon.wait_for(
        lambda: (
            (t := qbt.torrent(seeder.info_hash))["state"] in ("uploading", "stalledUP")
            and t
        ),
        "the download to be filed",
    )
    daemon.stop()
    daemon.start()
    after = Qbt(daemon).get("app/preferences")

    assert answer.status_code == 200 and added.text == "Ok."
    assert (prefs["save_path"], prefs["temp_path"]) == (str(library), str(downloads))
    assert (after["save_path"], after["temp_path"]) == (str(library), str(downloads))
    assert filed["content_path"] == str(library / "tv" / "Show.S01")
    for source in seeder.payload.rglob("*"):
        if source.is_file():
            target = library / "tv" / "Show.S01" / source.relative_to(seeder.payload)
            assert target.read_bytes() == source.read_bytes()
    assert not (old_library / "tv").exists()
    settings = daemon.api("GET", "/v1/settings")[1]
    assert settings["folders"] == {"downloads": str(downloads), "library": str(library)}


@pytest.mark.parametrize(
    "prefs",
    [
        {"save_path": "relative/library"},
        {"save_path": 7},
        {"temp_path": ""},
        {"save_path": "/"},
    ],
)
def test_a_bad_folder_preference_is_a_400_and_changes_nothing(
    qbt: Qbt, module_daemon: Daemon, prefs: dict[str, Any]
) -> None:
    before = qbt.get("app/preferences")

    answer = qbt.post("app/setPreferences", json=json.dumps(prefs))

    assert answer.status_code == 400
    after = qbt.get("app/preferences")
    assert (after["save_path"], after["temp_path"]) == (
        before["save_path"],
        before["temp_path"],
    )


def test_a_preferences_patch_with_one_bad_value_changes_nothing(
    daemon: Daemon, tmp_path: Path
) -> None:
    qbt = Qbt(daemon)
    set_up = qbt.post(
        "app/setPreferences",
        json=json.dumps({"max_ratio_enabled": True, "max_ratio": 1.5}),
    )
    before = qbt.get("app/preferences")
    elsewhere = tmp_path / "other-library"
    patches = [
        # A good folder, then a rate no link has: the folder must not move.
        {"save_path": str(elsewhere), "dl_limit": 10**30},
        {"temp_path": str(tmp_path / "other-downloads"), "max_ratio_act": 3},
        # "yes" is not a boolean; it must not switch the ratio goal off.
        {"max_ratio_enabled": "yes"},
        {"max_ratio": "2"},
        {"max_seeding_time_enabled": 1, "max_seeding_time": 60},
        {"max_seeding_time_enabled": True, "max_seeding_time": "60"},
    ]

    answers = [
        qbt.post("app/setPreferences", json=json.dumps(patch)) for patch in patches
    ]
    after = qbt.get("app/preferences")
    ours = daemon.api("GET", "/v1/settings")[1]
    as_text = qbt.post(
        "app/setPreferences",
        json=json.dumps({"max_ratio_enabled": "FALSE", "dht": "True"}),
    )
    switched = qbt.get("app/preferences")

    assert set_up.status_code == 200
    assert [a.status_code for a in answers] == [400] * len(patches), [
        a.text for a in answers
    ]
    assert after == before
    assert (after["max_ratio_enabled"], after["max_ratio"]) == (True, 1.5)
    assert ours["folders"]["library"] == before["save_path"]
    assert ours["download_limit"] is None and ours["ratio_limit"] == 1.5
    assert not elsewhere.exists()
    assert as_text.status_code == 200
    assert (switched["max_ratio_enabled"], switched["dht"]) == (False, True)


def test_first_last_piece_priority_reaches_libtorrent_and_survives_a_restart(
    daemon: Daemon, tmp_path: Path
) -> None:
    qbt = Qbt(daemon)
    # Hybrid torrents pad files to piece boundaries: several pieces per file,
    # so the edge pieces are not all of them.
    big = {"a.mkv": 300_000, "b.mkv": 300_000, "c.nfo": 100}
    hashes = []
    for name, wanted in (("Edges", "True"), ("Plain", "false")):
        payload = make_payload(tmp_path / name, name, big)
        answer = qbt.post(
            "torrents/add",
            files={"torrents": (f"{name}.torrent", make_torrent(payload))},
            stopped="true",
            firstLastPiecePrio=wanted,
        )
        assert answer.text == "Ok."
        [item] = [t for t in qbt.get("torrents/info") if t["name"] == name]
        hashes.append(item["hash"])

    def seen() -> list[tuple[bool, bool]]:
        return [
            (
                qbt.torrent(h)["f_l_piece_prio"],
                daemon.api("GET", f"/v1/torrents/{h}")[1]["engine"]["first_last_piece"],
            )
            for h in hashes
        ]

    before = seen()
    daemon.stop()
    daemon.start()
    qbt = Qbt(daemon)
    after = daemon.wait_for(
        lambda: (
            all(daemon.api("GET", f"/v1/torrents/{h}")[1]["engine"] for h in hashes)
            and seen()
        ),
        "the torrents to be loaded again",
    )

    assert before == [(True, True), (False, False)]
    assert after == [(True, True), (False, False)]


def test_set_location_with_a_nul_byte_is_a_400_and_moves_nothing(
    qbt: Qbt, module_daemon: Daemon
) -> None:
    info_hash = "6e" * 20
    qbt.post(
        "torrents/add", urls=f"magnet:?xt=urn:btih:{info_hash}&dn=Nul", paused="true"
    )
    before = qbt.torrent(info_hash)["save_path"]
    downloads = module_daemon.data_dir / "downloads"

    answer = qbt.post(
        "torrents/setLocation", hashes=info_hash, location=f"{downloads}/\x00"
    )

    assert (answer.status_code, answer.text) == (
        400,
        "location must not contain NUL or other control characters",
    )
    assert qbt.torrent(info_hash)["save_path"] == before
    assert "embedded null byte" not in module_daemon.log()


def test_an_add_with_a_nul_byte_in_savepath_is_a_400_and_adds_nothing(
    qbt: Qbt, module_daemon: Daemon
) -> None:
    info_hash = "6d" * 20
    downloads = module_daemon.data_dir / "downloads"

    answer = qbt.post(
        "torrents/add",
        urls=f"magnet:?xt=urn:btih:{info_hash}",
        savepath=f"{downloads}\x00/x",
    )

    assert answer.status_code == 400
    assert "control characters" in answer.text
    assert qbt.get("torrents/info", hashes=info_hash) == []


def test_a_refused_folder_preference_leaves_no_folder_behind(
    qbt: Qbt, module_daemon: Daemon, tmp_path: Path
) -> None:
    data = module_daemon.data_dir
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    patches = [
        # Inside the downloads folder, or the library, or each other.
        {"save_path": str(data / "downloads" / "inner2")},
        {"temp_path": str(data / "library" / "inner3" / "deeper")},
        # A good new downloads folder, then a library that cannot be made:
        # the downloads folder made for it goes again.
        {
            "temp_path": str(tmp_path / "new-downloads" / "deep"),
            "save_path": str(a_file / "library"),
        },
    ]
    before = qbt.get("app/preferences")

    answers = [qbt.post("app/setPreferences", json=json.dumps(p)) for p in patches]

    assert [a.status_code for a in answers] == [400] * 3, [a.text for a in answers]
    assert "may not lie inside each other" in answers[0].text
    assert "cannot create" in answers[2].text
    assert not (data / "downloads" / "inner2").exists()
    assert not (data / "library" / "inner3").exists()
    assert not (tmp_path / "new-downloads").exists()
    after = qbt.get("app/preferences")
    assert (after["save_path"], after["temp_path"]) == (
        before["save_path"],
        before["temp_path"],
    )


@pytest.mark.parametrize(
    ("prefs", "detail"),
    [
        ({"encryption": 9}, "encryption must be 0 (prefer), 1 (force) or 2 (disable)"),
        ({"encryption": -1}, "encryption must be 0 (prefer), 1 (force) or 2 (disable)"),
        ({"listen_port": 99999}, "listen_port must be between 0 and 65535"),
        ({"listen_port": -1}, "listen_port must be between 0 and 65535"),
        ({"listen_port": "6881"}, "listen_port must be a whole number"),
        # One bad value refuses the good one with it.
        ({"dht": False, "encryption": 3}, "encryption must be 0 (prefer)"),
    ],
)
def test_an_encryption_or_port_with_no_meaning_is_a_400_and_changes_nothing(
    qbt: Qbt, module_daemon: Daemon, prefs: dict[str, Any], detail: str
) -> None:
    before = qbt.get("app/preferences")
    settings = module_daemon.api("GET", "/v1/settings")[1]

    answer = qbt.post("app/setPreferences", json=json.dumps(prefs))

    assert answer.status_code == 400
    assert answer.text.startswith(detail)
    assert qbt.get("app/preferences") == before
    assert module_daemon.api("GET", "/v1/settings")[1] == settings


def test_encryption_and_listen_port_are_applied(daemon: Daemon) -> None:
    qbt = Qbt(daemon)
    port = free_port()

    answer = qbt.post(
        "app/setPreferences", json=json.dumps({"encryption": 1, "listen_port": port})
    )
    prefs = qbt.get("app/preferences")
    ours = daemon.api("GET", "/v1/settings")[1]

    assert answer.status_code == 200
    assert (prefs["encryption"], prefs["listen_port"]) == (1, port)
    assert ours["encryption"] == "forced"
    # The address --bt-listen gave stays; only the port changes.
    assert ours["listen"] == f"127.0.0.1:{port}"
    assert ours["engine"]["listen_interfaces"] == f"127.0.0.1:{port}"
