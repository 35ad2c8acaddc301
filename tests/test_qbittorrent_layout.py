"""`contentLayout` on torrents/add, on real loopback downloads of uploaded
.torrent files: NoSubfolder strips a multi-file torrent's root folder,
Subfolder puts a single-file torrent in a folder, and both layouts survive a
restart and are filed into the library as they are."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import qbittorrentapi

from revaer_actors.domain import ContentLayout, FileEntry
from revaer_actors.layout import apply_layout
from tests.daemon import Daemon, free_port
from tests.seeder import Seeder, make_payload
from tests.test_qbittorrent_client import COMPLETED, client_for

DEADLINE = 90.0


class Swarm:
    """A daemon with a known BitTorrent port, so the seeder can dial it: an
    uploaded .torrent names no peer, unlike the tests' magnets."""

    def __init__(self, daemon: Daemon, port: int) -> None:
        self.daemon = daemon
        self.port = port

    def wait_until(self, seeder: Seeder, predicate: Any, what: str) -> Any:
        deadline = time.monotonic() + DEADLINE
        dialled = 0.0
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            # A peer that calls while the torrent is still checking is turned
            # away; calling again every second costs nothing.
            if time.monotonic() - dialled > 1.0:
                seeder.handle.connect_peer(("127.0.0.1", self.port))
                dialled = time.monotonic()
            time.sleep(0.1)
        raise TimeoutError(
            f"timed out waiting for {what}:\n{self.daemon.log()[-3000:]}"
        )


@pytest.fixture
def swarm(tmp_path: Path, database_url: str, daemon_factory: list[Daemon]) -> Swarm:
    port = free_port()
    daemon = Daemon(
        tmp_path / "data", database_url, ["--bt-listen", f"127.0.0.1:{port}"]
    )
    daemon_factory.append(daemon)
    daemon.start()
    return Swarm(daemon, port)


@pytest.fixture
def single_seeder(tmp_path: Path) -> Iterator[Seeder]:
    movie = tmp_path / "seed" / "Movie.2020.mkv"
    movie.parent.mkdir(parents=True)
    movie.write_bytes(bytes(range(256)) * 9000 + b"tail")
    instance = Seeder(movie)
    yield instance
    instance.close()


def _filed(qbt: qbittorrentapi.Client, info_hash: str) -> Any:
    items = qbt.torrents_info(torrent_hashes=info_hash)
    return items[0] if items and items[0].state in COMPLETED else None


def _seeding(qbt: qbittorrentapi.Client, info_hash: str) -> Any:
    items = qbt.torrents_info(torrent_hashes=info_hash)
    seeding = items and items[0].state in ("stalledUP", "uploading")
    return items[0] if seeding else None


def test_no_subfolder_lands_a_multi_file_torrent_without_its_root_folder(
    swarm: Swarm, seeder: Seeder
) -> None:
    daemon = swarm.daemon
    qbt = client_for(daemon)
    library = daemon.data_dir / "library" / "tv"

    added = qbt.torrents_add(
        torrent_files=seeder.metainfo, category="tv", content_layout="NoSubfolder"
    )
    files = [f["name"] for f in qbt.torrents_files(torrent_hash=seeder.info_hash)]
    waiting = qbt.torrents_info(torrent_hashes=seeder.info_hash)[0]
    torrent = swarm.wait_until(
        seeder, lambda: _filed(qbt, seeder.info_hash), "the torrent to be filed"
    )
    filed = sorted(str(p.relative_to(library)) for p in library.rglob("*"))
    assert daemon.stop() == 0
    daemon.start()
    restored = swarm.wait_until(
        seeder, lambda: _seeding(qbt, seeder.info_hash), "the restored seed"
    )
    restored_files = qbt.torrents_files(torrent_hash=seeder.info_hash)

    assert added == "Ok."
    assert sorted(files) == ["Show.S01E01.mkv", "extras/readme.txt"]
    # Before filing, the files lie in the torrent's own download folder.
    own_folder = daemon.data_dir / "downloads" / seeder.info_hash
    assert waiting.content_path == waiting.save_path == str(own_folder)
    # Filed into a folder of the torrent's name, holding no second root.
    assert filed == [
        "Show.S01",
        "Show.S01.revaer.meta",
        "Show.S01/Show.S01E01.mkv",
        "Show.S01/extras",
        "Show.S01/extras/readme.txt",
    ]
    episode = library / "Show.S01" / "Show.S01E01.mkv"
    assert episode.read_bytes() == (seeder.payload / "Show.S01E01.mkv").read_bytes()
    assert torrent.content_path == torrent.save_path == str(library / "Show.S01")
    assert restored.content_path == torrent.content_path
    assert restored.save_path == torrent.save_path
    assert restored.progress == 1
    assert sorted(f["name"] for f in restored_files) == sorted(files)
    assert all(f["progress"] == 1 for f in restored_files)
    assert not own_folder.exists()


def test_subfolder_puts_a_single_file_torrent_in_a_folder_across_a_crash(
    swarm: Swarm, single_seeder: Seeder
) -> None:
    daemon = swarm.daemon
    qbt = client_for(daemon)
    seeder = single_seeder
    library = daemon.data_dir / "library" / "movies"

    qbt.torrents_add(
        torrent_files=seeder.metainfo,
        category="movies",
        content_layout="Subfolder",
        is_stopped=True,
    )
    # Killed before any resume data: the layout must come from the catalog.
    daemon.kill9()
    daemon.start()
    qbt = client_for(daemon)
    qbt.torrents_start(torrent_hashes=seeder.info_hash)
    torrent = swarm.wait_until(
        seeder, lambda: _filed(qbt, seeder.info_hash), "the torrent to be filed"
    )
    files = qbt.torrents_files(torrent_hash=seeder.info_hash)
    filed = sorted(str(p.relative_to(library)) for p in library.rglob("*"))
    assert daemon.stop() == 0
    daemon.start()
    restored = swarm.wait_until(
        seeder, lambda: _seeding(qbt, seeder.info_hash), "the restored seed"
    )

    assert [f["name"] for f in files] == ["Movie.2020/Movie.2020.mkv"]
    assert torrent.name == "Movie.2020.mkv"
    assert filed == [
        "Movie.2020",
        "Movie.2020.revaer.meta",
        "Movie.2020/Movie.2020.mkv",
    ]
    movie = library / "Movie.2020" / "Movie.2020.mkv"
    assert movie.read_bytes() == seeder.payload.read_bytes()
    assert torrent.content_path == str(movie)
    assert torrent.save_path == str(library)
    assert restored.content_path == str(movie)
    assert restored.progress == 1
    props = qbt.torrents_properties(torrent_hash=seeder.info_hash)
    assert props["save_path"] == str(library)


def test_an_unknown_content_layout_is_refused_and_adds_nothing(
    daemon: Daemon, tmp_path: Path
) -> None:
    qbt = client_for(daemon)
    payload = make_payload(tmp_path / "seed", "Odd", {"a.bin": 1000})
    seeder = Seeder(payload)

    try:
        with pytest.raises(qbittorrentapi.exceptions.HTTP400Error) as refused:
            qbt.torrents_add(torrent_files=seeder.metainfo, content_layout="Sideways")
    finally:
        seeder.close()

    assert "contentLayout must be Original, Subfolder or NoSubfolder" in str(
        refused.value
    )
    assert qbt.torrents_info() == []


@pytest.mark.parametrize(
    ("paths", "asked", "placed", "effective"),
    [
        (["Movie.mkv"], "subfolder", ["Movie/Movie.mkv"], "subfolder"),
        ([".hidden"], "subfolder", [".hidden/.hidden"], "subfolder"),
        (["a.tar.gz"], "subfolder", ["a.tar/a.tar.gz"], "subfolder"),
        (["R/a", "R/s/b"], "subfolder", ["R/a", "R/s/b"], "original"),
        (["R/a", "R/s/b"], "no_subfolder", ["a", "s/b"], "no_subfolder"),
        (["a.mkv"], "no_subfolder", ["a.mkv"], "original"),
        (["R/a", "R/s/b"], "original", ["R/a", "R/s/b"], "original"),
    ],
)
def test_a_layout_places_files_as_qbittorrent_does(
    paths: list[str], asked: str, placed: list[str], effective: str
) -> None:
    files = tuple(FileEntry(p, 1, i) for i, p in enumerate(paths))

    result, layout = apply_layout(files, ContentLayout(asked))

    assert [f.path for f in result] == placed
    assert [f.index for f in result] == list(range(len(paths)))
    assert layout is ContentLayout(effective)
