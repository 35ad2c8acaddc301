"""Where downloads go and where FsOps files them.

Both start from the configuration, and a qBittorrent client may move them
while the daemon runs (setPreferences `temp_path` and `save_path`), so every
actor reads them from this one holder at the moment it needs them instead of
keeping a copy. A change applies to what happens next: torrents already
downloading or filed stay where they are, as in qBittorrent.
"""

from __future__ import annotations

import threading
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
        """Checks and creates asked-for folders; InvalidInput names a bad one."""
        chosen = {
            "downloads": _usable(downloads, "temp_path")
            if downloads
            else self.downloads,
            "library": _usable(library, "save_path") if library else self.library,
        }
        if _nested(chosen["downloads"], chosen["library"]):
            raise InvalidInput(
                "the downloads folder and the library may not lie inside each other",
                field="save_path",
            )
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


def _usable(raw: str, field: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_absolute() or "\x00" in raw:
        raise InvalidInput(f"{field} must be an absolute path", field=field)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(
            f"cannot create {path}: {exc.strerror}", field=field
        ) from None
    return path.resolve()


def _nested(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)
