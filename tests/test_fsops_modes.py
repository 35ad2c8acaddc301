"""Each transfer mode on a real loopback download, the per-torrent policy, the
recorded stages, and a full library disk (a real, small tmpfs)."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from revaer_actors.pipeline import STAGES
from tests import archive_maker, tmpfs
from tests.daemon import Daemon
from tests.seeder import LOOPBACK_SETTINGS, Seeder, make_payload

FILES = ("Show.S01E01.mkv", "extras/readme.txt")


def _start(
    tmp_path: Path,
    database_url: str,
    factory: list[Daemon],
    fsops_toml: str,
    extra_args: list[str] | None = None,
) -> Daemon:
    daemon = Daemon(tmp_path / "data", database_url, extra_args=extra_args)
    with (daemon.data_dir / "revaer.toml").open("a") as config:
        config.write(fsops_toml)
    factory.append(daemon)
    return daemon.start()


def _settled(daemon: Daemon) -> Any:
    jobs = daemon.cli_json("jobs")
    return jobs[0] if jobs and jobs[0]["status"] in ("moved", "failed") else None


def _same_bytes(library: Path, payload: Path) -> bool:
    return all(
        (library / name).read_bytes() == (payload / name).read_bytes() for name in FILES
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small-library"
    mount_point.mkdir()
    with tmpfs.mounted(mount_point, "1m"):
        yield mount_point


def test_copy_files_a_copy_records_every_stage_and_keeps_seeding_the_download(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon], seeder: Seeder
) -> None:
    daemon = _start(
        tmp_path, database_url, daemon_factory, '[fsops]\ntransfer = "copy"\n'
    )

    info_hash = daemon.cli("add", seeder.magnet, "--category", "tv").stdout.strip()
    job = daemon.wait_for(lambda: _settled(daemon), "the copy")
    status, detail = daemon.api("GET", f"/v1/fs-jobs/{job['id']}")
    torrent = daemon.cli_json("status", info_hash)

    library = daemon.data_dir / "library" / "tv" / "Show.S01"
    download = daemon.data_dir / "downloads" / info_hash / "Show.S01"
    assert job["status"] == "moved", job
    assert job["transfer_mode"] == "copy"
    assert _same_bytes(library, seeder.payload)
    assert _same_bytes(download, seeder.payload)
    assert torrent["save_path"] == str(download.parent)
    assert torrent["library_path"] == str(library)
    meta = json.loads((library.parent / "Show.S01.revaer.meta").read_text())
    assert meta["info_hash"] == info_hash
    assert sorted(meta["files"]) == sorted(FILES)
    assert status == 200
    recorded = [(h["stage"], h["outcome"]) for h in detail["history"][1:]]
    expected = [(s, o) for s in STAGES for o in ("started", "done")]
    assert recorded == expected
    assert not [p for p in library.rglob("*") if p.name.endswith(".revaer-part")]


def test_hardlink_files_the_same_inodes(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon], seeder: Seeder
) -> None:
    daemon = _start(
        tmp_path, database_url, daemon_factory, '[fsops]\ntransfer = "hardlink"\n'
    )

    info_hash = daemon.cli("add", seeder.magnet).stdout.strip()
    job = daemon.wait_for(lambda: _settled(daemon), "the hardlinks")

    library = daemon.data_dir / "library" / "Show.S01"
    download = daemon.data_dir / "downloads" / info_hash / "Show.S01"
    assert job["status"] == "moved", job
    for name in FILES:
        assert (library / name).stat().st_ino == (download / name).stat().st_ino
    assert _same_bytes(library, seeder.payload)


def test_hardlink_across_filesystems_fails_with_exdev_and_files_nothing(
    tmp_path: Path,
    database_url: str,
    daemon_factory: list[Daemon],
    seeder: Seeder,
    small_disk: Path,
) -> None:
    tmpfs.resize(small_disk, "16m")
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        '[fsops]\ntransfer = "hardlink"\n',
        ["--library-dir", str(small_disk)],
    )

    daemon.cli("add", seeder.magnet)
    job = daemon.wait_for(lambda: _settled(daemon), "the job to fail")

    assert job["status"] == "failed"
    assert job["stage"] == "transfer"
    assert job["last_error"].startswith("EXDEV: cannot hardlink across filesystems")
    assert list(small_disk.iterdir()) == []


def test_hardlink_or_copy_falls_back_to_a_copy_and_says_why(
    tmp_path: Path,
    database_url: str,
    daemon_factory: list[Daemon],
    seeder: Seeder,
    small_disk: Path,
) -> None:
    tmpfs.resize(small_disk, "16m")
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        '[fsops]\ntransfer = "hardlink_or_copy"\n',
        ["--library-dir", str(small_disk)],
    )

    daemon.cli("add", seeder.magnet)
    job = daemon.wait_for(lambda: _settled(daemon), "the fallback copy")

    assert job["status"] == "moved", job
    assert job["note"].startswith("hardlink fell back to copy: EXDEV")
    assert _same_bytes(small_disk / "Show.S01", seeder.payload)


def test_move_keeps_seeding_from_the_library(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon], seeder: Seeder
) -> None:
    daemon = _start(tmp_path, database_url, daemon_factory, "")

    info_hash = daemon.cli("add", seeder.magnet, "--category", "tv").stdout.strip()
    job = daemon.wait_for(lambda: _settled(daemon), "the move")
    torrent = daemon.wait_for(
        lambda: (t := daemon.cli_json("status", info_hash))["state"] == "seeding" and t,
        "seeding from the library",
    )

    library = daemon.data_dir / "library" / "tv" / "Show.S01"
    assert job["status"] == "moved"
    assert torrent["save_path"] == str(library.parent)
    assert _same_bytes(library, seeder.payload)
    assert not (daemon.data_dir / "downloads" / info_hash).exists()


def test_a_torrents_own_policy_wins_and_a_bad_one_is_a_400(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon], seeder: Seeder
) -> None:
    daemon = _start(tmp_path, database_url, daemon_factory, "")
    metainfo = base64.b64encode(seeder.metainfo).decode()

    bad = daemon.api(
        "POST", "/v1/torrents", {"metainfo": metainfo, "fsops": {"transfer": "warp"}}
    )
    nothing = daemon.api("GET", "/v1/torrents")[1]["items"]
    created = daemon.api(
        "POST",
        "/v1/torrents",
        {
            "magnet": seeder.magnet,
            "fsops": {"transfer": "copy", "template": "{added:%Y}/{name}"},
        },
    )
    job = daemon.wait_for(lambda: _settled(daemon), "the copy")

    year = str(datetime.now(UTC).year)
    assert bad[0] == 400
    assert bad[1]["invalid_params"][0]["name"] == "/fsops/transfer"
    assert nothing == []
    assert created[0] == 201
    assert job["status"] == "moved", job
    assert _same_bytes(daemon.data_dir / "library" / year / "Show.S01", seeder.payload)


def _seed_a_duplicated_path(root: Path) -> tuple[Any, Any, dict[str, bytes]]:
    """Seeds a torrent whose metainfo lists foo/bar.txt twice.

    libtorrent writes the second one as foo/bar.1.txt; its bytes differ from
    the first's, so filing either file twice cannot pass for filing both.
    """
    files = {
        "foo/bar.txt": os.urandom(100_000),
        "foo/bar.1.txt": os.urandom(60_000),
        "foo/baz.txt": os.urandom(50_000),
    }
    entries = []
    for relative, data in files.items():
        (root / "Dup.S01" / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / "Dup.S01" / relative).write_bytes(data)
        entries.append(lt.create_file_entry(f"Dup.S01/{relative}", len(data)))
    creator = lt.create_torrent(entries, 16384, lt.create_torrent.v1_only)
    lt.set_piece_hashes(creator, str(root))
    metainfo = creator.generate()
    # Piece hashes cover the bytes, not the names, so this stays a valid torrent.
    metainfo[b"info"][b"files"][1][b"path"] = [b"foo", b"bar.txt"]
    info = lt.torrent_info(lt.bencode(metainfo))
    session = lt.session(dict(LOOPBACK_SETTINGS))
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = str(root)
    handle = session.add_torrent(params)
    for _ in range(600):
        if handle.status().state == lt.torrent_status.seeding:
            break
        time.sleep(0.05)
    assert handle.status().state == lt.torrent_status.seeding
    return session, info, files


def test_a_torrent_listing_one_path_twice_files_every_file_with_its_own_bytes(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon]
) -> None:
    session, info, files = _seed_a_duplicated_path(tmp_path / "seed")
    magnet = (
        f"magnet:?xt=urn:btih:{info.info_hashes().v1}&dn=Dup.S01"
        f"&x.pe=127.0.0.1:{session.listen_port()}"
    )
    daemon = _start(
        tmp_path, database_url, daemon_factory, '[fsops]\ntransfer = "copy"\n'
    )

    info_hash = daemon.cli("add", magnet).stdout.strip()
    job = daemon.wait_for(lambda: _settled(daemon), "the copy")
    listed = daemon.api("GET", f"/v1/torrents/{info_hash}")[1]["files"]

    library = daemon.data_dir / "library" / "Dup.S01"
    assert job["status"] == "moved", job
    assert sorted(f["path"] for f in listed) == sorted(f"Dup.S01/{n}" for n in files)
    on_disk = {
        str(p.relative_to(library)): p.read_bytes()
        for p in library.rglob("*")
        if p.is_file()
    }
    assert on_disk == files


def test_a_full_library_disk_fails_the_job_cleanly_and_a_retry_by_hand_finishes_it(
    tmp_path: Path,
    database_url: str,
    daemon_factory: list[Daemon],
    small_disk: Path,
) -> None:
    payload = make_payload(tmp_path / "seed", "Big", {"big.bin": 3 * 1024 * 1024})
    seeder = Seeder(payload)
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        '[fsops]\ntransfer = "copy"\nretry_limit = 2\nretry_base_seconds = 0.2\n',
        ["--library-dir", str(small_disk)],
    )
    try:
        info_hash = daemon.cli("add", seeder.magnet).stdout.strip()
        failed = daemon.wait_for(lambda: _settled(daemon), "the job to fail")
        history = daemon.api("GET", f"/v1/fs-jobs/{failed['id']}")[1]["history"]
        leftovers = [p.name for p in small_disk.rglob("*") if p.is_file()]

        tmpfs.resize(small_disk, "16m")
        retried = daemon.cli("jobs", "retry", str(failed["id"]))
        done = daemon.wait_for(
            lambda: (j := _settled(daemon)) and j["status"] == "moved" and j,
            "the retried job",
        )
        again = daemon.cli("jobs", "retry", str(failed["id"]))
        unknown = daemon.api("POST", "/v1/fs-jobs/999999/retry")
    finally:
        seeder.close()

    source = daemon.data_dir / "downloads" / info_hash / "Big" / "big.bin"
    assert failed["status"] == "failed"
    assert failed["stage"] == "transfer"
    assert failed["attempt"] == 2
    assert failed["last_error"].startswith("ENOSPC: No space left on device")
    assert [h["outcome"] for h in history].count("retry") == 1
    assert leftovers == []
    assert source.read_bytes() == (payload / "big.bin").read_bytes()
    assert retried.returncode == 0, retried.stderr
    assert done["id"] == failed["id"]
    assert (small_disk / "Big" / "big.bin").read_bytes() == source.read_bytes()
    assert again.returncode == 2
    assert "only a failed job is retried" in again.stderr
    assert unknown[0] == 404
    assert os.path.exists(source)


def test_a_downloaded_release_is_unpacked_flattened_cleaned_and_chmodded(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon]
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    episode = os.urandom(200_000)
    volumes = archive_maker.make_rar(
        made, "show", {"Show.E01.mkv": episode, "show.nfo": b"nfo"}, volumes=3
    )
    release = {f"rar/{v.name}": v.read_bytes() for v in volumes}
    release.update(
        {
            "subs/Show.E01.srt": b"1\n00:00 --> 00:01\nhi\n",
            "Sample/sample.mkv": b"s" * 1000,
            "readme.txt": b"read me",
        }
    )
    payload = tmp_path / "seed" / "Release"
    for rel, data in release.items():
        (payload / rel).parent.mkdir(parents=True, exist_ok=True)
        (payload / rel).write_bytes(data)
    seeder = Seeder(payload)
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        '[fsops]\ntransfer = "copy"\nextract = true\nflatten = true\n'
        'skip_fluff = true\ncleanup_drop = ["*.srt"]\nchmod_file = "0640"\n',
    )
    try:
        daemon.cli("add", seeder.magnet)
        job = daemon.wait_for(lambda: _settled(daemon), "the job")
    finally:
        seeder.close()

    library = daemon.data_dir / "library" / "Release"
    assert job["status"] == "moved", job
    assert sorted(p.name for p in library.iterdir()) == ["Show.E01.mkv"]
    assert (library / "Show.E01.mkv").read_bytes() == episode
    assert stat.S_IMODE((library / "Show.E01.mkv").stat().st_mode) == 0o640
    assert not list(library.parent.glob(".revaer-staging-*"))


def test_move_with_extract_keeps_seeding_the_archive_and_files_its_content(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon]
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    episode = os.urandom(150_000)
    archive = archive_maker.make_7z(made / "ep.7z", {"Show.E02.mkv": episode})
    payload = tmp_path / "seed" / "Packed"
    payload.mkdir(parents=True)
    (payload / "ep.7z").write_bytes(archive.read_bytes())
    (payload / "cover.jpg").write_bytes(b"jpg")
    seeder = Seeder(payload)
    daemon = _start(tmp_path, database_url, daemon_factory, "[fsops]\nextract = true\n")
    try:
        info_hash = daemon.cli("add", seeder.magnet).stdout.strip()
        job = daemon.wait_for(lambda: _settled(daemon), "the job")
        torrent = daemon.wait_for(
            lambda: (
                (t := daemon.cli_json("status", info_hash))["state"] == "seeding" and t
            ),
            "seeding from the library",
        )
    finally:
        seeder.close()

    library = daemon.data_dir / "library" / "Packed"
    assert job["status"] == "moved", job
    assert sorted(p.name for p in library.iterdir()) == [
        "Show.E02.mkv",
        "cover.jpg",
        "ep.7z",
    ]
    assert (library / "Show.E02.mkv").read_bytes() == episode
    assert (library / "ep.7z").read_bytes() == archive.read_bytes()
    assert torrent["save_path"] == str(library.parent)


def test_a_job_waiting_for_its_retry_resumes_after_a_restart(
    tmp_path: Path,
    database_url: str,
    daemon_factory: list[Daemon],
    small_disk: Path,
) -> None:
    payload = make_payload(tmp_path / "seed", "Big", {"big.bin": 3 * 1024 * 1024})
    seeder = Seeder(payload)
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        '[fsops]\ntransfer = "copy"\nretry_limit = 10\nretry_base_seconds = 2\n',
        ["--library-dir", str(small_disk)],
    )
    try:
        daemon.cli("add", seeder.magnet)
        waiting = daemon.wait_for(
            lambda: (j := daemon.cli_json("jobs")) and j[0]["next_retry_at"] and j[0],
            "the first failure",
        )
        daemon.stop()
        tmpfs.resize(small_disk, "16m")
        daemon.start()
        done = daemon.wait_for(
            lambda: (j := _settled(daemon)) and j["status"] == "moved" and j,
            "the job to finish after the restart",
        )
    finally:
        seeder.close()

    assert waiting["status"] == "pending"
    assert waiting["last_error"].startswith("ENOSPC")
    assert done["id"] == waiting["id"]
    assert done["attempt"] >= 2
    assert done["next_retry_at"] is None
    assert (small_disk / "Big" / "big.bin").read_bytes() == (
        payload / "big.bin"
    ).read_bytes()


def test_move_with_skip_identical_seeds_from_the_identical_files_already_there(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon], seeder: Seeder
) -> None:
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        '[fsops]\non_conflict = "skip_identical"\n',
    )
    library = daemon.data_dir / "library" / "Show.S01"
    for name in FILES:
        (library / name).parent.mkdir(parents=True, exist_ok=True)
        (library / name).write_bytes((seeder.payload / name).read_bytes())

    info_hash = daemon.cli("add", seeder.magnet).stdout.strip()
    job = daemon.wait_for(lambda: _settled(daemon), "the job")
    torrent = daemon.wait_for(
        lambda: (t := daemon.cli_json("status", info_hash))["state"] == "seeding" and t,
        "seeding from the library",
    )

    assert job["status"] == "moved", job
    assert torrent["save_path"] == str(library.parent)
    assert _same_bytes(library, seeder.payload)


def test_a_damaged_archive_fails_the_job_instead_of_leaving_it_moving(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon]
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    archive = archive_maker.make_7z(
        made / "ep.7z", {"Show.E03.mkv": os.urandom(150_000)}
    )
    broken = bytearray(archive.read_bytes())
    broken[len(broken) // 2] ^= 0xFF
    payload = tmp_path / "seed" / "Damaged"
    payload.mkdir(parents=True)
    (payload / "ep.7z").write_bytes(bytes(broken))
    (payload / "cover.jpg").write_bytes(b"jpg")
    seeder = Seeder(payload)
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        '[fsops]\ntransfer = "copy"\nextract = true\n',
    )
    try:
        info_hash = daemon.cli("add", seeder.magnet).stdout.strip()
        job = daemon.wait_for(lambda: _settled(daemon), "the job to fail")
        daemon.stop()
        daemon.start()
        after = daemon.wait_for(lambda: _settled(daemon), "the job after a restart")
        torrent = daemon.cli_json("status", info_hash)
    finally:
        seeder.close()

    library = daemon.data_dir / "library"
    assert job["status"] == "failed", job
    assert job["stage"] == "extract"
    assert "ep.7z cannot be read" in job["last_error"]
    assert after["status"] == "failed"
    assert torrent["state"] != "moving"
    assert not list(library.rglob("*.mkv"))
    assert not list(library.rglob(".revaer-staging-*"))


def test_a_full_library_disk_in_move_mode_leaves_no_partial_copy_and_names_enospc(
    tmp_path: Path,
    database_url: str,
    daemon_factory: list[Daemon],
    small_disk: Path,
) -> None:
    tmpfs.resize(small_disk, "2m")
    theirs = small_disk / "theirs.txt"
    theirs.write_bytes(b"somebody else's")
    payload = make_payload(
        tmp_path / "seed", "Big", {"a.bin": 1024 * 1024, "b.bin": 2 * 1024 * 1024}
    )
    seeder = Seeder(payload)
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        "[fsops]\nretry_limit = 2\nretry_base_seconds = 0.2\n",
        ["--library-dir", str(small_disk)],
    )
    try:
        info_hash = daemon.cli("add", seeder.magnet).stdout.strip()
        failed = daemon.wait_for(lambda: _settled(daemon), "the move to fail")
        torrent = daemon.cli_json("status", info_hash)
    finally:
        seeder.close()

    source = daemon.data_dir / "downloads" / info_hash / "Big"
    assert failed["status"] == "failed", failed
    assert failed["transfer_mode"] == "move"
    assert failed["last_error"].startswith("ENOSPC: libtorrent:"), failed
    assert sorted(p.name for p in small_disk.rglob("*")) == ["theirs.txt"]
    assert theirs.read_bytes() == b"somebody else's"
    for name in ("a.bin", "b.bin"):
        assert (source / name).read_bytes() == (payload / name).read_bytes()
    assert torrent["save_path"] == str(source.parent)


def test_a_job_retried_by_hand_at_transfer_unpacks_again_what_its_failure_dropped(
    tmp_path: Path,
    database_url: str,
    daemon_factory: list[Daemon],
    small_disk: Path,
) -> None:
    # The archive unpacks into the library's staging folder, which fits the
    # 1 MiB disk; the plain 3 MiB file after it does not, so the job fails at
    # transfer, and failing for good drops the unpacked copies.
    episode = os.urandom(200_000)
    made = tmp_path / "made"
    made.mkdir()
    archive = archive_maker.make_7z(made / "ep.7z", {"Show.E04.mkv": episode})
    payload = make_payload(tmp_path / "seed", "Mixed", {"big.bin": 3 * 1024 * 1024})
    (payload / "ep.7z").write_bytes(archive.read_bytes())
    seeder = Seeder(payload)
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        '[fsops]\ntransfer = "copy"\nextract = true\nretry_limit = 1\n',
        ["--library-dir", str(small_disk)],
    )
    try:
        daemon.cli("add", seeder.magnet)
        failed = daemon.wait_for(lambda: _settled(daemon), "the job to fail")
        staging_after_failure = list(small_disk.rglob(".revaer-staging-*"))
        tmpfs.resize(small_disk, "16m")
        retried = daemon.cli("jobs", "retry", str(failed["id"]))
        # The retry reopened the job before it answered: settled is the end.
        done = daemon.wait_for(lambda: _settled(daemon), "the retried job")
        history = daemon.api("GET", f"/v1/fs-jobs/{done['id']}")[1]["history"]
    finally:
        seeder.close()

    library = small_disk / "Mixed"
    assert failed["status"] == "failed", failed
    assert failed["stage"] == "transfer"
    assert failed["last_error"].startswith("ENOSPC"), failed
    assert staging_after_failure == []
    assert retried.returncode == 0, retried.stderr
    assert done["status"] == "moved", done
    after_retry = [
        (h["stage"], h["outcome"])
        for h in history[[h["outcome"] for h in history].index("failed") + 1 :]
        if h["outcome"] in ("started", "done")
    ]
    assert after_retry[:4] == [
        ("extract", "started"),
        ("extract", "done"),
        ("flatten", "started"),
        ("flatten", "done"),
    ]
    assert (library / "Show.E04.mkv").read_bytes() == episode
    assert (library / "big.bin").read_bytes() == (payload / "big.bin").read_bytes()
    assert not list(small_disk.rglob(".revaer-staging-*"))
    assert not [p for p in small_disk.rglob("*") if p.name.endswith(".revaer-part")]


def test_a_backoff_retry_in_move_mode_never_replaces_a_file_that_is_not_its_own(
    tmp_path: Path,
    database_url: str,
    daemon_factory: list[Daemon],
    small_disk: Path,
) -> None:
    tmpfs.resize(small_disk, "2m")
    payload = make_payload(
        tmp_path / "seed", "Big", {"a.bin": 1024 * 1024, "b.bin": 2 * 1024 * 1024}
    )
    seeder = Seeder(payload)
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        "[fsops]\nretry_limit = 3\nretry_base_seconds = 4\n",
        ["--library-dir", str(small_disk)],
    )
    theirs = small_disk / "Big" / "a.bin"
    try:
        info_hash = daemon.cli("add", seeder.magnet).stdout.strip()
        waiting = daemon.wait_for(
            lambda: (j := daemon.cli_json("jobs")) and j[0]["next_retry_at"] and j[0],
            "the first failure",
        )
        # Between the attempts the disk grows and somebody files their own
        # a.bin where the plan put this torrent's.
        tmpfs.resize(small_disk, "16m")
        theirs.parent.mkdir(exist_ok=True)
        theirs.write_bytes(b"somebody else's")
        placed_at = datetime.now(UTC)
        job = daemon.wait_for(lambda: _settled(daemon), "the retried move")
        history = daemon.api("GET", f"/v1/fs-jobs/{job['id']}")[1]["history"]
        torrent = daemon.cli_json("status", info_hash)
    finally:
        seeder.close()

    source = daemon.data_dir / "downloads" / info_hash / "Big"
    assert waiting["last_error"].startswith("ENOSPC"), waiting
    later_starts = [
        datetime.fromisoformat(h["at"])
        for h in history
        if h["stage"] == "transfer" and h["outcome"] == "started"
    ][1:]
    assert later_starts and later_starts[0] > placed_at, "the retry came too soon"
    assert theirs.read_bytes() == b"somebody else's"
    assert job["status"] == "failed", job
    assert str(theirs) in job["last_error"], job
    for name in ("a.bin", "b.bin"):
        assert (source / name).read_bytes() == (payload / name).read_bytes()
    assert torrent["save_path"] == str(source.parent)
    assert not (small_disk / "Big" / "b.bin").exists()


@pytest.fixture
def unwritable_folder(tmp_path: Path) -> Iterator[Path]:
    """library/tv, which nobody may write to: mode 0555, and, for root (whom
    modes do not stop), a read-only tmpfs mounted over it."""
    folder = tmp_path / "data" / "library" / "tv"
    folder.mkdir(parents=True)
    folder.chmod(0o555)
    probe = folder / "probe"
    try:
        probe.write_bytes(b"")
    except PermissionError:
        yield folder
        folder.chmod(0o755)
        return
    probe.unlink()
    with tmpfs.mounted(folder, "1m", read_only=True):
        yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize("transfer", ["copy", "move"])
def test_a_library_folder_nobody_may_write_fails_the_job_plainly_and_keeps_the_source(
    tmp_path: Path,
    database_url: str,
    daemon_factory: list[Daemon],
    seeder: Seeder,
    unwritable_folder: Path,
    transfer: str,
) -> None:
    daemon = _start(
        tmp_path,
        database_url,
        daemon_factory,
        f'[fsops]\ntransfer = "{transfer}"\nretry_limit = 1\n',
    )

    info_hash = daemon.cli("add", seeder.magnet, "--category", "tv").stdout.strip()
    job = daemon.wait_for(lambda: _settled(daemon), "the job to fail")
    torrent = daemon.cli_json("status", info_hash)

    download = daemon.data_dir / "downloads" / info_hash / "Show.S01"
    assert job["status"] == "failed", job
    assert job["stage"] == "transfer"
    assert job["last_error"].split(":")[0] in ("EACCES", "EROFS"), job
    assert str(unwritable_folder) in job["last_error"], job
    assert _same_bytes(download, seeder.payload)
    assert torrent["save_path"] == str(download.parent)
    assert torrent["library_path"] is None
    assert list(unwritable_folder.iterdir()) == []
