"""Commands on one torrent: committed, applied to libtorrent, and restored
after a restart."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.daemon import Daemon
from tests.seeder import Seeder


def _row(database_url: str, info_hash: str) -> Any:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT paused, category, tags, sequential, download_limit, upload_limit"
            " FROM revaer_runtime.torrents WHERE info_hash = %s",
            (info_hash,),
        ).fetchone()


def _moved(daemon: Daemon) -> Any:
    jobs = daemon.cli_json("jobs")
    return jobs if jobs and jobs[0]["status"] == "moved" else None


def test_a_paused_torrent_downloads_only_after_resume_and_survives_restarts(
    daemon: Daemon, seeder: Seeder
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv", "--paused")
    daemon.stop()
    daemon.start()

    paused = daemon.cli_json("status", seeder.info_hash)
    jobs_while_paused = daemon.cli_json("jobs")
    resumed = daemon.cli("action", seeder.info_hash, "resume")
    daemon.wait_for(lambda: _moved(daemon), "the resumed torrent to be filed")

    assert paused["state"] == "paused" and paused["progress"] == 0.0
    assert jobs_while_paused == []
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == f"{seeder.info_hash} queued"
    library = daemon.data_dir / "library" / "tv" / "Show.S01" / "Show.S01E01.mkv"
    assert library.read_bytes() == (seeder.payload / "Show.S01E01.mkv").read_bytes()


def test_options_are_committed_shown_and_restored(
    daemon: Daemon, seeder: Seeder, database_url: str
) -> None:
    info_hash = daemon.cli("add", seeder.magnet, "--paused").stdout.strip()

    for args in (
        ("category", "movies"),
        ("tags", "hd", "fr"),
        ("sequential", "--enable"),
        ("rate", "--download", "50000", "--upload", "20000"),
        ("rate", "--upload", "0"),
    ):
        result = daemon.cli("action", info_hash, *args)
        assert result.returncode == 0, result.stderr
    shown = daemon.cli_json("status", info_hash)
    daemon.stop()
    daemon.start()
    restored = daemon.cli_json("status", info_hash)

    expected = {
        "category": "movies",
        "tags": ["hd", "fr"],
        "sequential": True,
        "download_limit": 50000,
        "upload_limit": None,
        "paused": True,
        "state": "paused",
    }
    assert {k: shown[k] for k in expected} == expected
    assert {k: restored[k] for k in expected} == expected
    # libtorrent's own view, read live from the session.
    for view in (shown["engine"], restored["engine"]):
        assert view["paused"] is True and view["auto_managed"] is False
        assert view["sequential"] is True
        assert view["download_limit"] == 50000
        assert view["upload_limit"] in (0, -1)
    assert _row(database_url, info_hash) == (
        True,
        "movies",
        ["hd", "fr"],
        True,
        50000,
        None,
    )


def test_remove_forgets_the_torrent_and_keeps_its_files(
    daemon: Daemon, seeder: Seeder, database_url: str
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv")
    daemon.wait_for(lambda: _moved(daemon), "the download to be filed")
    library = daemon.data_dir / "library" / "tv" / "Show.S01"

    removed = daemon.cli("action", seeder.info_hash, "remove")

    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"{seeder.info_hash} removed"
    assert daemon.cli_json("ls") == []
    assert daemon.cli_json("jobs") == []
    assert _row(database_url, seeder.info_hash) is None
    assert (library / "Show.S01E01.mkv").read_bytes() == (
        seeder.payload / "Show.S01E01.mkv"
    ).read_bytes()
    daemon.stop()
    daemon.start()
    assert daemon.cli_json("ls") == []


def test_remove_with_delete_data_deletes_the_files_from_the_library(
    daemon: Daemon, seeder: Seeder
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv")
    daemon.wait_for(lambda: _moved(daemon), "the download to be filed")
    library = daemon.data_dir / "library" / "tv" / "Show.S01"

    removed = daemon.cli("action", seeder.info_hash, "remove", "--delete-data")

    assert removed.returncode == 0, removed.stderr
    daemon.wait_for(
        lambda: not (library / "Show.S01E01.mkv").exists(), "the data to be deleted"
    )
    assert not (library / "extras" / "readme.txt").exists()
    assert (daemon.data_dir / "library" / "tv").is_dir()
    assert daemon.cli_json("ls") == []


def test_remove_with_delete_data_leaves_no_empty_download_folder(
    daemon: Daemon, seeder: Seeder
) -> None:
    # Filed by copy, so the download stays in its own folder under downloads.
    daemon.api(
        "POST",
        "/v1/torrents",
        {"magnet": seeder.magnet, "category": "tv", "fsops": {"transfer": "copy"}},
    )
    daemon.wait_for(lambda: _moved(daemon), "the download to be filed")
    downloads = daemon.data_dir / "downloads"
    folders_before = [p.name for p in downloads.iterdir()]

    removed = daemon.cli("action", seeder.info_hash, "remove", "--delete-data")
    daemon.wait_for(lambda: not any(downloads.iterdir()), "the torrent's folder to go")

    assert removed.returncode == 0, removed.stderr
    assert folders_before == [seeder.info_hash]
    # The copy in the library is the user's: it stays.
    library = daemon.data_dir / "library" / "tv" / "Show.S01" / "Show.S01E01.mkv"
    assert library.read_bytes() == (seeder.payload / "Show.S01E01.mkv").read_bytes()


def test_bad_commands_are_refused_and_change_nothing(daemon: Daemon) -> None:
    magnet = "magnet:?xt=urn:btih:" + "3" * 40
    info_hash = daemon.api("POST", "/v1/torrents", {"magnet": magnet, "paused": True})[
        1
    ]["id"]
    before = daemon.catalog()

    cases = [
        ({"type": "explode"}, "/type"),
        ({"type": "pause", "now": True}, "/now"),
        ({"type": "rate", "download_limit": -5}, "/download_limit"),
        ({"type": "rate", "upload_limit": "fast"}, "/upload_limit"),
        ({"type": "sequential"}, "/enable"),
        ({"type": "category", "category": "../x"}, "/category"),
        ({"type": "tags", "tags": ["\u202eevil"]}, "/tags/0"),
        ({"type": "remove", "delete_data": "yes"}, "/delete_data"),
    ]
    for body, pointer in cases:
        status, problem = daemon.api("POST", f"/v1/torrents/{info_hash}/action", body)
        assert status == 400, body
        assert problem["invalid_params"][0]["name"] == pointer

    unknown = daemon.api("POST", f"/v1/torrents/{'4' * 40}/action", {"type": "pause"})
    assert unknown[0] == 404
    by_prefix = daemon.cli("status", info_hash[:8], "--json")
    assert by_prefix.returncode == 0, by_prefix.stderr
    assert daemon.catalog() == before


def test_move_puts_the_payload_in_another_folder_and_remembers_it(
    daemon: Daemon, seeder: Seeder
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv")
    daemon.wait_for(lambda: _moved(daemon), "the download to be filed")
    archive = daemon.data_dir / "library" / "archive"

    moved = daemon.cli("action", seeder.info_hash, "move", str(archive))
    torrent = daemon.wait_for(
        lambda: (
            (t := daemon.cli_json("status", seeder.info_hash))["save_path"]
            == str(archive)
            and t
        ),
        "the move to land",
    )
    outside = daemon.api(
        "POST",
        f"/v1/torrents/{seeder.info_hash}/action",
        {"type": "move", "save_path": "/tmp"},
    )
    daemon.stop()
    daemon.start()
    restored = daemon.wait_for(
        lambda: (
            (t := daemon.cli_json("status", seeder.info_hash))["state"] == "seeding"
            and t
        ),
        "the moved torrent to seed after a restart",
    )

    assert moved.returncode == 0, moved.stderr
    assert torrent["library_path"] is None
    assert (archive / "Show.S01" / "Show.S01E01.mkv").read_bytes() == (
        seeder.payload / "Show.S01E01.mkv"
    ).read_bytes()
    assert not (daemon.data_dir / "library" / "tv" / "Show.S01").exists()
    assert outside[0] == 400
    assert restored["save_path"] == str(archive)
    assert restored["engine"]["save_path"] == str(archive)


def test_recheck_verifies_the_data_and_reannounce_is_accepted(
    daemon: Daemon, seeder: Seeder
) -> None:
    daemon.cli("add", seeder.magnet, "--category", "tv")
    daemon.wait_for(lambda: _moved(daemon), "the download to be filed")
    daemon.wait_for(
        lambda: daemon.cli_json("status", seeder.info_hash)["state"] == "seeding",
        "seeding",
    )
    seeder.close()
    episode = daemon.data_dir / "library" / "tv" / "Show.S01" / "Show.S01E01.mkv"
    with episode.open("r+b") as handle:
        handle.write(b"\0" * 65536)  # damage the first pieces behind its back

    rechecked = daemon.cli("action", seeder.info_hash, "recheck")
    damaged = daemon.wait_for(
        lambda: (
            (t := daemon.cli_json("status", seeder.info_hash))["progress"] < 1.0
            and t["state"] != "checking"
            and t
        ),
        "the recheck to find the damage",
    )
    announced = daemon.cli("action", seeder.info_hash, "reannounce")

    assert rechecked.returncode == 0, rechecked.stderr
    assert damaged["state"] in ("downloading", "queued")
    assert announced.returncode == 0, announced.stderr
