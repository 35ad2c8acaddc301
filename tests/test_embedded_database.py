"""`revaer run` without DATABASE_URL: the embedded server, reused after kill -9."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import psutil

from tests.daemon import Daemon, free_port
from tests.seeder import make_payload, make_torrent


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def test_embedded_server_survives_kill_9_and_keeps_acknowledged_adds(
    tmp_path: Path, daemon_factory: list[Daemon]
) -> None:
    payload = make_payload(tmp_path / "seed", "Album", {"01.flac": 70_000})
    metainfo = make_torrent(payload)
    daemon = Daemon(tmp_path / "data", database_url=None)
    daemon_factory.append(daemon)
    daemon.start()
    pgdata = daemon.data_dir / "postgres"
    server_pid = _postmaster_pid(pgdata)

    status, answer = daemon.api(
        "POST",
        "/v1/torrents",
        {"metainfo": base64.b64encode(metainfo).decode(), "paused": True},
    )
    daemon.kill9()
    daemon.start()

    assert status == 201
    assert _postmaster_pid(pgdata) == server_pid
    stored = daemon.api("GET", f"/v1/torrents/{answer['id']}")
    assert stored[0] == 200
    assert stored[1]["name"] == "Album"
    assert stored[1]["state"] == "paused"

    assert daemon.stop() == 0
    assert not psutil.pid_exists(server_pid) or not _alive(server_pid)
    assert not (pgdata / "postmaster.pid").exists()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_data_directory_holds_everything(
    tmp_path: Path, daemon_factory: list[Daemon]
) -> None:
    daemon = Daemon(tmp_path / "data", database_url=None)
    daemon_factory.append(daemon)

    daemon.start()
    assert daemon.stop() == 0

    names = set(os.listdir(daemon.data_dir))
    assert {"postgres", "downloads", "library", "revaer.toml"} <= names


def test_a_second_daemon_on_the_same_data_directory_refuses_to_start(
    tmp_path: Path, daemon_factory: list[Daemon]
) -> None:
    first = Daemon(tmp_path / "data", None)
    daemon_factory.append(first)
    first.start()
    magnet = "magnet:?xt=urn:btih:" + "ab" * 20
    assert (
        first.api("POST", "/v1/torrents", {"magnet": magnet, "paused": True})[0] == 201
    )

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "revaer_actors",
            "run",
            "--data-dir",
            str(first.data_dir),
            "--api-listen",
            f"127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 3
    assert "another revaer daemon" in result.stderr
    assert f"pid {first.process.pid}" in result.stderr  # type: ignore[union-attr]
    # The first daemon and its embedded database are untouched.
    assert first.api("GET", "/health")[0] == 200
    assert magnet[-40:] in first.catalog()
