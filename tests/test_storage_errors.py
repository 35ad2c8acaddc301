"""A full disk pauses the torrent with the reason, and resuming after space is
freed starts it again. The disk is a real, small tmpfs.

TODO(loopback swarm after a pause): finishing the download after the resume is
not asserted: the only peer, dropped by the pause, is not dialled again within
minutes on loopback. Real swarms reconnect through trackers and DHT; a test of
it needs a loopback tracker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import tmpfs
from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    with tmpfs.mounted(mount_point, "1m"):
        yield mount_point


def test_a_full_disk_pauses_the_torrent_with_the_reason_and_resume_restarts_it(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon], small_disk: Path
) -> None:
    payload = make_payload(tmp_path / "seed", "Big", {"big.bin": 3 * 1024 * 1024})
    # v1 only: see the TODO(hybrid torrents after ENOSPC) in torrent.py.
    seeder = Seeder(payload, v1_only=True)
    daemon = Daemon(
        tmp_path / "data", database_url, extra_args=["--downloads-dir", str(small_disk)]
    )
    daemon_factory.append(daemon)
    daemon.start()
    try:
        info_hash = daemon.cli("add", seeder.magnet).stdout.strip()
        paused = daemon.wait_for(
            lambda: (
                (t := daemon.cli_json("status", info_hash))["state"] == "paused" and t
            ),
            "the full disk to pause the torrent",
        )

        tmpfs.resize(small_disk, "16m")
        resumed = daemon.cli("action", info_hash, "resume")
        running = daemon.wait_for(
            lambda: (
                (t := daemon.cli_json("status", info_hash))["state"]
                in ("downloading", "queued", "checking")
                and t
            ),
            "the torrent to run again",
        )
    finally:
        seeder.close()

    assert paused["paused"] is True
    assert paused["state_message"].startswith("storage error: ")
    assert "No space left on device" in paused["state_message"]
    assert paused["state_message"].endswith("; resume once it is fixed")
    assert resumed.returncode == 0, resumed.stderr
    assert running["paused"] is False
    assert running["state_message"] is None
    # Back under libtorrent's queue (auto-managed), no longer paused by us.
    assert running["engine"]["auto_managed"] is True
    assert not (daemon.data_dir / "library" / "Big").exists()
