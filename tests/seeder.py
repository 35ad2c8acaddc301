"""A real libtorrent session that seeds a payload on 127.0.0.1.

Tests use `Seeder` directly; run `python tests/seeder.py DIR` to seed a made-up
payload by hand and print its magnet (Ctrl-C to stop).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import libtorrent as lt

LOOPBACK_SETTINGS = {
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    "alert_mask": 0,
}


def make_payload(root: Path, name: str, files: dict[str, int], seed: int = 1) -> Path:
    """Writes files of pseudo-random bytes under root/name; returns that folder."""
    rng = __import__("random").Random(seed)
    folder = root / name
    for relative, size in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
    return folder


def make_torrent(payload: Path, v1_only: bool = False) -> bytes:
    flags = lt.create_torrent.v1_only if v1_only else 0
    creator = lt.create_torrent(lt.list_files(str(payload)), 0, flags)
    lt.set_piece_hashes(creator, str(payload.parent))
    return bytes(lt.bencode(creator.generate()))


class Seeder:
    """Seeds one payload; `magnet` points straight at it with x.pe."""

    def __init__(
        self, payload: Path, upload_limit: int = 0, v1_only: bool = False
    ) -> None:
        """upload_limit in bytes/s (0: none) slows the swarm for crash tests."""
        self.payload = payload
        self.metainfo = make_torrent(payload, v1_only)
        self.info = lt.torrent_info(self.metainfo)
        settings = dict(LOOPBACK_SETTINGS)
        if upload_limit:
            settings["upload_rate_limit"] = upload_limit
            settings["ignore_limits_on_local_network"] = False
        self.session: lt.session | None = lt.session(settings)
        params = lt.add_torrent_params()
        params.ti = self.info
        params.save_path = str(payload.parent)
        self.handle = self.session.add_torrent(params)
        self._wait_until_seeding()

    @property
    def info_hash(self) -> str:
        return str(self.info.info_hashes().v1)

    @property
    def magnet(self) -> str:
        assert self.session is not None
        port = self.session.listen_port()
        return (
            f"magnet:?xt=urn:btih:{self.info_hash}&dn={self.payload.name}"
            f"&x.pe=127.0.0.1:{port}"
        )

    def _wait_until_seeding(self, timeout: float = 30.0) -> None:
        # A peer that connects while we are still checking is turned away and
        # retried only much later, so a test must not start before this.
        deadline = time.monotonic() + timeout
        while self.handle.status().state != lt.torrent_status.seeding:
            if time.monotonic() > deadline:
                raise TimeoutError("seeder did not reach seeding")
            time.sleep(0.05)

    @property
    def v2_magnet(self) -> str:
        """The same torrent named by its v2 hash only (urn:btmh)."""
        assert self.session is not None
        v2 = str(self.info.info_hashes().v2)
        return (
            f"magnet:?xt=urn:btmh:1220{v2}&dn={self.payload.name}"
            f"&x.pe=127.0.0.1:{self.session.listen_port()}"
        )

    def uploaded(self) -> int:
        """Payload bytes this seeder has sent so far."""
        return int(self.handle.status().total_payload_upload)

    def close(self) -> None:
        """Stops seeding; safe to call twice."""
        if self.session is None:
            return
        self.session.remove_torrent(self.handle)
        self.session = None


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "seed-data").resolve()
    folder = make_payload(
        root, "Show.S01", {"Show.S01E01.mkv": 8 * 1024 * 1024, "info/readme.txt": 300}
    )
    seeder = Seeder(folder)
    print(seeder.magnet, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        os._exit(0)
