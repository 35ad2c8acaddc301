"""FsOps policy: revaer.toml is validated at load with the key named, and
templates render to paths that stay inside the library."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from revaer_actors.config import load_config
from revaer_actors.errors import ConfigError, InvalidInput
from revaer_actors.policy import (
    FsOpsSettings,
    Policy,
    TemplateValues,
    confine,
    parse_changes,
    render,
)


def _load(tmp_path: Path, toml: str) -> FsOpsSettings:
    (tmp_path / "revaer.toml").write_text(toml)
    return load_config(tmp_path).fsops


def test_the_policy_is_read_from_fsops_and_its_categories(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        """
[fsops]
transfer = "copy"
chmod_file = "0640"
umask = 0o022
workers = 3

[fsops.categories.movies]
template = "{category}/{added:%Y}/{name}"
transfer = "hardlink_or_copy"
flatten = true
cleanup_drop = ["*.nfo"]
""",
    )

    movies = settings.policy_for("movies", {})
    tv = settings.policy_for("tv", {"on_conflict": "rename"})

    assert settings.workers == 3
    assert movies.transfer == "hardlink_or_copy"
    assert movies.flatten is True
    assert movies.cleanup_drop == ("*.nfo",)
    assert movies.chmod_file == 0o640
    assert movies.umask == 0o022
    assert tv == Policy(
        transfer="copy", chmod_file=0o640, umask=0o022, on_conflict="rename"
    )


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[fsops]\ntransfr = "copy"\n', "unknown key fsops.transfr"),
        ('[fsops]\ntransfer = "teleport"\n', "fsops.transfer must be one of"),
        ("[fsops]\nextract = 1\n", "fsops.extract must be true or false"),
        ('[fsops]\ntemplate = "{nope}/{name}"\n', "fsops.template: unknown field"),
        ('[fsops]\ntemplate = "/abs/{name}"\n', "fsops.template must be relative"),
        (
            '[fsops]\ntemplate = "../{name}"\n',
            "fsops.template may not hold '.' or '..'",
        ),
        ('[fsops]\ntemplate = "{name}/ .. /x"\n', "fsops.template may not hold"),
        ('[fsops]\nchmod_file = "999"\n', "fsops.chmod_file must be an octal mode"),
        ('[fsops]\nowner = "no-such-user-here"\n', "fsops.owner: no owner"),
        ('[fsops]\non_conflict = "overwrite"\n', "fsops.on_conflict must be one of"),
        ("[fsops]\nworkers = 0\n", "fsops.workers must be between 1 and 16"),
        ("[fsops]\ncleanup_keep = [1]\n", "fsops.cleanup_keep holds a glob"),
        (
            '[fsops.categories.tv]\ntransfer = "teleport"\n',
            "fsops.categories.tv.transfer must be one of",
        ),
        ("[fsops]\nflatten = true\n", "fsops.flatten needs transfer copy"),
        (
            '[fsops]\ntransfer = "copy"\n[fsops.categories.tv]\n'
            'transfer = "move"\nskip_fluff = true\n',
            "fsops.categories.tv.skip_fluff needs transfer copy",
        ),
    ],
)
def test_an_invalid_policy_is_refused_at_load_naming_the_key(
    tmp_path: Path, toml: str, named: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, toml)

    assert named in str(refused.value)


def test_a_torrents_own_keys_are_checked_with_json_pointers() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_changes({"transfer": "copy", "flatten": "yes"}, "/fsops")

    assert refused.value.field == "/fsops/flatten"


def _values(**changes: object) -> TemplateValues:
    base = {
        "name": "Show.S01",
        "category": "tv",
        "info_hash": "ab" * 20,
        "tags": ("hd", "new"),
        "added": datetime(2024, 5, 6, tzinfo=UTC),
    }
    return TemplateValues(**{**base, **changes})  # type: ignore[arg-type]


def test_every_template_field_renders() -> None:
    segments = render("{category}/{added:%Y}/{tags}/{info_hash}-{name}{{x}}", _values())

    assert segments == ("tv", "2024", "hd,new", "ab" * 20 + "-Show.S01{x}")


def test_an_empty_category_or_tag_list_drops_its_folder() -> None:
    assert render("{category}/{tags}/{name}", _values(category=None, tags=())) == (
        "Show.S01",
    )


_texts = st.text(min_size=0, max_size=30)


@given(name=_texts, category=st.none() | _texts, tags=st.lists(_texts, max_size=3))
def test_a_value_never_adds_a_folder_nor_a_separator(
    name: str, category: str | None, tags: list[str]
) -> None:
    segments = render(
        "{category}/{tags}/{name}",
        _values(name=name, category=category, tags=tuple(tags)),
    )

    assert len(segments) <= 3
    for segment in segments:
        assert segment and "/" not in segment and "\\" not in segment
        assert not any(ord(ch) < 32 for ch in segment)


# Path confinement, both ways: whatever is hostile is refused or lands strictly
# inside the library, and ordinary names are accepted where the template says.

_HOSTILE_PIECES = [
    "..",
    ".",
    "",
    " ",
    "/",
    "/etc",
    "../..",
    "a/../../b",
    "\x00",
    "a\x00b",
    "\\",
    "..\\..",
    "C:\\Windows",
    "\u202e",
    "é",
    "日本語",
    "x" * 256,
    "é" * 128,
    "~",
]
_hostile = st.one_of(st.sampled_from(_HOSTILE_PIECES), st.text(max_size=40))
_hostile_segment = st.lists(_hostile, min_size=1, max_size=3).map("".join)


def _plainly_usable(segments: tuple[str, ...]) -> bool:
    """What a confine must accept: names a Linux folder can hold, none of
    them a step up or a separator."""
    return bool(segments) and all(
        s not in ("", ".", "..")
        and "/" not in s
        and "\x00" not in s
        and len(s.encode()) <= 255
        for s in segments
    )


def _library(factory: pytest.TempPathFactory) -> Path:
    library = factory.getbasetemp() / "library"
    (library / "tv").mkdir(parents=True, exist_ok=True)
    return library


@example(segments=["..", "x"])
@example(segments=["tv", "..", ".."])
@example(segments=["/etc", "passwd"])
@example(segments=["a\x00b"])
@example(segments=["Show S01.E01"])
@given(segments=st.lists(_hostile_segment, min_size=0, max_size=4))
def test_confine_refuses_exactly_what_could_leave_or_is_not_a_name(
    tmp_path_factory: pytest.TempPathFactory, segments: list[str]
) -> None:
    library = _library(tmp_path_factory)
    root = library.resolve()
    usable = _plainly_usable(tuple(segments))

    try:
        path = confine(library, tuple(segments))
    except InvalidInput:
        assert not usable, f"refused a usable destination {segments!r}"
        return

    landing = path.resolve()
    assert landing.is_relative_to(root) and landing != root, segments
    if usable:
        assert path.relative_to(root).parts == tuple(segments)


_hostile_templates = st.lists(
    st.one_of(
        st.sampled_from(
            ["{name}", "{category}", "{tags}", "{added:%Y}", "{info_hash}"]
        ),
        st.sampled_from(_HOSTILE_PIECES),
    ),
    min_size=1,
    max_size=4,
).map("/".join)


@example(template="../{name}", name="Show", category=None, tags=[])
@example(template="{category}/{name}", name="..", category="..", tags=[])
@example(template="/{name}", name="Show", category=None, tags=[])
@given(
    template=_hostile_templates,
    name=_hostile_segment,
    category=st.none() | _hostile_segment,
    tags=st.lists(_hostile_segment, max_size=3),
)
def test_a_hostile_template_or_torrent_lands_inside_the_library_or_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
    template: str,
    name: str,
    category: str | None,
    tags: list[str],
) -> None:
    library = _library(tmp_path_factory)
    root = library.resolve()
    values = _values(name=name, category=category, tags=tuple(tags))

    try:
        segments = render(template, values)
    except InvalidInput:
        # Only the template itself is refused at render: a value never is.
        assert (
            template.startswith("/")
            or "\x00" in template
            or not template.strip()
            or len(template) > 512
            or any(part.strip() in (".", "..") for part in template.split("/"))
        ), template
        return
    assert all("/" not in s and "\x00" not in s for s in segments)
    try:
        path = confine(library, segments)
    except InvalidInput:
        assert not _plainly_usable(segments), f"refused {segments!r}"
        return

    assert path.resolve().is_relative_to(root) and path.resolve() != root
    assert path.relative_to(root).parts == segments


_safe_chars = st.characters(categories=["L", "Nd"]) | st.sampled_from([" ", "."])
_safe_name = st.text(_safe_chars, min_size=1, max_size=60).filter(
    lambda s: any(ch.isalnum() for ch in s)
)
_safe_templates = st.lists(
    st.sampled_from(["{category}", "{tags}", "{added:%Y}", "Library", "Media 2"]),
    max_size=3,
).map(lambda parts: "/".join([*parts, "{name}"]))


def _expected(template: str, values: TemplateValues) -> tuple[str, ...]:
    """The template's folders worked out by hand: each field's value, trimmed;
    an empty category or tag list leaves its folder out."""
    fields = {
        "{name}": values.name,
        "{category}": values.category or "",
        "{tags}": ",".join(values.tags),
        "{added:%Y}": str(values.added.year),
    }
    parts = (fields.get(part, part).strip() for part in template.split("/"))
    return tuple(part for part in parts if part)


@example(template="{category}/{name}", name="Show.S01 1080p", category="tv", tags=[])
@given(
    template=_safe_templates,
    name=_safe_name,
    category=st.none() | _safe_name,
    tags=st.lists(_safe_name, max_size=3),
)
def test_ordinary_names_are_accepted_at_the_path_the_template_gives(
    tmp_path_factory: pytest.TempPathFactory,
    template: str,
    name: str,
    category: str | None,
    tags: list[str],
) -> None:
    library = _library(tmp_path_factory)
    values = _values(name=name, category=category, tags=tuple(tags))
    expected = _expected(template, values)
    assume(all(len(part.encode()) <= 255 for part in expected))

    path = confine(library, render(template, values))

    assert path == library.resolve().joinpath(*expected)
    assert path.resolve().is_relative_to(library.resolve())


def test_a_library_folder_that_links_outside_is_refused(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "tv").symlink_to(tmp_path)

    with pytest.raises(InvalidInput, match="outside the library"):
        confine(library, ("tv", "Show.S01"))
