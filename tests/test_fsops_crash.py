"""kill -9 in the middle of copying a large payload into the library: after a
restart the job resumes at its transfer stage and files the right bytes, and
no temporary file is left behind."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

from tests.daemon import Daemon
from tests.seeder import make_torrent

SIZE = 1024 * 1024 * 1024
BLOCK = 4 * 1024 * 1024


def _write_payload(path: Path) -> None:
    """1 GiB that differs block by block, written fast."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = os.urandom(BLOCK)
    with path.open("wb") as out:
        for index in range(SIZE // BLOCK):
            out.write(index.to_bytes(8, "big") + seed[8:])


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_files(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return [p for p in folder.rglob("*") if p.name.endswith(".revaer-part")]


def test_kill9_mid_copy_resumes_the_job_with_the_right_bytes_and_no_temp_file(
    tmp_path: Path, database_url: str, daemon_factory: list[Daemon]
) -> None:
    daemon = Daemon(tmp_path / "data", database_url)
    with (daemon.data_dir / "revaer.toml").open("a") as config:
        config.write('[fsops]\ntransfer = "copy"\n')
    daemon_factory.append(daemon)
    # The payload is already downloaded: libtorrent checks it at add and
    # finishes, so the test spends its time on the copy, not on a swarm.
    source = daemon.data_dir / "downloads" / "ready" / "Big" / "big.bin"
    _write_payload(source)
    metainfo = make_torrent(source.parent, v1_only=True)
    daemon.start()
    library = daemon.data_dir / "library" / "Big"

    status, body = daemon.api(
        "POST",
        "/v1/torrents",
        {
            "metainfo": base64.b64encode(metainfo).decode(),
            "save_path": str(source.parent.parent),
        },
    )
    info_hash = body["id"]
    deadline = time.monotonic() + 120
    while not _temp_files(library) and time.monotonic() < deadline:
        time.sleep(0.002)
    during = daemon.api("GET", f"/v1/torrents/{info_hash}")[1]["state"]
    daemon.kill9()
    left_by_crash = _temp_files(library)

    daemon.start()
    job = daemon.wait_for(
        lambda: (j := daemon.cli_json("jobs")) and j[0]["status"] == "moved" and j[0],
        "the resumed job",
        timeout=180,
    )
    history = daemon.api("GET", f"/v1/fs-jobs/{job['id']}")[1]["history"]

    assert status == 201
    assert left_by_crash, "the kill came after the copy finished"
    assert during == "moving"
    assert _digest(library / "big.bin") == _digest(source)
    assert _temp_files(library) == []
    assert job["attempt"] == 2
    transfers = [h["outcome"] for h in history if h["stage"] == "transfer"]
    assert transfers == ["started", "started", "done"]
