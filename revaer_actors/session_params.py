"""What the session actor gives libtorrent to add a torrent: the add
description, the parameters built from resume data, metainfo or a magnet, and
first-and-last-piece priorities.

Plain functions on libtorrent objects; the actor calls them on its own thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import libtorrent as lt

from revaer_actors import layout, sources
from revaer_actors.domain import TorrentRecord
from revaer_actors.errors import EngineError, InvalidInput

log = logging.getLogger(__name__)

# The start of the note a torrent keeps when its resume data could not be used.
RESUME_UNREADABLE = "resume data unreadable"


@dataclass(frozen=True)
class EngineAdd:
    """What the engine needs to add or restore one torrent."""

    info_hash: str
    save_path: str
    paused: bool = False
    sequential: bool = False
    first_last_piece: bool = False
    download_limit: int | None = None
    upload_limit: int | None = None
    force_start: bool = False
    file_priorities: tuple[int, ...] = ()
    selective: bool = False
    # The content layout's paths by file index, given again at every load.
    renamed_files: tuple[tuple[int, str], ...] = ()
    magnet: str | None = None
    metainfo: bytes | None = field(default=None, repr=False)
    resume_data: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_record(cls, record: TorrentRecord) -> EngineAdd:
        return cls(
            info_hash=record.info_hash,
            save_path=record.save_path,
            paused=record.paused,
            sequential=record.sequential,
            first_last_piece=record.first_last_piece,
            download_limit=record.download_limit,
            upload_limit=record.upload_limit,
            force_start=record.force_start,
            file_priorities=record.engine_priorities(),
            selective=not record.selection.is_default,
            renamed_files=layout.renamed_files(record),
            magnet=record.magnet,
            metainfo=record.metainfo,
            resume_data=record.resume_data,
        )


TOP_PRIORITY = 7


def edge_pieces(handle: Any) -> list[int]:
    """The first and last piece of every wanted, non-empty file."""
    info = handle.torrent_file()
    if info is None:
        return []
    layout = info.layout()
    wanted = handle.get_file_priorities()
    pieces: set[int] = set()
    for index in range(layout.num_files()):
        size = layout.file_size(index)
        padding = layout.file_flags(index) & layout.flag_pad_file
        if size <= 0 or padding or wanted[index] == 0:
            continue
        pieces.add(int(info.map_file(index, 0, 0).piece))
        pieces.add(int(info.map_file(index, size - 1, 0).piece))
    return sorted(pieces)


def first_last_piece_priority(handle: Any, enabled: bool) -> None:
    """qBittorrent's firstLastPiecePrio: the edge pieces at top priority, so a
    media file can be previewed early; off, the pieces follow their files."""
    pieces = edge_pieces(handle)
    if not pieces:
        return
    if enabled:
        handle.prioritize_pieces([(piece, TOP_PRIORITY) for piece in pieces])
    elif any(handle.piece_priority(piece) == TOP_PRIORITY for piece in pieces):
        handle.prioritize_files(handle.get_file_priorities())


def engine_params(spec: EngineAdd) -> tuple[Any, str | None]:
    note = None
    if spec.resume_data is not None:
        try:
            params = lt.read_resume_data(spec.resume_data)
            found = sources.torrent_id(params.info_hashes)
            if found != spec.info_hash:
                # Another torrent's blob in this row: loading it would
                # seed someone else's data under this torrent's id.
                raise RuntimeError(f"it is for another torrent ({found})")
            return params, None
        except RuntimeError as exc:
            note = f"{RESUME_UNREADABLE} ({exc}); re-added and rechecked"
            log.warning(
                "resume data rejected info_hash=%s cause=%s", spec.info_hash, exc
            )
    # A stored torrent that no longer parses (a limit tightened since, a
    # damaged row) is a refusal like any other: the caller marks it failed
    # with this message instead of the daemon failing to boot.
    if spec.metainfo is not None:
        try:
            return sources.load_metainfo(spec.metainfo), note
        except InvalidInput as exc:
            reason = exc.detail.removeprefix("libtorrent refused the torrent: ")
            raise EngineError(
                f"stored metainfo does not load: {reason}",
                info_hash=spec.info_hash,
            ) from exc
    if spec.magnet is not None:
        try:
            return lt.parse_magnet_uri(spec.magnet), note
        except RuntimeError as exc:
            raise EngineError(
                f"magnet link does not parse: {exc}", info_hash=spec.info_hash
            ) from exc
    raise EngineError(
        "torrent has neither metainfo nor magnet", info_hash=spec.info_hash
    )
