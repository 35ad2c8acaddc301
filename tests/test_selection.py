"""Choosing files: rules at add time, /select later, skip_fluff's preset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revaer_actors.errors import InvalidInput
from revaer_actors.selection import FileSelection, PriorityRule, parse_selection
from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload

PATHS = [
    "Movie/Movie.2024.mkv",
    "Movie/Sample/movie-sample.mkv",
    "Movie/Movie.nfo",
    "Movie/Subs/English.srt",
    "Movie/RARBG.txt",
]


def test_skip_fluff_drops_samples_and_clutter_but_keeps_the_payload() -> None:
    priorities = FileSelection(skip_fluff=True).priorities(list(enumerate(PATHS)))

    assert priorities == (4, 0, 0, 4, 0)


def test_include_exclude_and_rules_apply_in_that_order() -> None:
    selection = FileSelection(
        include=("*.mkv", "*.srt"),
        exclude=("*sample*",),
        rules=(PriorityRule("high", glob="*.srt"), PriorityRule("low", index=0)),
    )

    assert selection.priorities(list(enumerate(PATHS))) == (1, 0, 0, 7, 0)


@given(st.lists(st.text(min_size=1, max_size=30), max_size=8))
def test_a_selection_survives_its_json_form(globs: list[str]) -> None:
    selection = FileSelection(include=tuple(globs), skip_fluff=bool(globs))

    assert FileSelection.from_json(selection.as_json()) == selection


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"include": "*.mkv"}, "/include"),
        ({"include": [""]}, "/include/0"),
        (
            {"priorities": [{"glob": "*", "priority": "urgent"}]},
            "/priorities/0/priority",
        ),
        (
            {"priorities": [{"glob": "*", "index": 1, "priority": "low"}]},
            "/priorities/0",
        ),
        ({"priorities": [{"index": -1, "priority": "low"}]}, "/priorities/0/index"),
        ({"skip_fluff": "yes"}, "/skip_fluff"),
        ({"only": []}, "/only"),
    ],
)
def test_bad_rules_are_refused_with_their_pointer(
    body: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_selection(body)

    assert raised.value.field == pointer


@pytest.fixture
def release(tmp_path: Path) -> Any:
    payload = make_payload(
        tmp_path / "seed",
        "Movie",
        {
            "Movie.2024.mkv": 2 * 1024 * 1024,
            "Sample/movie-sample.mkv": 300_000,
            "Movie.nfo": 2_000,
            "Subs/English.srt": 40_000,
        },
    )
    seeder = Seeder(payload)
    yield seeder
    seeder.close()


def _settled(daemon: Daemon) -> Any:
    jobs = daemon.cli_json("jobs")
    return jobs if jobs and jobs[0]["status"] in ("moved", "failed") else None


def test_a_magnet_added_with_skip_fluff_files_only_the_wanted_files(
    daemon: Daemon, release: Seeder
) -> None:
    status, answer = daemon.api(
        "POST",
        "/v1/torrents",
        {"magnet": release.magnet, "category": "movies", "skip_fluff": True},
    )
    jobs = daemon.wait_for(lambda: _settled(daemon), "the job to settle")
    torrent = daemon.wait_for(
        lambda: (
            (t := daemon.cli_json("status", answer["id"]))["state"] == "completed" and t
        ),
        "the torrent to report completed",
    )

    library = daemon.data_dir / "library" / "movies" / "Movie"
    assert status == 201
    assert jobs[0]["status"] == "moved"
    assert (library / "Movie.2024.mkv").read_bytes() == (
        release.payload / "Movie.2024.mkv"
    ).read_bytes()
    assert (library / "Subs" / "English.srt").is_file()
    assert not (library / "Movie.nfo").exists()
    assert not (library / "Sample" / "movie-sample.mkv").exists()
    assert torrent["state"] == "completed"
    assert {f["path"]: f["priority"] for f in torrent["files"]} == {
        "Movie/Movie.2024.mkv": "normal",
        "Movie/Sample/movie-sample.mkv": "skip",
        "Movie/Movie.nfo": "skip",
        "Movie/Subs/English.srt": "normal",
    }


def test_select_on_a_paused_torrent_is_stored_and_restored(
    daemon: Daemon, release: Seeder, tmp_path: Path
) -> None:
    torrent_file = tmp_path / "movie.torrent"
    torrent_file.write_bytes(release.metainfo)
    info_hash = daemon.cli("add", str(torrent_file), "--paused").stdout.strip()

    chosen = daemon.cli(
        "select",
        info_hash,
        "--include",
        "*.mkv",
        "--priority",
        "*sample*=skip",
        "--priority",
        "0=high",
    )
    daemon.stop()
    daemon.start()
    restored = daemon.cli_json("status", info_hash)

    assert chosen.returncode == 0, chosen.stderr

    words = chosen.stdout.split()
    shown = dict(zip(words[1::2], words[0::2], strict=True))
    expected = {
        "Movie/Movie.2024.mkv": "high",
        "Movie/Sample/movie-sample.mkv": "skip",
        "Movie/Movie.nfo": "skip",
        "Movie/Subs/English.srt": "skip",
    }
    assert shown == expected
    assert {f["path"]: f["priority"] for f in restored["files"]} == expected
    assert restored["selection"]["include"] == ["*.mkv"]


def test_add_options_are_stored_and_a_save_path_outside_is_refused(
    daemon: Daemon, release: Seeder
) -> None:
    outside = daemon.api(
        "POST",
        "/v1/torrents",
        {"magnet": release.magnet, "save_path": "/etc", "paused": True},
    )
    status, answer = daemon.api(
        "POST",
        "/v1/torrents",
        {
            "magnet": release.magnet,
            "paused": True,
            "save_path": "incoming",
            "sequential": True,
            "download_limit": 100_000,
            "upload_limit": 0,
            "ratio_limit": 2.5,
            "seeding_time_limit": 1440,
        },
    )
    daemon.stop()
    daemon.start()
    torrent = daemon.cli_json("status", answer["id"])

    assert outside[0] == 400
    assert outside[1]["invalid_params"][0]["name"] == "/save_path"
    assert status == 201
    assert torrent["save_path"] == str(daemon.data_dir / "downloads" / "incoming")
    assert torrent["sequential"] is True
    assert torrent["download_limit"] == 100_000
    assert torrent["upload_limit"] is None
    assert torrent["ratio_limit"] == 2.5
    assert torrent["seeding_time_limit"] == 1440
