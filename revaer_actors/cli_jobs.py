"""`revaer jobs`: list, show and retry the post-processing jobs."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import click
from rich.markup import escape
from rich.table import Table

from revaer_actors.cli_common import (
    EXIT_BAD_INPUT,
    Api,
    console,
    fail,
    request_json,
    resolve_id,
)
from revaer_actors.domain import JobStatus

JOB_STATUSES = tuple(status.value for status in JobStatus)


_job_status_option = click.option(
    "--status",
    type=click.Choice(JOB_STATUSES),
    default=None,
    help="Only jobs with this status.",
)


_job_torrent_option = click.option(
    "--torrent", default=None, help="Only this torrent's jobs (id or id prefix)."
)


@click.group(invoke_without_command=True)
@_job_status_option
@_job_torrent_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def jobs(
    ctx: click.Context, status: str | None, torrent: str | None, as_json: bool
) -> None:
    """List post-processing jobs (`jobs` or `jobs list`), or show or retry one."""
    if ctx.invoked_subcommand is None:
        _list_jobs(ctx.obj, status, torrent, as_json)


@jobs.command(name="list")
@_job_status_option
@_job_torrent_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def jobs_list(api: Api, status: str | None, torrent: str | None, as_json: bool) -> None:
    """List post-processing jobs."""
    _list_jobs(api, status, torrent, as_json)


def _list_jobs(
    api: Api, status: str | None, torrent: str | None, as_json: bool
) -> None:
    query: dict[str, str] = {}
    if status is not None:
        query["status"] = status
    if torrent is not None:
        query["torrent_id"] = resolve_id(api, torrent)
    suffix = "?" + urllib.parse.urlencode(query) if query else ""
    items = request_json(api, "GET", "/v1/fs-jobs" + suffix)["items"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return

    table = Table("id", "torrent", "status", "stage", "mode", "destination", "error")
    for j in items:
        table.add_row(
            str(j["id"]),
            j["torrent_id"],
            j["status"],
            j["stage"],
            j["transfer_mode"],
            escape(j["dst_path"] or ""),
            escape(j["last_error"] or ""),
        )
    console.print(table)


@jobs.command("retry")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def jobs_retry(api: Api, job_id: str, as_json: bool) -> None:
    """Retry failed post-processing job JOB_ID from the stage it failed in."""
    if not (job_id.isascii() and job_id.isdigit()):
        fail(EXIT_BAD_INPUT, f"job id must be a number, got {job_id!r}")
    job = request_json(api, "POST", f"/v1/fs-jobs/{job_id}/retry")
    if as_json:
        click.echo(json.dumps(job, indent=2))
        return
    click.echo(f"job {job['id']} queued again at stage {job['stage']}")


@jobs.command(name="show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def jobs_show(api: Api, job_id: str, as_json: bool) -> None:
    """Show one job and its history."""
    job = request_json(api, "GET", f"/v1/fs-jobs/{urllib.parse.quote(job_id)}")
    if as_json:
        click.echo(json.dumps(job, indent=2))
        return
    for key in ("id", "torrent_id", "status", "stage", "dst_path", "last_error"):
        shown = "-" if job.get(key) is None else job[key]
        console.print(f"[bold]{key}[/bold]: {escape(str(shown))}", highlight=False)
    for step in job["history"]:
        line = f"  {step['at']}  {step['status']:<8} {step['stage']}"
        if step.get("outcome"):
            line += f" {step['outcome']}"
        if step["message"]:
            line += f"  {step['message']}"
        console.print(line, highlight=False, markup=False)
