"""The qBittorrent-compatible API driven by `qbittorrent-api`, a client nobody
here wrote: the cycle Sonarr runs on a real loopback download, and
sync/maindata's full and delta updates."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import qbittorrentapi

from tests.daemon import Daemon
from tests.seeder import Seeder

# The states Sonarr counts as Completed (QBittorrent.cs GetItems).
COMPLETED = {"pausedUP", "stoppedUP", "uploading", "stalledUP", "queuedUP", "forcedUP"}
DEADLINE = 90.0


def client_for(daemon: Daemon) -> qbittorrentapi.Client:
    password = (daemon.data_dir / "qbittorrent-password").read_text().strip()
    client = qbittorrentapi.Client(
        host="127.0.0.1",
        port=daemon.port,
        username="admin",
        password=password,
        FORCE_SCHEME_FROM_HOST=True,
        REQUESTS_ARGS={"timeout": 30},
    )
    client.auth_log_in()
    return client


def wait_for(predicate: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def test_an_arr_style_cycle_on_a_real_download(daemon: Daemon, seeder: Seeder) -> None:
    qbt = client_for(daemon)
    library = daemon.data_dir / "library"
    observed: list[tuple[str, str, float]] = []

    def completed() -> Any:
        items = qbt.torrents_info(category="tv")
        observed.extend((t.state, t.content_path, t.progress) for t in items)
        done = [t for t in items if t.state in COMPLETED]
        return done[0] if done else None

    version = qbt.app_web_api_version()
    app_version = qbt.app_version()
    prefs = qbt.app_preferences()
    qbt.torrents_create_category(name="tv")
    categories = qbt.torrents_categories()
    added = qbt.torrents_add(urls=seeder.magnet, category="tv")
    torrent = wait_for(completed, "the torrent to complete")
    props = qbt.torrents_properties(torrent_hash=torrent.hash)
    files = qbt.torrents_files(torrent_hash=torrent.hash)
    content = Path(torrent.content_path)
    episode = (content / "Show.S01E01.mkv").read_bytes()
    qbt.torrents_create_category(name="tv-imported")
    qbt.torrents_set_category(category="tv-imported", torrent_hashes=torrent.hash)
    imported = qbt.torrents_info(torrent_hashes=torrent.hash)[0]
    qbt.torrents_stop(torrent_hashes=torrent.hash)
    stopped = qbt.torrents_info(torrent_hashes=torrent.hash)[0]
    qbt.torrents_start(torrent_hashes=torrent.hash)
    started = wait_for(
        lambda: [
            t
            for t in qbt.torrents_info(torrent_hashes=torrent.hash)
            if t.state in ("stalledUP", "uploading")
        ],
        "the restarted torrent to seed",
    )[0]
    qbt.torrents_delete(delete_files=True, torrent_hashes=torrent.hash)
    remaining = qbt.torrents_info()
    # libtorrent deletes the files in the background, as qBittorrent does.
    wait_for(lambda: not content.exists(), "the files to be deleted")

    assert version == "2.11.4" and app_version == "v5.1.0"
    assert prefs["save_path"] == str(library)
    assert prefs["temp_path"] == str(daemon.data_dir / "downloads")
    assert prefs["dht"] is False and prefs["queueing_enabled"] is False
    assert categories["tv"]["savePath"] == str(library / "tv")
    assert added == "Ok."
    assert torrent.hash == seeder.info_hash
    assert torrent.save_path == str(library / "tv")
    assert torrent.content_path == str(library / "tv" / "Show.S01")
    assert torrent.content_path != torrent.save_path
    assert episode == (seeder.payload / "Show.S01E01.mkv").read_bytes()
    assert torrent.eta == 8640000 and torrent.amount_left == 0
    assert props["save_path"] == str(library / "tv")
    assert props["hash"] == seeder.info_hash
    assert sorted(f["name"] for f in files) == [
        "Show.S01/Show.S01E01.mkv",
        "Show.S01/extras/readme.txt",
    ]
    assert all(f["progress"] == 1 for f in files)
    assert imported.category == "tv-imported"
    assert stopped.state == "stoppedUP"
    assert started.state in ("stalledUP", "uploading")
    assert remaining == []
    # What Sonarr relies on: a torrent reported complete is already filed,
    # so its content_path never points into the downloads folder.
    for state, path, progress in observed:
        if state in COMPLETED:
            assert Path(path).is_relative_to(library), (state, path)
        if progress == 1 and not Path(path).is_relative_to(library):
            assert state == "moving", (state, path)


@pytest.fixture(scope="module")
def qbt(module_daemon: Daemon) -> qbittorrentapi.Client:
    return client_for(module_daemon)


def test_sync_maindata_sends_a_full_update_then_only_changes_and_removals(
    qbt: qbittorrentapi.Client,
) -> None:
    first, second = "1a" * 20, "2b" * 20
    for info_hash, name in ((first, "Sync.One"), (second, "Sync.Two")):
        qbt.torrents_add(
            urls=f"magnet:?xt=urn:btih:{info_hash}&dn={name}",
            is_stopped=True,
            category="sync",
            tags="keep",
        )

    # libtorrent numbers the queue a moment after the add; wait for it, so
    # that nothing changes between the next two calls.
    wait_for(
        lambda: all(t.priority > 0 for t in qbt.torrents_info(category="sync")),
        "queue positions",
    )
    full = qbt.sync_maindata(rid=0)
    unchanged = qbt.sync_maindata(rid=full["rid"])
    qbt.torrents_set_category(category="", torrent_hashes=second)
    qbt.torrents_add_tags(tags="fresh", torrent_hashes=first)
    changed = qbt.sync_maindata(rid=unchanged["rid"])
    qbt.torrents_delete(delete_files=False, torrent_hashes=second)
    qbt.torrents_remove_tags(tags="fresh", torrent_hashes=first)
    qbt.torrents_remove_categories(categories="sync")
    removed = qbt.sync_maindata(rid=changed["rid"])
    stale = qbt.sync_maindata(rid=12345)

    assert full["full_update"] is True
    assert {first, second} <= set(full["torrents"])
    assert full["torrents"][first]["name"] == "Sync.One"
    assert full["torrents"][first]["state"] == "stoppedDL"
    assert "hash" not in full["torrents"][first]
    assert full["categories"]["sync"]["name"] == "sync"
    assert "keep" in full["tags"]
    assert set(full["server_state"]) >= {"dl_info_speed", "free_space_on_disk"}
    assert "full_update" not in unchanged
    assert "torrents" not in unchanged and unchanged["rid"] != full["rid"]
    # Only what changed is sent (libtorrent may also have numbered the queue
    # meanwhile, so `priority` can come along).
    assert changed["torrents"][second]["category"] == ""
    assert changed["torrents"][first]["tags"] == "keep, fresh"
    for item in (changed["torrents"][first], changed["torrents"][second]):
        assert set(item) <= {"category", "tags", "priority"}
    assert changed["tags"] == ["fresh"]
    assert removed["torrents_removed"] == [second]
    assert removed["tags_removed"] == ["fresh"]
    assert removed["categories_removed"] == ["sync"]
    # Only changed keys (the queue position moves up as the other one left).
    assert removed["torrents"][first]["tags"] == "keep"
    assert removed["torrents"][first]["category"] == ""
    assert set(removed["torrents"][first]) <= {"category", "tags", "priority"}
    assert stale["full_update"] is True and second not in stale["torrents"]


def test_the_client_finds_the_scheme_itself_with_its_head_probe(
    module_daemon: Daemon,
) -> None:
    password = (module_daemon.data_dir / "qbittorrent-password").read_text().strip()
    # No FORCE_SCHEME_FROM_HOST: qbittorrent-api first sends HEAD / over
    # https, and falls back to http when that is not spoken here.
    client = qbittorrentapi.Client(
        host="127.0.0.1",
        port=module_daemon.port,
        username="admin",
        password=password,
        REQUESTS_ARGS={"timeout": 30},
    )

    client.auth_log_in()
    version = client.app_version()
    added = client.torrents_add(
        urls="magnet:?xt=urn:btih:" + "3c" * 20 + "&dn=Probed", is_stopped=True
    )
    listing = client.torrents_info()
    client.auth_log_out()

    assert version == "v5.1.0"
    assert added == "Ok." and "3c" * 20 in {t.hash for t in listing}
    assert {t.hash for t in listing} == {
        t["id"] for t in module_daemon.api("GET", "/v1/torrents")[1]["items"]
    }
    # The scheme it settled on after its probe (a private attribute: the
    # client exposes no other way to read it).
    assert client._url._base_url == f"http://127.0.0.1:{module_daemon.port}/"
