"""Where downloads go and where FsOps files them.

Both start from the configuration, and a qBittorrent client may move them
while the daemon runs (setPreferences `temp_path` and `save_path`), so every
actor reads them from this one holder at the moment it needs them instead of
keeping a copy. A change applies to what happens next: torrents already
downloading or filed stay where they are, as in qBittorrent.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from revaer_actors.errors import InvalidInput


class Folders:
    def __init__(self, downloads: Path, library: Path) -> None:
        self._lock = threading.Lock()
        self._downloads = downloads
        self._library = library

    @property
    def downloads(self) -> Path:
        with self._lock:
            return self._downloads

    @property
    def library(self) -> Path:
        with self._lock:
            return self._library

    def prepare(self, downloads: str | None, library: str | None) -> dict[str, str]:
        """Checks, then creates, asked-for folders; InvalidInput names a bad one.

        Every check comes before the first mkdir, and a folder made for a
        change that then fails is removed again: a refused change leaves no
        folder behind.
        """
        asked = {
            "downloads": _absolute(downloads, "temp_path") if downloads else None,
            "library": _absolute(library, "save_path") if library else None,
        }
        chosen = {
            "downloads": asked["downloads"] or self.downloads,
            "library": asked["library"] or self.library,
        }
        if _nested(chosen["downloads"], chosen["library"]):
            raise InvalidInput(
                "the downloads folder and the library may not lie inside each other",
                field="save_path",
            )
        made: list[Path] = []
        try:
            for name, field in (("downloads", "temp_path"), ("library", "save_path")):
                path = asked[name]
                if path is not None:
                    made += _create(path, field)
                    chosen[name] = path.resolve()
        except InvalidInput:
            _remove(reversed(made))
            raise
        return {name: str(path) for name, path in chosen.items()}

    def apply(self, stored: dict[str, Any]) -> None:
        """Uses folders that `prepare` accepted (or the database kept)."""
        with self._lock:
            if stored.get("downloads"):
                self._downloads = Path(stored["downloads"])
            if stored.get("library"):
                self._library = Path(stored["library"])

    def as_json(self) -> dict[str, str]:
        return {"downloads": str(self.downloads), "library": str(self.library)}


def _absolute(raw: str, field: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_absolute() or "\x00" in raw:
        raise InvalidInput(f"{field} must be an absolute path", field=field)
    return path


def _create(path: Path, field: str) -> list[Path]:
    """Makes path and its missing parents; returns those it made, top first."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # Some parents may have been made before the failure.
        _remove(folder for folder in missing if folder.is_dir())
        raise InvalidInput(
            f"cannot create {path}: {exc.strerror}", field=field
        ) from None
    return list(reversed(missing))


def _remove(folders: Iterable[Path]) -> None:
    """Removes folders this change made, deepest first; a folder someone
    filled in the meantime stays."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _nested(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)
