"""A download that finished but is not filed yet reads `moving`, never a
completed state, so Sonarr cannot import it from the downloads folder.

The database going away is the real way to hold a download between "finished"
and "filed": FsOps cannot open its job until the database is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.daemon import Daemon
from tests.seeder import Seeder, make_payload
from tests.test_database_outage import StoppableServer

TIMEOUT = 30


@pytest.fixture
def outage_server() -> Iterator[StoppableServer]:
    server = StoppableServer()
    yield server
    server.close()


def test_a_finished_download_is_moving_until_it_is_filed(
    tmp_path: Path, outage_server: StoppableServer, daemon_factory: list[Daemon]
) -> None:
    payload = make_payload(tmp_path / "seed", "Show.S03", {"e1.mkv": 3 * 2**20})
    seeder = Seeder(payload, upload_limit=768 * 1024)
    daemon = Daemon(tmp_path / "data", outage_server.url)
    daemon_factory.append(daemon)
    daemon.start()
    api = daemon.api_url + "/api/v2/"
    client = requests.Session()
    password = (daemon.data_dir / "qbittorrent-password").read_text().strip()
    client.post(
        api + "auth/login",
        data={"username": "admin", "password": password},
        timeout=TIMEOUT,
    )

    def torrent() -> dict[str, Any]:
        items = client.get(api + "torrents/info", timeout=TIMEOUT).json()
        return dict(items[0])

    def wait(predicate: Any, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            item = torrent()
            if predicate(item):
                return item
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}: {torrent()}")

    try:
        added = client.post(
            api + "torrents/add",
            data={"urls": seeder.magnet, "category": "tv"},
            timeout=TIMEOUT,
        )
        outage_server.stop()
        unfiled = wait(lambda t: t["progress"] == 1, "the download to finish")
        outage_server.start()
        filed = wait(lambda t: t["state"] == "stalledUP", "the download to be filed")
    finally:
        seeder.close()

    downloads = daemon.data_dir / "downloads"
    library = daemon.data_dir / "library" / "tv"
    assert added.text == "Ok."
    assert unfiled["state"] == "moving"
    assert Path(unfiled["content_path"]).is_relative_to(downloads)
    assert filed["save_path"] == str(library)
    assert filed["content_path"] == str(library / "Show.S03")
    episode = Path(filed["content_path"]) / "e1.mkv"
    assert episode.read_bytes() == (payload / "e1.mkv").read_bytes()
