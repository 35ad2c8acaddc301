"""API keys: how they are made, where the first one is written, and the ring of
hashes the API checks each request against.

Only a SHA-256 of each key is stored. Keys carry 256 random bits, so a plain
hash is enough; a slow password hash would only slow every request down.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

KEY_PREFIX = "rvr_"
KEY_FILE = "api-key"
INITIAL_KEY_NAME = "initial"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    # A header that is not UTF-8 hashes to a key nobody has (keys are ASCII),
    # rather than failing.
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer KEY` or `X-Api-Key: KEY`."""
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("X-Api-Key", "").strip() or None


def write_key_file(data_dir: Path, key: str) -> Path:
    """Writes the key readable by its owner only, whole or not at all."""
    path = data_dir / KEY_FILE
    partial = path.with_name(KEY_FILE + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (key + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    return path


def read_key_file(data_dir: Path) -> str | None:
    try:
        return (data_dir / KEY_FILE).read_text().strip() or None
    except OSError:
        return None


def public_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A key as the API shows it: never its hash."""
    revoked = row["revoked_at"]
    return {
        "id": row["id"],
        "name": row["name"],
        "created_at": row["created_at"].isoformat(),
        "revoked_at": revoked.isoformat() if revoked is not None else None,
    }


class KeyRing:
    """The hashes of the keys that are not revoked.

    Kept in memory so that requests are still authenticated while the
    database is down.
    """

    def __init__(self) -> None:
        self._hashes: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def load(self, rows: Iterable[Mapping[str, Any]]) -> None:
        active = frozenset(r["key_hash"] for r in rows if r["revoked_at"] is None)
        with self._lock:
            self._hashes = active

    def allows(self, key: str | None) -> bool:
        if key is None:
            return False
        presented = key_hash(key)
        with self._lock:
            hashes = self._hashes
        # Compare against every hash so the time taken says nothing about
        # which key came close.
        matched = False
        for known in hashes:
            matched |= hmac.compare_digest(known, presented)
        return matched
