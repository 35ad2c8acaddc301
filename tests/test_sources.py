"""Properties of the add-path parser: what it accepts, it accepts with a real,
non-zero id; what it refuses, it refuses with InvalidInput, never a crash."""

from __future__ import annotations

import base64
import string

import libtorrent as lt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from revaer_actors.errors import InvalidInput
from revaer_actors.sources import (
    is_torrent_id,
    parse_add_request,
    parse_label,
    parse_magnet,
    parse_metainfo,
)

hex40 = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40).filter(
    lambda h: int(h, 16) != 0
)


@given(st.text(max_size=300))
def test_any_text_is_either_refused_or_gets_a_nonzero_id(text: str) -> None:
    try:
        parsed = parse_magnet(text)
    except InvalidInput:
        return
    assert is_torrent_id(parsed.info_hash)


@given(st.text(max_size=200))
def test_text_after_a_valid_topic_never_yields_a_zero_hash(suffix: str) -> None:
    try:
        parsed = parse_magnet("magnet:?xt=urn:btih:" + suffix)
    except InvalidInput:
        return
    assert is_torrent_id(parsed.info_hash)


@given(hex40)
def test_hex_and_base32_spellings_give_the_same_lowercase_id(digest: str) -> None:
    b32 = base64.b32encode(bytes.fromhex(digest)).decode()

    from_hex = parse_magnet(f"magnet:?xt=urn:btih:{digest.upper()}")
    from_b32 = parse_magnet(f"magnet:?xt=urn:btih:{b32}")

    assert from_hex.info_hash == from_b32.info_hash == digest


@given(hex40, st.sampled_from(list(string.whitespace) + ["\x00", "\x7f"]))
def test_trailing_whitespace_or_control_characters_are_refused(
    digest: str, junk: str
) -> None:
    with pytest.raises(InvalidInput, match="whitespace or control"):
        parse_magnet(f"magnet:?xt=urn:btih:{digest}{junk}")


def test_an_all_zero_hash_is_refused_in_every_spelling() -> None:
    for topic in ("0" * 40, "A" * 32, "1220" + "0" * 64):
        urn = "btmh" if topic.startswith("1220") else "btih"
        with pytest.raises(InvalidInput, match="malformed hash"):
            parse_magnet(f"magnet:?xt=urn:{urn}:{topic}")


@given(st.binary(max_size=512))
def test_random_bytes_as_metainfo_are_refused_cleanly(data: bytes) -> None:
    try:
        parsed = parse_metainfo(data)
    except InvalidInput as exc:
        assert exc.field == "/metainfo"
        return
    assert is_torrent_id(parsed.info_hash)


def test_metainfo_over_the_size_limit_is_refused_before_parsing() -> None:
    pieces = 0x100000
    entry = {
        b"info": {
            b"name": b"big",
            b"piece length": 16384,
            b"length": 16384 * pieces,
            b"pieces": b"\x01" * 20 * pieces,
        }
    }

    with pytest.raises(InvalidInput, match="larger than 16777216 bytes"):
        parse_metainfo(lt.bencode(entry))


@given(st.text(max_size=80))
def test_a_label_is_never_a_path(text: str) -> None:
    try:
        label = parse_label(text, "/category")
    except InvalidInput:
        return
    assert "/" not in label and "\\" not in label
    assert not label.startswith(".")
    assert label.isprintable()


def test_unknown_fields_and_bad_types_name_their_pointer() -> None:
    magnet = "magnet:?xt=urn:btih:" + "ab" * 20
    cases = [
        ({"magnet": magnet, "x": 1}, "/x"),
        ({"magnet": 5}, "/magnet"),
        ({"magnet": magnet, "tags": "a"}, "/tags"),
        ({"magnet": magnet, "tags": ["a", ""]}, "/tags/1"),
    ]

    for body, pointer in cases:
        with pytest.raises(InvalidInput) as raised:
            parse_add_request(body)
        assert raised.value.field == pointer
