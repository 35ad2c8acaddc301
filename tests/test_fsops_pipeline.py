"""The FsOps stages on real files: extraction of each archive kind, refusals,
flatten, skip_fluff, cleanup, permissions, conflicts and reruns."""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from revaer_actors import pipeline, pipeline_finish, pipeline_place
from revaer_actors.domain import FileEntry, TorrentRecord, TorrentState
from revaer_actors.errors import InvalidInput
from revaer_actors.pipeline import Plan, PlanInput, StageFailed
from revaer_actors.policy import FsOpsSettings, Policy
from revaer_actors.sources import files_of, load_metainfo
from tests import archive_maker
from tests.shared import LIBTORRENT_SUITE

SUITE = LIBTORRENT_SUITE
HASH = "cd" * 20
MOVIE = os.urandom(300_000)


def _torrent(
    tmp_path: Path, files: dict[str, bytes], name: str = "Pack"
) -> TorrentRecord:
    save_path = tmp_path / "downloads" / HASH
    for rel, data in files.items():
        path = save_path / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return _record(save_path, name, {rel: len(data) for rel, data in files.items()})


def _record(save_path: Path, name: str, sizes: dict[str, int]) -> TorrentRecord:
    return TorrentRecord(
        info_hash=HASH,
        name=name,
        state=TorrentState.SEEDING,
        save_path=str(save_path),
        added_at=datetime(2024, 1, 2, tzinfo=UTC),
        category="movies",
        files=tuple(
            FileEntry(f"{name}/{rel}", size, i)
            for i, (rel, size) in enumerate(sizes.items())
        ),
    )


def _file(
    tmp_path: Path,
    record: TorrentRecord,
    settings: FsOpsSettings | None = None,
    **policy: object,
) -> Plan:
    """Runs every stage but finalise's database write, as the actor would."""
    chosen = Policy(**{"transfer": "copy", **policy})  # type: ignore[arg-type]
    settings = settings or FsOpsSettings()
    plan = pipeline.plan(PlanInput(record, chosen, settings, tmp_path / "library", 7))
    if chosen.extract:
        pipeline.extract(plan, 7, settings)
    pipeline.transfer(plan, 7, chosen.transfer)
    pipeline.permissions(plan, chosen)
    pipeline.cleanup(plan, 7, chosen)
    pipeline.write_meta(plan, record, 7, chosen.transfer)
    return plan


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


ENTRIES = {"Movie.mkv": MOVIE, "subs/en.srt": b"1\n00:00 --> 00:01\nhello\n"}


def _archive_kinds(folder: Path) -> dict[str, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "zip": [archive_maker.make_zip(folder / "a.zip", ENTRIES)],
        "rar": archive_maker.make_rar(folder, "a", ENTRIES),
        "rar-3-volumes": archive_maker.make_rar(folder, "b", ENTRIES, volumes=3),
        "7z": [archive_maker.make_7z(folder / "a.7z", ENTRIES)],
        "tar.gz": [archive_maker.make_tar(folder / "a.tar.gz", ENTRIES, "w:gz")],
        "tar.bz2": [archive_maker.make_tar(folder / "a.tar.bz2", ENTRIES, "w:bz2")],
        "tar.xz": [archive_maker.make_tar(folder / "a.tar.xz", ENTRIES, "w:xz")],
        "tar": [archive_maker.make_tar(folder / "a.tar", ENTRIES, "w")],
        "tgz": [archive_maker.make_tar(folder / "a.tgz", ENTRIES, "w:gz")],
        "tar.zst": [
            archive_maker.make_libarchive(
                folder / "a.tar.zst", ENTRIES, "ustar", "zstd"
            )
        ],
    }


@pytest.mark.parametrize(
    "kind",
    [
        "zip",
        "rar",
        "rar-3-volumes",
        "7z",
        "tar.gz",
        "tar.bz2",
        "tar.xz",
        "tar",
        "tgz",
        "tar.zst",
    ],
)
def test_each_archive_kind_is_extracted_into_the_library(
    tmp_path: Path, kind: str
) -> None:
    volumes = _archive_kinds(tmp_path / "made")[kind]
    record = _torrent(tmp_path, {f"release/{v.name}": v.read_bytes() for v in volumes})

    _file(tmp_path, record, extract=True)

    payload = tmp_path / "library" / "movies" / "Pack"
    assert _tree(payload) == {f"release/{k}": v for k, v in ENTRIES.items()}
    assert not list((tmp_path / "library" / "movies").glob(".revaer-staging-*"))


def _zip_with(tmp_path: Path, names: list[str], data: bytes = b"x") -> bytes:
    path = tmp_path / "made.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            # A ZipInfo keeps the entry name as given (writestr(str) would
            # tidy "../"), and is stored unless told otherwise.
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path.read_bytes()


@pytest.mark.parametrize("entry", ["../evil.txt", "ok/../../evil.txt", "/etc/evil"])
def test_an_archive_entry_that_leaves_its_folder_is_refused_before_anything_moves(
    tmp_path: Path, entry: str
) -> None:
    record = _torrent(tmp_path, {"a.zip": _zip_with(tmp_path, ["fine.txt", entry])})

    with pytest.raises(StageFailed, match="leaves its folder") as refused:
        _file(tmp_path, record, extract=True)

    assert refused.value.permanent
    assert not (tmp_path / "library").exists()
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("target", ["../../../etc/passwd", "/etc/passwd"])
def test_an_archived_symlink_pointing_out_is_refused(
    tmp_path: Path, target: str
) -> None:
    made = archive_maker.make_tar_with_link(tmp_path / "l.tar", "dir/link", target)
    record = _torrent(tmp_path, {"l.tar": made.read_bytes()})

    with pytest.raises(StageFailed, match="points out of it"):
        _file(tmp_path, record, extract=True)

    assert not (tmp_path / "library").exists()


def test_an_archived_symlink_inside_is_left_out_with_a_note(tmp_path: Path) -> None:
    made = archive_maker.make_tar_with_link(tmp_path / "l.tar", "dir/link", "../x")
    record = _torrent(tmp_path, {"l.tar": made.read_bytes(), "x": b"data"})
    given = PlanInput(
        record, Policy(transfer="copy", extract=True), FsOpsSettings(), tmp_path, 1
    )

    plan = pipeline.plan(given)

    assert [Path(op.dst).name for op in plan.ops] == ["x"]
    assert given.notes == ["not extracted (link): dir/link"]


def test_an_archive_bomb_is_refused_by_ratio_and_by_size(tmp_path: Path) -> None:
    bomb = _zip_with(tmp_path, ["zeros.bin"], bytes(8 * 1024 * 1024))
    record = _torrent(tmp_path, {"bomb.zip": bomb})

    with pytest.raises(StageFailed, match="extract_max_ratio"):
        _file(tmp_path, record, FsOpsSettings(extract_max_ratio=50), extract=True)
    with pytest.raises(StageFailed, match="extract_max_bytes"):
        _file(tmp_path, record, FsOpsSettings(extract_max_bytes=1024), extract=True)

    assert not (tmp_path / "library").exists()


def test_flatten_and_skip_fluff_file_only_the_media_at_the_top(tmp_path: Path) -> None:
    record = _torrent(
        tmp_path,
        {
            "Movie/Movie.mkv": MOVIE,
            "Movie/Sample/movie-sample.mkv": b"s" * 100,
            "Movie/info.nfo": b"nfo",
            "Subs/en.srt": b"subs",
        },
    )

    plan = _file(tmp_path, record, flatten=True, skip_fluff=True)

    payload = tmp_path / "library" / "movies" / "Pack"
    assert _tree(payload) == {"Movie.mkv": MOVIE, "en.srt": b"subs"}
    assert plan.lifted == 2


def test_flattened_names_that_collide_fail_or_are_renamed(tmp_path: Path) -> None:
    record = _torrent(tmp_path, {"a/read.me": b"one", "b/read.me": b"two"})

    with pytest.raises(StageFailed, match="already exists"):
        _file(tmp_path, record, flatten=True)
    _file(tmp_path, record, flatten=True, on_conflict="rename")

    payload = tmp_path / "library" / "movies" / "Pack"
    assert _tree(payload) == {"read.me": b"one", "read (1).me": b"two"}


def test_cleanup_drops_what_the_policy_drops_and_keeps_what_it_keeps(
    tmp_path: Path,
) -> None:
    record = _torrent(
        tmp_path,
        {"Movie.mkv": MOVIE, "notes.txt": b"n", "important.txt": b"i"},
    )
    kept_alone = _torrent(tmp_path / "other", {"a.txt": b"a"}, name="Other")
    _file(tmp_path, kept_alone, cleanup_keep=("*.mkv",))

    _file(
        tmp_path,
        record,
        cleanup_drop=("*.txt",),
        cleanup_keep=("important.txt",),
    )

    payload = tmp_path / "library" / "movies" / "Pack"
    assert _tree(payload) == {"Movie.mkv": MOVIE, "important.txt": b"i"}
    # A keep list only protects from the drop list; alone it drops nothing.
    assert _tree(tmp_path / "library" / "movies" / "Other") == {"a.txt": b"a"}


def test_injected_read_error_during_cleanup_keeps_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads everything, so an unreadable file cannot be made on demand;
    # lstat is made to fail with EIO for one path instead.
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "notes.txt": b"n"})
    policy = Policy(transfer="copy", cleanup_drop=("*.txt",))
    plan = pipeline.plan(
        PlanInput(record, policy, FsOpsSettings(), tmp_path / "library", 7)
    )
    pipeline.transfer(plan, 7, "copy")
    real_lstat = os.lstat

    def injected_lstat(path: object, *args: object, **kwargs: object) -> object:
        if str(path).endswith("notes.txt"):
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline_finish.os, "lstat", injected_lstat)
    dropped, notes = pipeline.cleanup(plan, 7, policy)

    assert dropped == 0
    assert notes and notes[0].startswith("kept ") and "EIO" in notes[0]
    assert (tmp_path / "library" / "movies" / "Pack" / "notes.txt").exists()


def test_permissions_set_modes_owner_and_group(tmp_path: Path) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "sub/en.srt": b"s"})

    _file(
        tmp_path,
        record,
        chmod_file=0o640,
        chmod_dir=0o750,
        owner="65534",
        group="65534",
    )

    payload = tmp_path / "library" / "movies" / "Pack"
    for path in (payload / "Movie.mkv", payload / "sub" / "en.srt"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)
    for folder in (payload, payload / "sub"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750


def test_umask_alone_decides_the_modes(tmp_path: Path) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "sub/en.srt": b"s"})

    _file(tmp_path, record, umask=0o027)

    payload = tmp_path / "library" / "movies" / "Pack"
    assert stat.S_IMODE((payload / "Movie.mkv").stat().st_mode) == 0o640
    assert stat.S_IMODE((payload / "sub").stat().st_mode) == 0o750


def test_skip_identical_skips_the_same_file_and_fails_on_a_different_one(
    tmp_path: Path,
) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "readme.txt": b"mine"})
    payload = tmp_path / "library" / "movies" / "Pack"
    payload.mkdir(parents=True)
    (payload / "Movie.mkv").write_bytes(MOVIE)

    plan = _file(tmp_path, record, on_conflict="skip_identical")
    (payload / "readme.txt").write_bytes(b"theirs")
    other = _torrent(tmp_path / "other", {"readme.txt": b"mine", "new.txt": b"n"})

    with pytest.raises(StageFailed, match="exists and differs"):
        _file(tmp_path, other, on_conflict="skip_identical")

    assert plan.skipped == (str(payload / "Movie.mkv"),)
    assert _tree(payload) == {"Movie.mkv": MOVIE, "readme.txt": b"theirs"}


def test_on_conflict_fail_refuses_before_anything_is_written(tmp_path: Path) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "extra.txt": b"e"})
    existing = tmp_path / "library" / "movies" / "Pack"
    existing.mkdir(parents=True)
    (existing / "Movie.mkv").write_bytes(b"somebody else's")

    with pytest.raises(StageFailed, match="destination already exists"):
        _file(tmp_path, record)

    assert _tree(existing) == {"Movie.mkv": b"somebody else's"}


def test_a_rerun_removes_temporary_files_and_gives_the_same_tree(
    tmp_path: Path,
) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "sub/en.srt": b"s"})
    policy = Policy(transfer="copy")
    plan = pipeline.plan(
        PlanInput(record, policy, FsOpsSettings(), tmp_path / "library", 7)
    )
    payload = Path(plan.payload)
    # What a crash mid-copy leaves: one file done, one temporary half file.
    (payload / "sub").mkdir(parents=True)
    (payload / "sub" / "en.srt").write_bytes(b"s")
    (payload / ".Movie.mkv.7.revaer-part").write_bytes(MOVIE[:1000])

    removed = pipeline.remove_temp_files(plan, 7)
    first = pipeline.transfer(plan, 7, "copy")
    tree = _tree(payload)
    second = pipeline.transfer(plan, 7, "copy")

    assert removed == 1
    assert (first.placed, first.already) == (1, 1)
    assert (second.placed, second.already) == (0, 2)
    assert tree == _tree(payload) == {"Movie.mkv": MOVIE, "sub/en.srt": b"s"}


def test_a_source_symlink_pointing_out_of_the_download_is_refused(
    tmp_path: Path,
) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE})
    link = Path(record.save_path) / "Pack" / "passwd"
    link.symlink_to("/etc/passwd")
    hostile = _record(Path(record.save_path), "Pack", {"Movie.mkv": 1, "passwd": 1})

    with pytest.raises(StageFailed, match="points outside its download folder"):
        _file(tmp_path, hostile)


def _loadable() -> list[Path]:
    """The suite's torrents that libtorrent loads; the rest never reach FsOps."""
    loadable = []
    for path in sorted(SUITE.glob("*.torrent")):
        try:
            load_metainfo(path.read_bytes())
        except InvalidInput:
            continue
        loadable.append(path)
    return loadable


@pytest.mark.parametrize("path", _loadable(), ids=lambda p: p.name)
def test_every_suite_torrent_plans_inside_the_library_or_is_refused(
    tmp_path: Path, path: Path
) -> None:
    info = load_metainfo(path.read_bytes()).ti
    files = files_of(info)
    record = TorrentRecord(
        info_hash=str(info.info_hashes().v1) if info.info_hashes().has_v1() else HASH,
        name=info.name(),
        state=TorrentState.SEEDING,
        save_path=str(tmp_path / "downloads"),
        added_at=datetime.now(UTC),
        files=files,
    )
    library = tmp_path / "library"

    try:
        plan = pipeline.plan(
            PlanInput(record, Policy(transfer="copy"), FsOpsSettings(), library, 1)
        )
    except StageFailed:
        return

    for op in plan.ops:
        assert Path(op.dst).resolve().is_relative_to(library.resolve())
        assert Path(op.src).resolve().is_relative_to((tmp_path / "downloads").resolve())


def test_rename_files_a_second_payload_beside_the_first(tmp_path: Path) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "en.srt": b"s"})
    first = _file(tmp_path, record, on_conflict="rename")

    second = _file(tmp_path, record, on_conflict="rename")

    movies = tmp_path / "library" / "movies"
    assert first.payload == str(movies / "Pack")
    assert second.payload == str(movies / "Pack (1)")
    assert _tree(movies / "Pack (1)") == _tree(movies / "Pack")
    assert (movies / "Pack (1).revaer.meta").exists()


def test_injected_corrupt_copy_is_caught_by_verify_hash_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A disk that returns other bytes than it was given cannot be made on
    # demand; the copy loop is made to flip a byte instead.
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE})
    plan = pipeline.plan(
        PlanInput(
            record, Policy(transfer="copy"), FsOpsSettings(), tmp_path / "library", 7
        )
    )
    real_copy = pipeline_place._copy_bytes

    def injected_corrupt_copy(src: int, dst: int, size: int) -> None:
        real_copy(src, dst, size)
        os.pwrite(dst, b"\x00" if MOVIE[:1] != b"\x00" else b"\x01", 0)

    monkeypatch.setattr(pipeline_place, "_copy_bytes", injected_corrupt_copy)
    unchecked = pipeline.transfer(plan, 7, "copy")
    Path(plan.ops[0].dst).unlink()

    with pytest.raises(OSError, match="differs from its source") as refused:
        pipeline.transfer(plan, 7, "copy", verify_hash=True)

    assert unchecked.placed == 1
    assert refused.value.errno == errno.EIO
    assert list(Path(plan.payload).iterdir()) == []


def test_a_library_subfolder_linked_to_the_librarys_parent_is_refused(
    tmp_path: Path,
) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "sub/evil.txt": b"evil"})
    payload = tmp_path / "library" / "movies" / "Pack"
    payload.mkdir(parents=True)
    (payload / "Movie.mkv").write_bytes(MOVIE)
    (payload / "sub").symlink_to(tmp_path)

    with pytest.raises(StageFailed, match="outside the library"):
        _file(tmp_path, record, on_conflict="skip_identical")

    assert not (tmp_path / "evil.txt").exists()


def test_a_folder_swapped_for_a_link_after_planning_is_refused_at_transfer(
    tmp_path: Path,
) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "sub/evil.txt": b"evil"})
    plan = pipeline.plan(
        PlanInput(
            record, Policy(transfer="copy"), FsOpsSettings(), tmp_path / "library", 7
        )
    )
    payload = Path(plan.payload)
    payload.mkdir(parents=True)
    (payload / "sub").symlink_to(tmp_path)

    with pytest.raises(StageFailed, match="resolves outside the library"):
        pipeline.transfer(plan, 7, "copy")

    assert not (tmp_path / "evil.txt").exists()


def _no_link_leads_out(library: Path) -> None:
    for path in library.rglob("*"):
        assert not path.is_symlink(), f"a symlink was filed: {path}"
        assert path.resolve().is_relative_to(library.resolve())


@pytest.mark.parametrize("mode", ["copy", "hardlink"])
def test_a_torrent_symlink_is_filed_as_the_file_it_points_at_even_flattened(
    tmp_path: Path, mode: str
) -> None:
    record = _torrent(tmp_path, {"x": b"the target", "a/b/c/real.txt": b"r"})
    link = Path(record.save_path) / "Pack" / "a" / "b" / "c" / "foo"
    link.symlink_to("../../../x")
    hostile = _record(
        Path(record.save_path), "Pack", {"x": 10, "a/b/c/real.txt": 1, "a/b/c/foo": 0}
    )

    plan = _file(tmp_path, hostile, transfer=mode, flatten=True)

    payload = Path(plan.payload)
    assert _tree(payload) == {
        "x": b"the target",
        "real.txt": b"r",
        "foo": b"the target",
    }
    _no_link_leads_out(tmp_path / "library")


def _lay_out_like_libtorrent(save_path: Path, torrent: Path) -> TorrentRecord:
    """A suite torrent's files on disk as libtorrent writes them: its symlinks
    as relative links, the other files as bytes of their size."""
    import libtorrent as lt

    info = load_metainfo(torrent.read_bytes()).ti
    storage = info.layout()
    files = files_of(info)
    links = []
    for entry in files:
        path = save_path / entry.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if storage.file_flags(entry.index) & lt.file_storage.flag_symlink:
            links.append((path, save_path / storage.symlink(entry.index)))
        else:
            path.write_bytes(os.urandom(entry.size))
    for path, target in links:
        if path.exists() and not path.is_symlink():
            path.unlink()
        if not path.is_symlink() and not path.is_dir():
            path.symlink_to(os.path.relpath(target, path.parent))
    return TorrentRecord(
        info_hash=HASH,
        name=info.name(),
        state=TorrentState.SEEDING,
        save_path=str(save_path),
        added_at=datetime.now(UTC),
        files=files,
    )


@pytest.mark.parametrize("mode", ["copy", "hardlink"])
@pytest.mark.parametrize(
    "name", ["symlink1", "symlink2", "overlapping_symlinks", "v2_symlinks"]
)
def test_suite_symlink_layouts_file_their_bytes_and_no_link(
    tmp_path: Path, name: str, mode: str
) -> None:
    record = _lay_out_like_libtorrent(
        tmp_path / "downloads" / HASH, SUITE / f"{name}.torrent"
    )
    policy = Policy(transfer=mode)  # type: ignore[arg-type]
    given = PlanInput(record, policy, FsOpsSettings(), tmp_path / "library", 7)

    plan = pipeline.plan(given)
    result = pipeline.transfer(plan, 7, mode)

    assert result.placed == len(plan.ops)
    for op in plan.ops:
        assert Path(op.dst).read_bytes() == Path(op.src).read_bytes()
    _no_link_leads_out(tmp_path / "library")
    folder_links = [
        e.path for e in record.files if (Path(record.save_path) / e.path).is_dir()
    ]
    for path in folder_links:
        assert f"not filed (link to a folder): {path}" in given.notes


def _damaged(kind: str, folder: Path) -> dict[str, bytes]:
    """Archives whose headers list fine and whose data is broken."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"Movie.mkv": MOVIE}
    if kind == "truncated-rar":
        volumes = archive_maker.make_rar(folder, "r", data, volumes=3)
        last = volumes[-1].read_bytes()
        volumes[-1].write_bytes(last[: len(last) // 2])
        return {f"release/{v.name}": v.read_bytes() for v in volumes}
    made = (
        archive_maker.make_zip(folder / "a.zip", data)
        if kind == "zip"
        else archive_maker.make_7z(folder / "a.7z", data)
    )
    broken = bytearray(made.read_bytes())
    broken[len(broken) // 2] ^= 0xFF
    return {f"release/{made.name}": bytes(broken)}


@pytest.mark.parametrize("kind", ["zip", "7z", "truncated-rar"])
def test_a_damaged_archive_fails_the_job_for_good_naming_the_damage(
    tmp_path: Path, kind: str
) -> None:
    record = _torrent(tmp_path, _damaged(kind, tmp_path / "made"))

    with pytest.raises(StageFailed) as refused:
        _file(tmp_path, record, extract=True)

    assert refused.value.permanent
    assert (
        "cannot be read" in refused.value.message or "damaged" in refused.value.message
    )
    assert "more than it declared" not in refused.value.message
    assert not (
        tmp_path / "library" / "movies" / "Pack" / "release" / "Movie.mkv"
    ).exists()


def test_partial_moves_are_removed_only_at_the_plans_own_destinations(
    tmp_path: Path,
) -> None:
    record = _torrent(
        tmp_path, {"Movie.mkv": MOVIE, "done.srt": b"done", "half.srt": b"half"}
    )
    plan = pipeline.plan(
        PlanInput(
            record, Policy(transfer="move"), FsOpsSettings(), tmp_path / "library", 7
        )
    )
    payload = Path(plan.payload)
    source = Path(record.save_path) / "Pack"
    payload.mkdir(parents=True)
    # What a cut-short move leaves: a file moved whole (its source gone), a
    # partial copy under its final name, and a file nobody planned.
    (payload / "done.srt").write_bytes(b"done")
    (source / "done.srt").unlink()
    (payload / "half.srt").write_bytes(b"ha")
    (payload / "theirs.txt").write_bytes(b"theirs")

    removed = pipeline.remove_partial_moves(plan)

    assert removed == [str(payload / "half.srt")]
    assert _tree(payload) == {"done.srt": b"done", "theirs.txt": b"theirs"}
    assert (source / "half.srt").read_bytes() == b"half"


def _other(record: TorrentRecord) -> TorrentRecord:
    import dataclasses

    return dataclasses.replace(record, info_hash="ef" * 20)


@pytest.mark.parametrize(
    ("on_conflict", "second_payload"), [("rename", "Pack (1)"), ("fail", None)]
)
def test_a_second_job_planning_at_once_sees_the_first_ones_paths_as_taken(
    tmp_path: Path, on_conflict: str, second_payload: str | None
) -> None:
    from revaer_actors.fsops import Reservations

    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "readme.txt": b"mine"})
    policy = Policy(transfer="copy", on_conflict=on_conflict)  # type: ignore[arg-type]
    reservations = Reservations()

    def planner(job: TorrentRecord, job_id: int) -> Plan:
        given = PlanInput(job, policy, FsOpsSettings(), tmp_path / "library", job_id)

        def make(reserved: frozenset[str]) -> Plan:
            given.reserved = reserved
            return pipeline.plan(given)

        return reservations.plan(job_id, make)

    # Neither has written a byte: only the reservation tells them apart.
    first = planner(record, 1)
    if second_payload is None:
        with pytest.raises(StageFailed, match="destination already exists"):
            planner(_other(record), 2)
        reservations.release(1)
        assert planner(_other(record), 2).payload == first.payload
        return
    second = planner(_other(record), 2)

    movies = tmp_path / "library" / "movies"
    assert first.payload == str(movies / "Pack")
    assert second.payload == str(movies / second_payload)


def test_a_file_that_appears_at_a_planned_place_is_not_counted_as_filed(
    tmp_path: Path,
) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "readme.txt": b"mine"})
    plan = pipeline.plan(
        PlanInput(
            record, Policy(transfer="copy"), FsOpsSettings(), tmp_path / "library", 7
        )
    )
    payload = Path(plan.payload)
    payload.mkdir(parents=True)
    (payload / "readme.txt").write_bytes(b"theirs")

    with pytest.raises(StageFailed, match="appeared while filing"):
        pipeline.transfer(plan, 7, "copy")

    assert (payload / "readme.txt").read_bytes() == b"theirs"


def test_skip_identical_never_replaces_another_torrents_meta(tmp_path: Path) -> None:
    record = _torrent(tmp_path, {"Movie.mkv": MOVIE, "readme.txt": b"mine"})
    first = _file(tmp_path, record, on_conflict="skip_identical")
    meta = pipeline.meta_path(first)

    with pytest.raises(StageFailed, match="filed by another torrent"):
        _file(tmp_path, _other(record), on_conflict="skip_identical")
    again = _file(tmp_path, record, on_conflict="skip_identical")

    assert json_of(meta)["info_hash"] == HASH
    assert again.skipped == tuple(str(p) for p in pipeline.placed_paths(first))


def json_of(path: Path) -> dict[str, object]:
    import json

    data: dict[str, object] = json.loads(path.read_text())
    return data
