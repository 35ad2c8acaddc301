"""Global settings, seeding goals and the download queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from revaer_actors.settings import Goals, Settings, goal_reached
from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload


def test_settings_come_from_the_file_and_a_patch_survives_a_restart(
    daemon: Daemon,
) -> None:
    first = daemon.cli_json("settings", "get")

    changed = daemon.cli("settings", "set", "max_active_downloads=2", "pex=false")
    daemon.stop()
    daemon.start()
    after = daemon.cli_json("settings", "get")

    assert first["dht"] is False and first["pex"] is True
    assert first["engine"]["enable_dht"] is False
    assert changed.returncode == 0, changed.stderr
    assert after["max_active_downloads"] == 2
    assert after["pex"] is False
    assert after["dht"] is False
    # libtorrent's own value, read back from the running session.
    assert after["engine"]["active_downloads"] == 2


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"colour": "red"}, "/colour"),
        ({"dht": "no"}, "/dht"),
        ({"encryption": "maybe"}, "/encryption"),
        ({"listen": "nowhere"}, "/listen"),
        ({"max_active_seeds": -5}, "/max_active_seeds"),
        ({"goal_action": "delete"}, "/goal_action"),
        ({"categories": {"tv": {"ratio": 1}}}, "/categories/tv"),
        ({"categories": {"../x": {}}}, "/categories/../x"),
    ],
)
def test_a_bad_setting_is_a_400_and_changes_nothing(
    daemon: Daemon, body: dict[str, Any], pointer: str
) -> None:
    before = daemon.api("GET", "/v1/settings")[1]

    status, problem = daemon.api("PATCH", "/v1/settings", body)

    assert status == 400
    assert problem["invalid_params"][0]["name"] == pointer
    assert daemon.api("GET", "/v1/settings")[1] == before


def test_goals_fall_back_from_torrent_to_category_to_global() -> None:
    settings = Settings(
        ratio_limit=2.0,
        seeding_time_limit=60,
        categories={"tv": Goals(ratio_limit=1.0)},
    )

    assert settings.goals_for("tv", Goals()) == Goals(1.0, 60)
    assert settings.goals_for("movies", Goals()) == Goals(2.0, 60)
    assert settings.goals_for("tv", Goals(-1, None)) == Goals(-1, 60)


def test_a_goal_is_reached_by_ratio_or_time_and_never_by_minus_one() -> None:
    assert goal_reached(Goals(1.0, None), 1.0, 0, "pause") is not None
    assert goal_reached(Goals(None, 30), 0.0, 31, "remove") is not None
    assert goal_reached(Goals(-1, -1), 99.0, 10**6, "pause") is None
    assert goal_reached(Goals(2.0, None), 1.5, 10**6, "pause") is None


def _job_moved(daemon: Daemon) -> Any:
    jobs = daemon.cli_json("jobs")
    return jobs if jobs and jobs[0]["status"] == "moved" else None


def test_a_torrent_that_meets_its_ratio_goal_is_paused(
    daemon: Daemon, seeder: Seeder
) -> None:
    status, answer = daemon.api(
        "POST", "/v1/torrents", {"magnet": seeder.magnet, "ratio_limit": 0}
    )

    torrent = daemon.wait_for(
        lambda: (t := daemon.cli_json("status", answer["id"]))["paused"] and t,
        "the seeding goal to pause the torrent",
    )

    assert status == 201
    assert torrent["state"] == "paused"
    assert torrent["progress"] == 1.0
    assert torrent["goals"] == {
        "ratio_limit": 0.0,
        "seeding_time_limit": None,
        "action": "pause",
    }
    assert "seeding goal reached" in daemon.log()


def test_a_category_goal_with_the_remove_action_removes_but_keeps_the_files(
    daemon: Daemon, seeder: Seeder
) -> None:
    daemon.api(
        "PATCH",
        "/v1/settings",
        {"goal_action": "remove", "categories": {"tv": {"seeding_time_limit": 0}}},
    )

    daemon.cli("add", seeder.magnet, "--category", "tv")
    daemon.wait_for(lambda: daemon.cli_json("ls") == [], "the goal to remove it")

    library = daemon.data_dir / "library" / "tv" / "Show.S01" / "Show.S01E01.mkv"
    assert library.read_bytes() == (seeder.payload / "Show.S01E01.mkv").read_bytes()


def test_beyond_the_download_limit_a_torrent_is_queued_until_force_started(
    daemon: Daemon, seeder: Seeder, tmp_path: Path
) -> None:
    other = Seeder(
        make_payload(tmp_path / "two", "Other", {"big.bin": 4 * 1024 * 1024}, seed=5)
    )
    try:
        daemon.api(
            "PATCH",
            "/v1/settings",
            {"max_active_downloads": 1, "download_limit": 20_000},
        )
        first = daemon.cli("add", seeder.magnet).stdout.strip()
        daemon.wait_for(
            lambda: (
                daemon.cli_json("status", first)["state"]
                in ("downloading", "fetching_metadata")
            ),
            "the first torrent to start",
        )
        second = daemon.cli("add", other.magnet).stdout.strip()
        queued = daemon.wait_for(
            lambda: (t := daemon.cli_json("status", second))["state"] == "queued" and t,
            "the second torrent to be queued",
        )

        forced = daemon.cli("action", second, "force-start", "--json")
        running = daemon.wait_for(
            lambda: (
                (t := daemon.cli_json("status", second))["state"]
                in ("downloading", "fetching_metadata")
                and t
            ),
            "the forced torrent to start",
        )
        moved = daemon.cli("action", second, "priority", "top")
    finally:
        other.close()

    assert queued["paused"] is False
    assert forced.returncode == 0, forced.stderr
    assert running["force_start"] is True
    assert moved.returncode == 0, moved.stderr
    assert daemon.cli_json("status", first)["state"] in (
        "downloading",
        "fetching_metadata",
    )
