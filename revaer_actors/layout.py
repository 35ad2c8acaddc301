"""qBittorrent's content layouts: where a torrent's files sit in its folder.

`Original` keeps the torrent's own paths. `Subfolder` gives a torrent with no
root folder (a single file) one named after its first file without the
extension. `NoSubfolder` strips the root folder of a torrent that has one.
The layout is applied to the file list once, at add time; the catalog keeps
the resulting paths, and libtorrent gets them as renamed files every time the
torrent is loaded, so a restart keeps them even without resume data.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from revaer_actors.domain import ContentLayout, FileEntry, TorrentRecord
from revaer_actors.errors import InvalidInput

# The names qBittorrent's API uses, and ours.
_NAMES = {
    "original": ContentLayout.ORIGINAL,
    "subfolder": ContentLayout.SUBFOLDER,
    "nosubfolder": ContentLayout.NO_SUBFOLDER,
    "no_subfolder": ContentLayout.NO_SUBFOLDER,
}


def parse_layout(value: Any, pointer: str = "/content_layout") -> ContentLayout:
    """`Original`, `Subfolder` or `NoSubfolder` in any case; None is Original."""
    if value is None:
        return ContentLayout.ORIGINAL
    layout = _NAMES.get(value.lower()) if isinstance(value, str) else None
    if layout is None:
        raise InvalidInput(
            "contentLayout must be Original, Subfolder or NoSubfolder", field=pointer
        )
    return layout


def root_folder(paths: list[str]) -> str:
    """The folder every path lies in, or "" when they share none."""
    roots = {p.split("/", 1)[0] if "/" in p else "" for p in paths}
    if len(roots) != 1:
        return ""
    return roots.pop()


def _stem(path: str) -> str:
    """The file name without its extension (`a.tar.gz` keeps `a.tar`)."""
    name = PurePosixPath(path).name
    stem, dot, extension = name.rpartition(".")
    return stem if dot and stem and extension else name


def apply_layout(
    files: tuple[FileEntry, ...], asked: ContentLayout
) -> tuple[tuple[FileEntry, ...], ContentLayout]:
    """The files as the layout places them, and the layout that took effect.

    A layout that would change nothing (Subfolder on a torrent that has a root
    folder, NoSubfolder on one that has none) is Original.
    """
    paths = [f.path for f in files]
    if not paths or asked is ContentLayout.ORIGINAL:
        return files, ContentLayout.ORIGINAL
    root = root_folder(paths)
    if asked is ContentLayout.SUBFOLDER and not root:
        folder = _stem(paths[0])
        placed = tuple(FileEntry(f"{folder}/{f.path}", f.size, f.index) for f in files)
        return placed, ContentLayout.SUBFOLDER
    if asked is ContentLayout.NO_SUBFOLDER and root:
        placed = tuple(
            FileEntry(f.path[len(root) + 1 :], f.size, f.index) for f in files
        )
        return placed, ContentLayout.NO_SUBFOLDER
    return files, ContentLayout.ORIGINAL


def content_root(record: TorrentRecord) -> str | None:
    """The payload's folder relative to save_path: None when the payload is a
    single file, "" when the files lie in save_path itself (NoSubfolder)."""
    if record.content_layout is ContentLayout.NO_SUBFOLDER:
        return ""
    if record.content_layout is ContentLayout.SUBFOLDER and record.files:
        return record.files[0].path.split("/", 1)[0]
    if len(record.files) == 1 and "/" not in record.files[0].path:
        return None
    return record.name


def payload_name(record: TorrentRecord) -> str:
    """The name FsOps files the payload under: the folder Subfolder made, or
    the torrent's name (a NoSubfolder payload gets a folder of that name)."""
    root = content_root(record)
    return root if root else record.name


def renamed_files(record: TorrentRecord) -> tuple[tuple[int, str], ...]:
    """libtorrent's renamed_files for the torrent: every file when a layout
    moved them, none for Original."""
    if record.content_layout is ContentLayout.ORIGINAL:
        return ()
    return tuple((f.index, f.path) for f in record.files)
