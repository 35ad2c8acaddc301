"""Archives in a payload: which files are archives, what they hold, unpacking.

libarchive-c reads zip, rar (multi-volume too), 7z and tar with any of its
compressions. Nothing is unpacked before every entry was listed and checked:
no absolute names, no `..`, no link pointing out, and no more bytes than the
limits allow. Unpacking counts the bytes it writes, so an archive whose headers
lie about sizes is stopped there as well.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import libarchive
from libarchive import ffi
from libarchive.read import ArchiveRead, new_archive_read

from revaer_actors.errors import InvalidInput

_SINGLE = re.compile(r".*\.(zip|7z|tar|tgz|tbz2?|txz|tzst|tar\.(gz|bz2|xz|zst|lz4))$")
_PART = re.compile(r"(?P<stem>.*)\.part(?P<n>\d+)\.rar$")
_OLD_VOLUME = re.compile(r"(?P<stem>.*)\.[rs](?P<n>\d\d)$")
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    kind: str  # "file", "dir", "link" or "other"
    target: str | None = None


@dataclass(frozen=True)
class Archive:
    """An archive in the payload: its volumes (payload-relative), first first."""

    volumes: tuple[str, ...]

    @property
    def first(self) -> str:
        return self.volumes[0]


def find_archives(paths: list[str]) -> list[Archive]:
    """Groups payload-relative paths into archives; other files are left out."""
    by_lower = {p.lower(): p for p in paths}
    archives: list[Archive] = []
    for path in sorted(paths):
        lowered = path.lower()
        part = _PART.fullmatch(lowered)
        if part is not None:
            if int(part["n"]) != 1:
                continue
            stem = part["stem"]
            volumes = sorted(
                (
                    p
                    for p in paths
                    if (m := _PART.fullmatch(p.lower())) and m["stem"] == stem
                ),
                key=lambda p: int(_PART.fullmatch(p.lower())["n"]),  # type: ignore[index]
            )
            archives.append(Archive(tuple(volumes)))
        elif lowered.endswith(".rar"):
            stem = lowered[: -len(".rar")]
            rest = sorted(
                p
                for low, p in by_lower.items()
                if (m := _OLD_VOLUME.fullmatch(low)) and m["stem"] == stem
            )
            archives.append(Archive((path, *rest)))
        elif _SINGLE.fullmatch(lowered):
            archives.append(Archive((path,)))
    return archives


def _open_filenames() -> Any:
    """libarchive's archive_read_open_filenames, which libarchive-c does not wrap.

    A multi-volume RAR is read across its volumes only when libarchive itself
    switches from one file to the next (it refuses the volumes as one stream).
    """
    function = ffi.libarchive.archive_read_open_filenames
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


@contextmanager
def _reader(root: Path, archive: Archive) -> Iterator[Any]:
    if len(archive.volumes) == 1:
        with libarchive.file_reader(str(root / archive.first)) as reader:
            yield reader
        return
    names = [os.fsencode(root / v) for v in archive.volumes]
    array = (ctypes.c_char_p * (len(names) + 1))(*names, None)
    with new_archive_read() as archive_p:
        if _open_filenames()(archive_p, array, CHUNK) != 0:
            raise libarchive.ArchiveError(f"cannot open the volumes of {archive.first}")
        yield ArchiveRead(archive_p)


def list_entries(root: Path, archive: Archive) -> list[Entry]:
    """Every entry, checked; InvalidInput says which entry is refused and why."""
    entries = []
    try:
        with _reader(root, archive) as reader:
            for item in reader:
                entries.append(_check(archive.first, _entry(item)))
    except libarchive.ArchiveError as exc:
        raise InvalidInput(f"archive {archive.first} cannot be read: {exc}") from None
    return entries


def _entry(item: Any) -> Entry:
    path = item.pathname or ""
    if item.isdir:
        return Entry(path, 0, "dir")
    if item.issym or item.islnk:
        return Entry(path, 0, "link", item.linkpath or item.linkname or "")
    if item.isreg:
        return Entry(path, max(item.size or 0, 0), "file")
    return Entry(path, 0, "other")


def _check(archive: str, entry: Entry) -> Entry:
    parts = PurePosixPath(entry.path.replace("\\", "/")).parts
    if entry.path.startswith(("/", "\\")) or ".." in parts or not parts:
        raise InvalidInput(
            f"archive {archive} holds an entry that leaves its folder: {entry.path!r}"
        )
    if entry.kind == "link" and entry.target is not None:
        target = PurePosixPath(entry.target.replace("\\", "/"))
        inside = PurePosixPath(*parts[:-1], *target.parts)
        depth = 0
        for part in inside.parts:
            depth += -1 if part == ".." else 0 if part == "." else 1
            if depth < 0:
                break
        if target.is_absolute() or depth < 0:
            raise InvalidInput(
                f"archive {archive} holds a link that points out of it: "
                f"{entry.path!r} -> {entry.target!r}"
            )
    return Entry("/".join(parts), entry.size, entry.kind, entry.target)


def check_limits(
    archive: str, entries: list[Entry], packed: int, max_bytes: int, max_ratio: float
) -> int:
    """Refuses an archive that would unpack to too much; returns its size unpacked."""
    unpacked = sum(e.size for e in entries if e.kind == "file")
    if unpacked > max_bytes:
        raise InvalidInput(
            f"archive {archive} would unpack to {unpacked} bytes, over the "
            f"limit of {max_bytes} (extract_max_bytes)"
        )
    if unpacked > max(packed, 1) * max_ratio:
        raise InvalidInput(
            f"archive {archive} would unpack to {unpacked / max(packed, 1):.0f} times "
            f"its size, over the limit of {max_ratio:g} (extract_max_ratio)"
        )
    return unpacked


def extract(
    root: Path, archive: Archive, targets: dict[str, Path], max_bytes: int
) -> int:
    """Writes the entries named in `targets` (entry path -> file); returns bytes.

    Each file is written in full and fsynced. An entry that grows past the size
    its header declared, or past `max_bytes` in all, stops the extraction.
    """
    written = 0
    try:
        with _reader(root, archive) as reader:
            for item in reader:
                entry = _check(archive.first, _entry(item))
                target = targets.get(entry.path)
                if target is None or entry.kind != "file":
                    continue
                written += _write_entry(item, entry, target, max_bytes - written)
    except libarchive.ArchiveError as exc:
        raise InvalidInput(f"archive {archive.first} cannot be read: {exc}") from None
    missing = set(targets) - {p for p, t in targets.items() if t.exists()}
    if missing:
        raise InvalidInput(f"archive {archive.first} lost entries: {sorted(missing)}")
    return written


def _write_entry(item: Any, entry: Entry, target: Path, budget: int) -> int:
    count = 0
    buffer = ctypes.create_string_buffer(CHUNK)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            # libarchive-c's get_blocks takes a warning's negative code for a
            # length (a zip's bad CRC comes as one) and yields garbage; the
            # entry's data is read here so that any code below 0 is damage.
            read = ffi.read_data(item._archive_p, buffer, CHUNK)
            if read == 0:
                break
            if read < 0:
                raise InvalidInput(
                    f"archive entry {entry.path!r} is damaged: "
                    f"{ffi._error_string(item._archive_p)}"
                )
            count += read
            if count > entry.size or count > budget:
                raise InvalidInput(
                    f"archive entry {entry.path!r} unpacks to more than it declared "
                    "or than the limits allow; refused"
                )
            view = memoryview(buffer)[:read]
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return count
