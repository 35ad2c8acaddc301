"""The catalog's SQL: named statements from queries.sql and the row mapping.

Only this module, `database`, `persistence` and `persistence_outbox` import
psycopg. Functions here take an open connection and never commit: the caller owns
the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from revaer_actors.domain import (
    ContentLayout,
    FileEntry,
    JobRecord,
    JobStatus,
    TorrentRecord,
    TorrentState,
    TransferMode,
    fsops_json,
)
from revaer_actors.errors import JobNotFound
from revaer_actors.selection import FileSelection

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def _load_queries() -> dict[str, str]:
    text = resources.files("revaer_actors").joinpath("queries.sql").read_text()
    parts = _HEADER.split(text)[1:]
    return {
        name: body.strip() for name, body in zip(parts[::2], parts[1::2], strict=True)
    }


QUERIES: dict[str, str] = _load_queries()


def ping(conn: psycopg.Connection[Any]) -> None:
    conn.execute(QUERIES["ping"]).fetchone()


def server_version(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(QUERIES["server_version"]).fetchone()
    return str(row[0]) if row is not None else "unknown"


def insert_torrent(conn: psycopg.Connection[Any], record: TorrentRecord) -> bool:
    """Returns False when a torrent with this info hash already exists."""
    row = conn.execute(
        QUERIES["insert_torrent"],
        {
            "info_hash": record.info_hash,
            "name": record.name,
            "state": record.state.value,
            "paused": record.paused,
            "category": record.category,
            "tags": list(record.tags),
            "save_path": record.save_path,
            "magnet": record.magnet,
            "metainfo": record.metainfo,
            "files": _files_json(record.files),
            "total_size": record.total_size,
            "added_at": record.added_at,
            "fsops": Jsonb(fsops_json(record.fsops)),
            "content_layout": record.content_layout.value,
            **_options(record),
        },
    ).fetchone()
    return row is not None


def update_state(
    conn: psycopg.Connection[Any],
    info_hash: str,
    state: TorrentState,
    message: str | None,
) -> None:
    conn.execute(
        QUERIES["update_torrent_state"],
        {"info_hash": info_hash, "state": state.value, "state_message": message},
    )


def record_transitions(
    conn: psycopg.Connection[Any],
    transitions: Iterable[tuple[str, TorrentState, str | None, datetime]],
) -> None:
    """Appends each transition to the history in the order given, then sets
    each torrent's row to its last one."""
    rows = [
        {"info_hash": h, "state": s.value, "state_message": m, "at": at}
        for h, s, m, at in transitions
    ]
    if not rows:
        return
    latest = {row["info_hash"]: row for row in rows}
    with conn.cursor() as cur:
        cur.executemany(QUERIES["insert_torrent_state_history"], rows)
        cur.executemany(QUERIES["update_torrent_state"], list(latest.values()))


def select_state_history(
    conn: psycopg.Connection[Any], info_hash: str
) -> list[tuple[str, str | None, datetime]]:
    rows = conn.execute(
        QUERIES["select_torrent_state_history"], {"info_hash": info_hash}
    ).fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


def database_writable(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(QUERIES["select_database_writable"]).fetchone()
    return bool(row and row[0])


def update_settings(conn: psycopg.Connection[Any], record: TorrentRecord) -> bool:
    """Returns False when the torrent is no longer in the catalog."""
    row = conn.execute(
        QUERIES["update_torrent_settings"],
        {
            "info_hash": record.info_hash,
            "paused": record.paused,
            "state": record.state.value,
            "category": record.category,
            "tags": list(record.tags),
            **_options(record),
        },
    ).fetchone()
    return row is not None


def delete_torrent(conn: psycopg.Connection[Any], info_hash: str) -> bool:
    row = conn.execute(QUERIES["delete_torrent"], {"info_hash": info_hash}).fetchone()
    return row is not None


def update_progress(
    conn: psycopg.Connection[Any], rows: Iterable[dict[str, Any]]
) -> None:
    batch = list(rows)
    if not batch:
        return
    columns = {key: [row[key] for row in batch] for key in batch[0]}
    conn.execute(QUERIES["update_torrent_progress_batch"], columns)


def update_metadata(
    conn: psycopg.Connection[Any],
    info_hash: str,
    name: str,
    metainfo: bytes,
    files: tuple[FileEntry, ...],
    total_size: int,
) -> None:
    conn.execute(
        QUERIES["update_torrent_metadata"],
        {
            "info_hash": info_hash,
            "name": name,
            "metainfo": metainfo,
            "files": _files_json(files),
            "total_size": total_size,
        },
    )


def update_resume_data(
    conn: psycopg.Connection[Any], info_hash: str, data: bytes
) -> None:
    conn.execute(
        QUERIES["update_torrent_resume_data"],
        {"info_hash": info_hash, "resume_data": data},
    )


def mark_completed(conn: psycopg.Connection[Any], info_hash: str, at: datetime) -> None:
    conn.execute(
        QUERIES["mark_torrent_completed"], {"info_hash": info_hash, "completed_at": at}
    )


def set_location(
    conn: psycopg.Connection[Any],
    info_hash: str,
    save_path: str,
    library_path: str | None,
) -> None:
    conn.execute(
        QUERIES["set_torrent_location"],
        {"info_hash": info_hash, "save_path": save_path, "library_path": library_path},
    )


def begin_move(conn: psycopg.Connection[Any], info_hash: str, move_to: str) -> bool:
    """Returns False when the torrent is no longer in the catalog."""
    row = conn.execute(
        QUERIES["begin_torrent_move"], {"info_hash": info_hash, "move_to": move_to}
    ).fetchone()
    return row is not None


def finish_move(conn: psycopg.Connection[Any], info_hash: str, save_path: str) -> None:
    conn.execute(
        QUERIES["finish_torrent_move"], {"info_hash": info_hash, "save_path": save_path}
    )


def drop_move(conn: psycopg.Connection[Any], info_hash: str, move_to: str) -> None:
    conn.execute(
        QUERIES["drop_torrent_move"], {"info_hash": info_hash, "move_to": move_to}
    )


def select_settings(conn: psycopg.Connection[Any], scope: str) -> dict[str, Any]:
    row = conn.execute(QUERIES["select_settings"], {"scope": scope}).fetchone()
    return dict(row[0]) if row is not None else {}


def upsert_settings(
    conn: psycopg.Connection[Any], scope: str, value: dict[str, Any]
) -> None:
    conn.execute(QUERIES["upsert_settings"], {"scope": scope, "value": Jsonb(value)})


def select_categories(conn: psycopg.Connection[Any]) -> list[str]:
    return [row[0] for row in conn.execute(QUERIES["select_categories"])]


def insert_category(conn: psycopg.Connection[Any], name: str) -> bool:
    """False when the category already existed."""
    row = conn.execute(QUERIES["insert_category"], {"name": name}).fetchone()
    return row is not None


def delete_categories(conn: psycopg.Connection[Any], names: list[str]) -> list[str]:
    rows = conn.execute(QUERIES["delete_categories"], {"names": names}).fetchall()
    return [row[0] for row in rows]


def select_latest_jobs(
    conn: psycopg.Connection[Any], torrent_ids: list[str]
) -> dict[str, JobRecord]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            QUERIES["select_latest_fs_jobs"], {"torrent_ids": torrent_ids}
        ).fetchall()
    return {row["torrent_id"]: _job(row) for row in rows}


def select_torrents(conn: psycopg.Connection[Any]) -> list[TorrentRecord]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_torrent(row) for row in cur.execute(QUERIES["select_torrents"])]


def insert_job(
    conn: psycopg.Connection[Any], torrent_id: str, mode: TransferMode, src_path: str
) -> JobRecord | None:
    """Opens a job; None when the torrent already has a live one."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            QUERIES["insert_fs_job"],
            {
                "torrent_id": torrent_id,
                "transfer_mode": mode.value,
                "src_path": src_path,
            },
        ).fetchone()
    if row is None:
        return None

    job = _job(row)
    _history(conn, job, None, "opened")
    return job


def update_job(
    conn: psycopg.Connection[Any],
    job_id: int,
    status: JobStatus,
    stage: str,
    *,
    dst_path: str | None = None,
    error: str | None = None,
    new_attempt: bool = False,
    outcome: str | None = None,
    message: str | None = None,
    policy: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
    note: str | None = None,
    next_retry_at: datetime | None = None,
) -> JobRecord:
    """Moves a job and appends the transition, with its outcome, to its history."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            QUERIES["update_fs_job"],
            {
                "id": job_id,
                "status": status.value,
                "stage": stage,
                "dst_path": dst_path,
                "last_error": error,
                "attempt_increment": 1 if new_attempt else 0,
                "next_retry_at": next_retry_at,
                "policy": Jsonb(policy) if policy is not None else None,
                "plan": Jsonb(plan) if plan is not None else None,
                "note": note,
            },
        ).fetchone()
    if row is None:
        raise JobNotFound(job_id)

    job = _job(row)
    _history(conn, job, message if message is not None else error, outcome)
    return job


def reopen_job(conn: psycopg.Connection[Any], job_id: int) -> JobRecord | None:
    """A failed job back to pending; None when it is not failed."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(QUERIES["reopen_fs_job"], {"id": job_id}).fetchone()
    if row is None:
        return None

    job = _job(row)
    _history(conn, job, "retry asked by hand", "retry")
    return job


def select_jobs(conn: psycopg.Connection[Any]) -> list[JobRecord]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_job(row) for row in cur.execute(QUERIES["select_fs_jobs"])]


def select_jobs_where(
    conn: psycopg.Connection[Any], status: str | None, torrent_id: str | None
) -> list[JobRecord]:
    params = {"status": status, "torrent_id": torrent_id}
    with conn.cursor(row_factory=dict_row) as cur:
        return [
            _job(row) for row in cur.execute(QUERIES["select_fs_jobs_where"], params)
        ]


def select_latest_job(
    conn: psycopg.Connection[Any], torrent_id: str
) -> JobRecord | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            QUERIES["select_latest_fs_job"], {"torrent_id": torrent_id}
        ).fetchone()
    return _job(row) if row is not None else None


def count_jobs_by_status(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute(QUERIES["count_fs_jobs_by_status"]).fetchall()
    return {str(status): int(count) for status, count in rows}


def select_job(conn: psycopg.Connection[Any], job_id: int) -> JobRecord:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(QUERIES["select_fs_job"], {"id": job_id}).fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return _job(row)


def select_job_history(
    conn: psycopg.Connection[Any], job_id: int
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(QUERIES["select_fs_job_history"], {"job_id": job_id})
        return [
            {
                "status": row["status"],
                "stage": row["stage"],
                "outcome": row["outcome"],
                "message": row["message"],
                "at": row["recorded_at"].isoformat(),
            }
            for row in rows
        ]


def insert_api_key(
    conn: psycopg.Connection[Any], name: str, key_hash: str
) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            QUERIES["insert_api_key"], {"name": name, "key_hash": key_hash}
        ).fetchone()
    assert row is not None
    return row


def select_api_keys(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(QUERIES["select_api_keys"]))


def revoke_api_key(conn: psycopg.Connection[Any], key_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(QUERIES["revoke_api_key"], {"id": key_id}).fetchone()


def _history(
    conn: psycopg.Connection[Any],
    job: JobRecord,
    message: str | None,
    outcome: str | None = None,
) -> None:
    conn.execute(
        QUERIES["insert_fs_job_history"],
        {
            "job_id": job.id,
            "status": job.status.value,
            "stage": job.stage,
            "outcome": outcome,
            "message": message,
        },
    )


def _options(record: TorrentRecord) -> dict[str, Any]:
    return {
        "sequential": record.sequential,
        "download_limit": record.download_limit,
        "upload_limit": record.upload_limit,
        "ratio_limit": record.ratio_limit,
        "seeding_time_limit": record.seeding_time_limit,
        "selection": Jsonb(record.selection.as_json()),
        "force_start": record.force_start,
        "first_last_piece": record.first_last_piece,
    }


def _files_json(files: tuple[FileEntry, ...]) -> Jsonb:
    return Jsonb([f.as_json() for f in files])


def _torrent(row: dict[str, Any]) -> TorrentRecord:
    return TorrentRecord(
        info_hash=row["info_hash"],
        name=row["name"],
        state=TorrentState(row["state"]),
        state_message=row["state_message"],
        paused=row["paused"],
        sequential=row["sequential"],
        download_limit=row["download_limit"],
        upload_limit=row["upload_limit"],
        ratio_limit=row["ratio_limit"],
        seeding_time_limit=row["seeding_time_limit"],
        selection=FileSelection.from_json(row["selection"]),
        force_start=row["force_start"],
        first_last_piece=row["first_last_piece"],
        queue_position=row["queue_position"],
        uploaded=row["uploaded"],
        downloaded=row["downloaded"],
        seeding_seconds=row["seeding_seconds"],
        category=row["category"],
        tags=tuple(row["tags"]),
        save_path=row["save_path"],
        library_path=row["library_path"],
        move_to=row["move_to"],
        progress=row["progress"],
        download_rate=row["download_rate"],
        upload_rate=row["upload_rate"],
        total_done=row["total_done"],
        total_size=row["total_size"],
        magnet=row["magnet"],
        metainfo=row["metainfo"],
        resume_data=row["resume_data"],
        files=tuple(
            FileEntry(f["path"], f["size"], f.get("index", i))
            for i, f in enumerate(row["files"])
        ),
        added_at=row["added_at"],
        completed_at=row["completed_at"],
        fsops=tuple(
            (k, tuple(v) if isinstance(v, list) else v)
            for k, v in sorted(row["fsops"].items())
        ),
        content_layout=ContentLayout(row["content_layout"]),
    )


def _job(row: dict[str, Any]) -> JobRecord:
    return JobRecord(
        id=row["id"],
        torrent_id=row["torrent_id"],
        status=JobStatus(row["status"]),
        stage=row["stage"],
        transfer_mode=TransferMode(row["transfer_mode"]),
        src_path=row["src_path"],
        dst_path=row["dst_path"],
        attempt=row["attempt"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_retry_at=row["next_retry_at"],
        policy=row["policy"],
        plan=row["plan"],
        note=row["note"],
    )
