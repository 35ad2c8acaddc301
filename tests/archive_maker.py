"""Makes real archives for the extraction tests.

zip and tar come from the standard library and 7z from libarchive's writer.
No RAR writer is packaged for this machine, so `make_rar` writes RAR 4.x
archives itself in "store" mode (no compression), single or multi-volume, from
the published format notes; libarchive reads them as it reads WinRAR's.
"""

from __future__ import annotations

import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import libarchive

_MARK = b"Rar!\x1a\x07\x00"
_MAIN, _FILE, _END = 0x73, 0x74, 0x7B
_VOLUME, _FIRST_VOLUME, _NEW_NAMING = 0x0001, 0x0100, 0x0010
_SPLIT_BEFORE, _SPLIT_AFTER, _LONG_BLOCK = 0x01, 0x02, 0x8000


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    import io

    with tarfile.open(path, mode) as archive:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def make_tar_with_link(path: Path, name: str, target: str) -> Path:
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        archive.addfile(info)
    return path


def make_libarchive(
    path: Path, files: dict[str, bytes], format_name: str, filter_name: str | None
) -> Path:
    """Any format and filter libarchive writes, such as ("ustar", "zstd")."""
    with libarchive.file_writer(str(path), format_name, filter_name) as archive:
        for name, data in files.items():
            archive.add_file_from_memory(name, len(data), data)
    return path


def make_7z(path: Path, files: dict[str, bytes]) -> Path:
    with libarchive.file_writer(str(path), "7zip") as archive:
        for name, data in files.items():
            archive.add_file_from_memory(name, len(data), data)
    return path


def _header(kind: int, flags: int, body: bytes) -> bytes:
    size = 7 + len(body)
    rest = struct.pack("<BHH", kind, flags, size) + body
    return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest


def _file_header(
    name: str, data: bytes, total: int, whole_crc: int, flags: int
) -> bytes:
    encoded = name.encode()
    crc = whole_crc if not flags & _SPLIT_AFTER else zlib.crc32(data)
    body = struct.pack(
        "<IIBIIBBHI",
        len(data),
        total,
        3,  # host OS: Unix
        crc,
        0x21,  # a DOS date: 1980-01-01
        29,  # version needed to unpack
        0x30,  # method: store
        len(encoded),
        0o100644,
    )
    return _header(_FILE, flags | _LONG_BLOCK, body + encoded)


def make_rar(
    folder: Path, stem: str, files: dict[str, bytes], volumes: int = 1
) -> list[Path]:
    """`stem.rar`, or `stem.part1.rar` ... `stem.partN.rar`: the files' bytes
    laid end to end and cut into N volumes of about the same size, a file cut
    at a volume's end going on at the start of the next, as WinRAR does."""
    total = sum(len(data) for data in files.values())
    capacity = -(-total // volumes)
    parts: list[list[tuple[str, bytes, int]]] = [[] for _ in range(volumes)]
    volume, room = 0, capacity
    for name, data in files.items():
        offset = 0
        while True:
            start = offset
            piece = data[start : start + room]
            offset += len(piece)
            flags = _SPLIT_BEFORE if start > 0 else 0
            if offset < len(data):
                flags |= _SPLIT_AFTER
            parts[volume].append((name, piece, flags))
            room -= len(piece)
            if offset >= len(data):
                break
            volume, room = volume + 1, capacity

    paths = []
    for index in range(volumes):
        main_flags = 0
        if volumes > 1:
            main_flags = _VOLUME | _NEW_NAMING | (_FIRST_VOLUME if index == 0 else 0)
        out = bytearray(_MARK + _header(_MAIN, main_flags, b"\x00" * 6))
        for name, piece, flags in parts[index]:
            data = files[name]
            out += _file_header(name, piece, len(data), zlib.crc32(data), flags)
            out += piece
        end_flags = 0x0001 if index < volumes - 1 else 0
        out += _header(_END, end_flags, b"")
        name = f"{stem}.part{index + 1}.rar" if volumes > 1 else f"{stem}.rar"
        path = folder / name
        path.write_bytes(bytes(out))
        paths.append(path)
    return paths
