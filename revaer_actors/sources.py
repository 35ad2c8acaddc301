"""Checks what a user asks us to add before libtorrent sees it.

Adding and restoring go through the same functions with the same limits, so a
torrent that was accepted once can always be loaded again at boot.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
import warnings
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

import libtorrent as lt

from revaer_actors.domain import ContentLayout, FileEntry
from revaer_actors.errors import InvalidInput
from revaer_actors.layout import apply_layout, parse_layout
from revaer_actors.policy import parse_changes
from revaer_actors.selection import FileSelection, parse_selection

MAX_MAGNET_CHARS = 8 * 1024
MAX_METAINFO_BYTES = 16 * 1024 * 1024

# libtorrent's own defaults, written out so that they cannot drift between the
# add path and the boot path. libtorrent ignores max_buffer_size for a buffer
# already in memory, so MAX_METAINFO_BYTES is checked by hand before parsing.
LOAD_LIMITS = {
    "max_buffer_size": MAX_METAINFO_BYTES,
    "max_pieces": 0x200000,
    "max_decode_depth": 100,
    "max_decode_tokens": 3_000_000,
}

# files() warns on every call; see files_of for why it is the right call.
warnings.filterwarnings(
    "ignore",
    message=r"files\(\) is deprecated",
    category=DeprecationWarning,
    module=__name__,
)

_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_BASE32_32 = re.compile(r"[A-Za-z2-7]{32}")
_BTMH = re.compile(r"1220[0-9a-fA-F]{64}")
_ID = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class ParsedTorrent:
    info_hash: str
    name: str
    files: tuple[FileEntry, ...] = ()
    total_size: int = 0
    trackers: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddRequest:
    """A validated add command. Exactly one of magnet and metainfo is set."""

    parsed: ParsedTorrent
    magnet: str | None = None
    metainfo: bytes | None = field(default=None, repr=False)
    category: str | None = None
    tags: tuple[str, ...] = ()
    paused: bool = False
    save_path: str | None = None
    sequential: bool = False
    first_last_piece: bool = False
    download_limit: int | None = None
    upload_limit: int | None = None
    ratio_limit: float | None = None
    seeding_time_limit: int | None = None
    selection: FileSelection = FileSelection()
    fsops: tuple[tuple[str, Any], ...] = ()
    # The layout that took effect; parsed.files are already placed by it.
    content_layout: ContentLayout = ContentLayout.ORIGINAL


def torrent_id(hashes: Any) -> str:
    """Our id for a torrent: the v1 info hash, or the truncated v2 hash."""
    if hashes.has_v1():
        return str(hashes.v1)

    return str(hashes.v2)[:40]


def is_torrent_id(value: str) -> bool:
    return bool(_ID.fullmatch(value)) and value != "0" * 40


def parse_magnet(uri: Any) -> ParsedTorrent:
    """Validates a magnet link strictly, then lets libtorrent parse it."""
    if not isinstance(uri, str):
        raise InvalidInput("magnet must be a string", field="/magnet")
    if len(uri) > MAX_MAGNET_CHARS:
        raise InvalidInput(
            f"magnet is longer than {MAX_MAGNET_CHARS} characters", field="/magnet"
        )
    if any(ch in string.whitespace or ord(ch) < 32 or ord(ch) == 127 for ch in uri):
        raise InvalidInput(
            "magnet contains whitespace or control characters", field="/magnet"
        )
    if not uri.startswith("magnet:?"):
        raise InvalidInput("magnet must start with 'magnet:?'", field="/magnet")
    if not uri.isascii():
        raise InvalidInput(
            "magnet must be ASCII; percent-encode other characters", field="/magnet"
        )

    _check_exact_topics(uri)
    try:
        params = lt.parse_magnet_uri(uri)
    except RuntimeError as exc:
        raise InvalidInput(
            f"libtorrent refused the magnet: {exc}", field="/magnet"
        ) from None

    info_hash = torrent_id(params.info_hashes)
    if not is_torrent_id(info_hash):
        raise InvalidInput("magnet has an all-zero info hash", field="/magnet")
    return ParsedTorrent(
        info_hash=info_hash,
        name=_display_name(params) or info_hash,
        trackers=tuple(params.trackers),
    )


def _display_name(params: Any) -> str:
    """The magnet's dn, or "" when it is not valid UTF-8.

    Control characters (NUL among them, which PostgreSQL text refuses) become
    "_", as libtorrent does for names inside a .torrent.
    """
    try:
        name: str = params.name
    except UnicodeDecodeError:
        return ""
    return "".join("_" if ord(ch) < 32 or ord(ch) == 127 else ch for ch in name)


def _check_exact_topics(uri: str) -> None:
    """Requires at least one well-formed, non-zero `xt` before libtorrent sees it.

    libtorrent skips an `xt` it cannot read, and a magnet with none left would
    be added with an all-zero hash, so malformed topics are refused here.
    """
    try:
        pairs = parse_qsl(uri[len("magnet:?") :], strict_parsing=True)
    except ValueError as exc:
        raise InvalidInput(
            f"magnet query is malformed: {exc}", field="/magnet"
        ) from None

    topics = [value for key, value in pairs if key == "xt"]
    if not topics:
        raise InvalidInput("magnet has no 'xt' (exact topic)", field="/magnet")
    for topic in topics:
        if not _valid_topic(topic):
            raise InvalidInput(
                f"magnet has a malformed hash: {topic!r}", field="/magnet"
            )
    # libtorrent keeps only the last of several v1 hashes; a magnet naming two
    # different torrents is ambiguous, so it is refused.
    v1 = {_v1_digest(t) for t in topics if t.startswith("urn:btih:")}
    if len(v1) > 1:
        raise InvalidInput("magnet names more than one v1 info hash", field="/magnet")


def _v1_digest(topic: str) -> bytes:
    digest = topic[len("urn:btih:") :]
    if len(digest) == 40:
        return bytes.fromhex(digest)
    return base64.b32decode(digest.upper())


def _valid_topic(topic: str) -> bool:
    if topic.startswith("urn:btih:"):
        digest = topic[len("urn:btih:") :]
        if _HEX40.fullmatch(digest):
            return int(digest, 16) != 0
        if _BASE32_32.fullmatch(digest):
            return any(base64.b32decode(digest.upper()))
        return False
    if topic.startswith("urn:btmh:"):
        digest = topic[len("urn:btmh:") :]
        return bool(_BTMH.fullmatch(digest)) and int(digest[4:], 16) != 0
    return False


def load_metainfo(data: bytes) -> Any:
    """Parses .torrent bytes into libtorrent add_torrent_params, with our limits."""
    if len(data) > MAX_METAINFO_BYTES:
        raise InvalidInput(
            f"metainfo is larger than {MAX_METAINFO_BYTES} bytes", field="/metainfo"
        )
    try:
        # The stubs call the second argument add_torrent_params; the binding
        # takes load_torrent_limits as a dict (checked: max_pieces is enforced).
        return lt.load_torrent_buffer(data, dict(LOAD_LIMITS))  # type: ignore[call-overload]
    except RuntimeError as exc:
        raise InvalidInput(
            f"libtorrent refused the torrent: {exc}", field="/metainfo"
        ) from None


def parse_metainfo(data: bytes) -> ParsedTorrent:
    params = load_metainfo(data)
    info = params.ti
    files = files_of(info)
    info_hash = torrent_id(info.info_hashes())
    if not is_torrent_id(info_hash):
        raise InvalidInput("torrent has an all-zero info hash", field="/metainfo")
    return ParsedTorrent(
        info_hash=info_hash,
        name=info.name(),
        files=files,
        total_size=sum(f.size for f in files),
        trackers=tuple(params.trackers),
    )


def files_of(info: Any) -> tuple[FileEntry, ...]:
    """The real files of a torrent_info, without v2 padding entries.

    The paths are the ones libtorrent writes on disk. In libtorrent 2.1
    `layout()` gives the metainfo's own paths, where two files may share one;
    `files()` (deprecated, but the only call that has them) gives the paths
    after libtorrent renamed duplicates (`bar.txt`, `bar.1.txt`), which is
    where the data lies. Sizes, flags and indexes are the same in both.
    """
    storage = info.files()
    return tuple(
        FileEntry(path=storage.file_path(i), size=storage.file_size(i), index=i)
        for i in range(storage.num_files())
        if not storage.file_flags(i) & lt.file_storage.flag_pad_file
    )


def parse_label(value: Any, pointer: str) -> str:
    """A category or tag: short, printable, and never a path."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            f"{_field_name(pointer)} must be a non-empty string", field=pointer
        )
    if len(value) > 64 or len(value.encode("utf-8")) > 255:
        raise InvalidInput(
            f"{_field_name(pointer)} must be at most 64 characters and 255 bytes",
            field=pointer,
        )
    if value in (".", "..") or value.startswith(".") or value != value.strip():
        raise InvalidInput(
            f"{_field_name(pointer)} must not start with a dot, "
            "nor start or end with spaces",
            field=pointer,
        )
    # isprintable() also refuses bidi overrides, line separators and
    # unassigned code points, which would make a folder name lie about itself.
    if "/" in value or "\\" in value or not value.isprintable():
        raise InvalidInput(
            f"{_field_name(pointer)} must not contain slashes or unprintable "
            "characters",
            field=pointer,
        )
    return value


def parse_save_path(value: Any, pointer: str) -> str:
    """A folder path as text; where it may lie is the orchestrator's check.

    Control characters are refused: NUL cannot be in a path at all (the
    system call refuses it), and a newline or escape in a folder name only
    hides what it is, as with labels.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"{_field_name(pointer)} must be a folder path", field=pointer
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidInput(
            f"{_field_name(pointer)} must not contain NUL or other control characters",
            field=pointer,
        )
    return value


def _field_name(pointer: str) -> str:
    """'/tags/1' -> 'tags[1]', '/category' -> 'category'."""
    head, *rest = pointer.strip("/").split("/")
    return head + "".join(f"[{part}]" for part in rest)


def parse_add_request(body: Any) -> AddRequest:
    """Turns the JSON body of POST /v1/torrents into an AddRequest."""
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object", field="")
    unknown = sorted(set(body) - _ADD_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=f"/{unknown[0]}")
    if sum(key in body for key in ("magnet", "metainfo", "url")) != 1:
        raise InvalidInput(
            "give exactly one of 'magnet', 'metainfo' and 'url'", field=""
        )

    if "magnet" in body:
        return add_request(magnet=body["magnet"], options=body)
    return add_request(metainfo=_decode_base64(body["metainfo"]), options=body)


_ADD_FIELDS = {
    "magnet",
    "metainfo",
    "url",
    "category",
    "tags",
    "paused",
    "save_path",
    "sequential",
    "download_limit",
    "upload_limit",
    "ratio_limit",
    "seeding_time_limit",
    "include",
    "exclude",
    "skip_fluff",
    "fsops",
}


def add_request(
    *,
    options: dict[str, Any],
    magnet: str | None = None,
    metainfo: bytes | None = None,
) -> AddRequest:
    """An AddRequest from a source and JSON-typed options (the add fields)."""
    parsed = (
        parse_magnet(magnet) if magnet is not None else parse_metainfo(metainfo or b"")
    )
    save_path = options.get("save_path")
    if save_path is not None:
        save_path = parse_save_path(save_path, "/save_path")
    # TODO(magnet content layout): a magnet's files are unknown until its
    # metadata arrives, so its layout stays Original; honouring it means
    # rename_file on the handle in the metadata handler, and storing the asked
    # layout until then.
    files, layout = apply_layout(
        parsed.files, parse_layout(options.get("content_layout"))
    )

    return AddRequest(
        parsed=replace(parsed, files=files),
        content_layout=layout,
        magnet=magnet,
        metainfo=metainfo,
        category=_optional_label(options.get("category"), "/category"),
        tags=parse_tags(options.get("tags", [])),
        paused=_bool(options.get("paused", False), "/paused"),
        save_path=save_path,
        sequential=_bool(options.get("sequential", False), "/sequential"),
        first_last_piece=_bool(
            options.get("first_last_piece", False), "/first_last_piece"
        ),
        download_limit=parse_rate_limit(
            options.get("download_limit"), "/download_limit"
        ),
        upload_limit=parse_rate_limit(options.get("upload_limit"), "/upload_limit"),
        ratio_limit=parse_ratio_limit(options.get("ratio_limit"), "/ratio_limit"),
        seeding_time_limit=parse_minutes(
            options.get("seeding_time_limit"), "/seeding_time_limit"
        ),
        selection=parse_selection(
            {
                key: options[key]
                for key in ("include", "exclude", "skip_fluff")
                if key in options
            }
        ),
        fsops=tuple(sorted(parse_changes(options.get("fsops", {}), "/fsops").items())),
    )


MAX_RATE = 2**40  # bytes per second; far above any real link, far below bigint
MAX_RATIO = 10_000.0
MAX_MINUTES = 10 * 365 * 24 * 60


def parse_rate_limit(value: Any, pointer: str) -> int | None:
    """Bytes per second; None or 0 means unlimited."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"{_field_name(pointer)} must be a whole number of bytes per second",
            field=pointer,
        )
    if not 0 < value <= MAX_RATE:
        raise InvalidInput(
            f"{_field_name(pointer)} must be between 0 and {MAX_RATE}", field=pointer
        )
    return value


def parse_ratio_limit(value: Any, pointer: str) -> float | None:
    """None inherits the category's or global goal; -1 means no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{_field_name(pointer)} must be a number", field=pointer)
    if value != -1 and not 0 <= value <= MAX_RATIO:
        raise InvalidInput(
            f"{_field_name(pointer)} must be -1 (no limit) or between 0 and "
            f"{MAX_RATIO:g}",
            field=pointer,
        )
    return float(value)


def parse_minutes(value: Any, pointer: str) -> int | None:
    """None inherits the category's or global goal; -1 means no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"{_field_name(pointer)} must be a whole number of minutes", field=pointer
        )
    if value != -1 and not 0 <= value <= MAX_MINUTES:
        raise InvalidInput(
            f"{_field_name(pointer)} must be -1 (no limit) or between 0 and "
            f"{MAX_MINUTES}",
            field=pointer,
        )
    return value


def _decode_base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput("metainfo must be a base64 string", field="/metainfo")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("metainfo is not valid base64", field="/metainfo") from None


def _optional_label(value: Any, pointer: str) -> str | None:
    return None if value is None else parse_label(value, pointer)


def parse_tags(value: Any) -> tuple[str, ...]:
    """A list of labels, de-duplicated in order."""
    if not isinstance(value, list) or len(value) > 32:
        raise InvalidInput("tags must be a list of at most 32 strings", field="/tags")
    labels = [parse_label(tag, f"/tags/{i}") for i, tag in enumerate(value)]
    for i, label in enumerate(labels):
        # qBittorrent clients send and read tags as one comma-separated list,
        # so "a,b" would come back to them as two tags.
        if "," in label:
            raise InvalidInput(
                f"tags[{i}] must not contain a comma", field=f"/tags/{i}"
            )
    return tuple(dict.fromkeys(labels))


def _bool(value: Any, pointer: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(
            f"{_field_name(pointer)} must be true or false", field=pointer
        )
    return value
