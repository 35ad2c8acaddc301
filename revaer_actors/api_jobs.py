"""/v1/fs-jobs: FsOps jobs with their history, and retrying a failed one."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from revaer_actors import repository, sources
from revaer_actors.api_common import SERVICES, is_id, pool_read
from revaer_actors.domain import JobStatus
from revaer_actors.errors import InvalidInput, JobNotFound


async def list_jobs(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    status = request.query.get("status")
    if status is not None and status not in JobStatus.__members__.values():
        raise InvalidInput(
            f"status must be one of {', '.join(JobStatus)}", field="status"
        )
    torrent_id = request.query.get("torrent_id")
    if torrent_id is not None and not sources.is_torrent_id(torrent_id):
        raise InvalidInput("torrent_id must be a torrent id", field="torrent_id")

    def read(conn: Any) -> list[dict[str, Any]]:
        jobs = repository.select_jobs_where(conn, status, torrent_id)
        return [job.as_json() for job in jobs]

    items = await pool_read(services, read)
    return web.json_response({"items": items, "next": None})


async def get_job(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    job_id = _job_id(request)

    def read(conn: Any) -> dict[str, Any]:
        job = repository.select_job(conn, job_id)
        return {**job.as_json(), "history": repository.select_job_history(conn, job.id)}

    return web.json_response(await pool_read(services, read))


def _job_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not is_id(raw):
        raise JobNotFound(raw)
    return int(raw)


async def retry_job(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    job_id = _job_id(request)
    job = await services.bridge.ask(services.orchestrator.retry_job(job_id))
    return web.json_response(job.as_json(), status=202)
