"""FsOps filing speed beside the shell's own tools, in the same run.

    python benchmarks/fsops.py [--dir DIR] [--gib 1] [--small 10000] [--rounds 3]

Part 1: a payload of GIB gibibytes filed with `transfer = copy` by the FsOps
stages (plan, transfer with temporary name + fsync + link into place,
permissions, cleanup, .revaer.meta), against `cp -r` of the same files
followed by `sync` of the copy (FsOps fsyncs every file, so the reference pays
for durability too) and against plain `cp -r`. Rounds alternate; each side's
best round counts. Ratio = cp time / FsOps time (1.0 means as fast as cp).

Part 2: SMALL files of 1 KiB filed by hardlink (FsOps stages against `cp -al`)
and by move (libtorrent's move_storage on a seeding torrent, as FsOps moves,
against `mv` of the folder, which renames a single directory). Each prints
its ratio the same way: reference time / FsOps time.

Everything runs in DIR (default: a temporary folder under /tmp), which must
have room for about three copies of the payload. The database is not part of
this measurement; the stages are the ones the FsOps actor runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import libtorrent as lt

from revaer_actors import pipeline
from revaer_actors.domain import FileEntry, TorrentRecord, TorrentState
from revaer_actors.pipeline import PlanInput
from revaer_actors.policy import FsOpsSettings, Policy

BLOCK = 4 * 1024 * 1024


def write_payload(folder: Path, total: int) -> dict[str, int]:
    """Four files that make up `total` bytes, distinct block by block."""
    folder.mkdir(parents=True)
    seed = os.urandom(BLOCK)
    sizes = {}
    for number in range(4):
        path = folder / f"part{number}.bin"
        with path.open("wb") as out:
            for index in range(total // 4 // BLOCK):
                out.write((number << 32 | index).to_bytes(8, "big") + seed[8:])
        sizes[path.name] = path.stat().st_size
    return sizes


def record_for(save_path: Path, name: str, sizes: dict[str, int]) -> TorrentRecord:
    return TorrentRecord(
        info_hash="be" * 20,
        name=name,
        state=TorrentState.SEEDING,
        save_path=str(save_path),
        added_at=datetime.now(UTC),
        files=tuple(
            FileEntry(f"{name}/{rel}", size, i)
            for i, (rel, size) in enumerate(sizes.items())
        ),
    )


def file_with_fsops(record: TorrentRecord, library: Path, mode: str) -> float:
    policy = Policy(transfer=mode)
    started = time.perf_counter()
    plan = pipeline.plan(PlanInput(record, policy, FsOpsSettings(), library, 1))
    pipeline.transfer(plan, 1, mode)
    pipeline.permissions(plan, policy)
    pipeline.cleanup(plan, 1, policy)
    pipeline.write_meta(plan, record, 1, mode)
    return time.perf_counter() - started


def timed(*command: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def part_one(root: Path, gib: float, rounds: int) -> None:
    source = root / "downloads"
    sizes = write_payload(source / "Payload", int(gib * 1024**3))
    record = record_for(source, "Payload", sizes)
    fsops, cp_sync, cp_plain = [], [], []
    for round_ in range(rounds):
        library = root / f"library-{round_}"
        fsops.append(file_with_fsops(record, library, "copy"))
        shutil.rmtree(library)

        target = root / f"cp-{round_}"
        started = time.perf_counter()
        subprocess.run(["cp", "-r", str(source / "Payload"), str(target)], check=True)
        subprocess.run(["sync", "-f", str(target)], check=True)
        cp_sync.append(time.perf_counter() - started)
        shutil.rmtree(target)

        cp_plain.append(timed("cp", "-r", str(source / "Payload"), str(target)))
        shutil.rmtree(target)
    subprocess.run(["sync"], check=True)

    total = sum(sizes.values()) / 1024**2
    best = min(fsops)
    print(f"copy of {total:.0f} MiB in 4 files, best of {rounds} rounds")
    print(f"  FsOps copy (fsync each)   {best:8.3f} s  {total / best:8.0f} MiB/s")
    print(f"  cp -r + sync              {min(cp_sync):8.3f} s")
    print(f"  cp -r                     {min(cp_plain):8.3f} s")
    print(f"  ratio cp+sync / FsOps     {min(cp_sync) / best:8.2f}")
    print(f"  ratio cp / FsOps          {min(cp_plain) / best:8.2f}")
    shutil.rmtree(source)


def small_files(folder: Path, count: int) -> dict[str, int]:
    sizes = {}
    for index in range(count):
        rel = f"d{index // 1000:02d}/f{index:05d}.dat"
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(index.to_bytes(8, "big") * 128)
        sizes[rel] = 1024
    return sizes


def move_with_libtorrent(source: Path, target: Path) -> float:
    """A seeding torrent of the small files, moved as FsOps moves it."""
    creator = lt.create_torrent(
        lt.list_files(str(source / "Small")), 0, lt.create_torrent.v1_only
    )
    lt.set_piece_hashes(creator, str(source))
    info = lt.torrent_info(lt.bencode(creator.generate()))
    session = lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "alert_mask": lt.alert_category.storage | lt.alert_category.status,
        }
    )
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = str(source)
    params.flags |= lt.torrent_flags.seed_mode
    handle = session.add_torrent(params)
    target.mkdir(parents=True)

    started = time.perf_counter()
    handle.move_storage(str(target), lt.move_flags_t.fail_if_exist)
    while True:
        session.wait_for_alert(1000)
        kinds = [type(a).__name__ for a in session.pop_alerts()]
        if "storage_moved_alert" in kinds or "storage_moved_failed_alert" in kinds:
            break
    elapsed = time.perf_counter() - started
    assert "storage_moved_failed_alert" not in kinds, kinds
    session.remove_torrent(handle)
    return elapsed


def part_two(root: Path, count: int) -> None:
    source = root / "small-downloads"
    sizes = small_files(source / "Small", count)
    record = record_for(source, "Small", sizes)

    fsops_link = file_with_fsops(record, root / "small-library", "hardlink")
    cp_link = timed("cp", "-al", str(source / "Small"), str(root / "small-cp"))
    for folder in ("small-library", "small-cp"):
        shutil.rmtree(root / folder)

    moved = move_with_libtorrent(source, root / "small-moved")
    shutil.move(str(root / "small-moved" / "Small"), str(source / "Small"))
    mv = timed("mv", str(source / "Small"), str(root / "small-mv"))

    print(f"{count} files of 1 KiB")
    rate = count / fsops_link
    print(f"  FsOps hardlink            {fsops_link:8.3f} s  {rate:8.0f} files/s")
    print(f"  cp -al                    {cp_link:8.3f} s")
    print(f"  ratio cp -al / FsOps      {cp_link / fsops_link:8.2f}")
    print(f"  libtorrent move_storage   {moved:8.3f} s  {count / moved:8.0f} files/s")
    print(f"  mv (one rename)           {mv:8.3f} s")
    # Far below 1 by nature: mv renames one folder, libtorrent each file.
    print(f"  ratio mv / move_storage   {mv / moved:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="revaer-fsops-bench-", dir=args.dir))
    try:
        part_one(root, args.gib, args.rounds)
        part_two(root, args.small)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
