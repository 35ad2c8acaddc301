"""The qBittorrent credentials and bans, without a daemon: the generated
password's file and hash, and a ban that ends when its hour is up."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from revaer_actors.config import QbittorrentCredentials
from revaer_actors.qbittorrent_auth import (
    BAN_SECONDS,
    MAX_FAILED_LOGINS,
    PASSWORD_FILE,
    Gatekeeper,
    password_hash,
    verify_password,
)


class _Done:
    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self, timeout: float) -> Any:
        return self.value


class ScopeStoreRecordingTheFileAtCommit:
    """A stand-in for the persistence actor's scope store that notes what the
    password file held when the hash was committed: the order of the two
    writes is not observable on the real actor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stored: dict[str, Any] = {}
        self.file_at_commit: tuple[str, int] | None = None

    def load_scope(self, scope: str) -> _Done:
        return _Done(dict(self.stored))

    def save_scope(self, scope: str, values: dict[str, Any]) -> _Done:
        if self.path.exists():
            mode = stat.S_IMODE(self.path.stat().st_mode)
            self.file_at_commit = (self.path.read_text().strip(), mode)
        self.stored = dict(values)
        return _Done(None)


def test_the_password_file_is_written_before_its_hash_is_committed(
    tmp_path: Path,
) -> None:
    store = ScopeStoreRecordingTheFileAtCommit(tmp_path / PASSWORD_FILE)
    credentials = QbittorrentCredentials(username="admin", password=None)

    hashed = password_hash(credentials, tmp_path, store)
    again = password_hash(credentials, tmp_path, store)

    assert store.file_at_commit is not None, "hash committed before the file"
    written, mode = store.file_at_commit
    assert mode == 0o600
    assert verify_password(written, store.stored["password_pbkdf2"])
    assert hashed == again == store.stored["password_pbkdf2"]
    assert not (tmp_path / (PASSWORD_FILE + ".partial")).exists()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_ban_lasts_an_hour_and_then_the_address_may_try_again() -> None:
    clock = Clock()
    gate = Gatekeeper("admin", clock=clock)
    for _ in range(MAX_FAILED_LOGINS - 1):
        gate.failed("10.0.0.1")
    not_yet = gate.banned("10.0.0.1")
    gate.failed("10.0.0.1")
    banned = gate.banned("10.0.0.1")
    clock.now += BAN_SECONDS - 1
    still = gate.banned("10.0.0.1")
    other = gate.banned("10.0.0.2")
    clock.now += 1
    lifted = gate.banned("10.0.0.1")
    # The count started again: one more failure is not a new ban.
    gate.failed("10.0.0.1")
    after_one_more = gate.banned("10.0.0.1")

    assert (not_yet, banned, still, other) == (False, True, True, False)
    assert (lifted, after_one_more) == (False, False)
