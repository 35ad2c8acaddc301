"""The `revaer` command: runs the daemon and talks to its API."""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from revaer_actors import __version__
from revaer_actors.auth import read_key_file
from revaer_actors.domain import JobStatus
from revaer_actors.errors import AlreadyRunning, ConfigError
from revaer_actors.sse import StreamEvent, parse_stream

STATUS_FIELDS = (
    "id",
    "name",
    "state",
    "state_message",
    "progress",
    "eta",
    "download_rate",
    "upload_rate",
    "ratio",
    "num_peers",
    "num_seeds",
    "category",
    "tags",
    "sequential",
    "download_limit",
    "upload_limit",
    "ratio_limit",
    "seeding_time_limit",
    "force_start",
    "save_path",
    "library_path",
    "added_at",
    "completed_at",
)
EXIT_BAD_INPUT = 2
EXIT_RUNTIME = 3
HTTP_TIMEOUT = 60.0
PAGE_SIZE = 500
WAIT_POLL_SECONDS = 0.5
# Job statuses after which the files are where they belong.
FILED_STATUSES = (JobStatus.MOVED.value, JobStatus.SKIPPED.value)
JOB_STATUSES = tuple(status.value for status in JobStatus)
TAIL_READ_TIMEOUT = 60.0
TAIL_MAX_DELAY = 30.0


@dataclass(frozen=True)
class Api:
    """Where the daemon answers and the key to show it."""

    url: str
    key: str | None


# Tables fold long ids and paths instead of cutting them, even when piped.
console = Console(width=200) if not sys.stdout.isatty() else Console()
errors = Console(stderr=True)


@click.group(context_settings={"show_default": True})
@click.version_option(__version__, prog_name="revaer")
@click.option(
    "--api-url",
    envvar="REVAER_API_URL",
    default="http://127.0.0.1:7070",
    show_envvar=True,
    help="Where the daemon's API answers.",
)
@click.option(
    "--api-key",
    envvar="REVAER_API_KEY",
    show_envvar=True,
    default=None,
    help="API key [default: read from DATA_DIR/api-key].",
)
@click.option(
    "--data-dir",
    "key_dir",
    envvar="REVAER_DATA_DIR",
    show_envvar=True,
    default="./revaer-data",
    type=click.Path(path_type=Path),
    help="The daemon's data directory, where the CLI finds the API key.",
)
@click.pass_context
def main(ctx: click.Context, api_url: str, api_key: str | None, key_dir: Path) -> None:
    """revaer-actors: a BitTorrent daemon that files downloads into a library."""
    ctx.obj = Api(api_url.rstrip("/"), api_key or read_key_file(key_dir))


@main.command()
@click.option(
    "--data-dir",
    envvar="REVAER_DATA_DIR",
    default="./revaer-data",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    show_envvar=True,
    default=None,
    help="PostgreSQL URL; without it an embedded server runs in DATA_DIR.",
)
@click.option(
    "--api-listen",
    envvar="REVAER_API_LISTEN",
    show_envvar=True,
    default=None,
    help="HOST:PORT for the API [default: 127.0.0.1:7070].",
)
@click.option(
    "--bt-listen",
    envvar="REVAER_BT_LISTEN",
    show_envvar=True,
    default=None,
    help="HOST:PORT for BitTorrent [default: 0.0.0.0:6881].",
)
@click.option(
    "--downloads-dir",
    envvar="REVAER_DOWNLOADS_DIR",
    show_envvar=True,
    default=None,
    type=click.Path(path_type=Path),
    help="[default: DATA_DIR/downloads]",
)
@click.option(
    "--library-dir",
    envvar="REVAER_LIBRARY_DIR",
    show_envvar=True,
    default=None,
    type=click.Path(path_type=Path),
    help="[default: DATA_DIR/library]",
)
@click.option(
    "--log-level",
    envvar="REVAER_LOG_LEVEL",
    show_envvar=True,
    default="INFO",
    show_default=True,
)
def run(
    data_dir: Path,
    database_url: str | None,
    api_listen: str | None,
    bt_listen: str | None,
    downloads_dir: Path | None,
    library_dir: Path | None,
    log_level: str,
) -> None:
    """Run the daemon in the foreground."""
    from revaer_actors.config import load_config
    from revaer_actors.daemon import run as run_daemon

    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(
            data_dir,
            database_url=database_url,
            api_listen=api_listen,
            bt_listen=bt_listen,
            downloads_dir=downloads_dir,
            library_dir=library_dir,
        )
    except ConfigError as exc:
        _fail(EXIT_BAD_INPUT, str(exc))
    try:
        run_daemon(config)
    except AlreadyRunning as exc:
        _fail(EXIT_RUNTIME, str(exc))


@main.command()
@click.argument("source")
@click.option("--category", default=None)
@click.option("--tag", "tags", multiple=True, help="May be given several times.")
@click.option("--paused", is_flag=True, help="Add without starting.")
@click.option(
    "--wait",
    is_flag=True,
    help="Show progress until the download is filed into the library.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"id": ...}; with --wait, also the final "torrent" and its "job".',
)
@click.pass_obj
def add(
    api: Api,
    source: str,
    category: str | None,
    tags: tuple[str, ...],
    paused: bool,
    wait: bool,
    as_json: bool,
) -> None:
    """Add a torrent from a MAGNET link, a .torrent FILE or an http(s) URL.

    Prints the torrent's id.
    """
    if not source.strip():
        _fail(EXIT_BAD_INPUT, "give a magnet link or a .torrent file to add")
    if paused and wait:
        _fail(EXIT_BAD_INPUT, "--wait waits for the download, which --paused holds")
    body: dict[str, Any] = {"tags": list(tags), "paused": paused}
    if category is not None:
        body["category"] = category
    if source.startswith("magnet:"):
        body["magnet"] = source
    elif source.startswith(("http://", "https://")):
        body["url"] = source
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            _fail(EXIT_BAD_INPUT, f"cannot read {source}: {exc.strerror}")
        body["metainfo"] = base64.b64encode(data).decode("ascii")

    answer = _request(api, "POST", "/v1/torrents", body)
    torrent_id = answer["id"]
    if not as_json:
        click.echo(torrent_id)
    elif not wait:
        click.echo(json.dumps({"id": torrent_id}, indent=2))
    if not wait:
        return
    try:
        torrent, job = _wait_until_filed(api, torrent_id)
    except KeyboardInterrupt:
        # The torrent stays added; only the waiting stops.
        click.echo("stopped waiting; the download goes on", err=True)
        if as_json:
            click.echo(json.dumps({"id": torrent_id}, indent=2))
        return
    if as_json:
        click.echo(
            json.dumps({"id": torrent_id, "torrent": torrent, "job": job}, indent=2)
        )


def _wait_until_filed(
    api: Api, torrent_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A progress bar (on stderr) until the torrent's FsOps job is done."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task("downloading", total=1.0)
        while True:
            t = _request(api, "GET", f"/v1/torrents/{torrent_id}")
            if t["state"] == "failed":
                _fail(EXIT_RUNTIME, f"{torrent_id} failed: {t['state_message']}")
            bar.update(task, completed=t["progress"], description=t["state"])
            job = _latest_job(api, torrent_id) if t["completed_at"] else None
            if job is not None and job["status"] == "failed":
                _fail(EXIT_RUNTIME, f"filing {torrent_id} failed: {job['last_error']}")
            if job is not None and job["status"] in FILED_STATUSES:
                break
            if job is not None:
                bar.update(task, description=f"filing ({job['stage']})")
            time.sleep(WAIT_POLL_SECONDS)
    t = _request(api, "GET", f"/v1/torrents/{torrent_id}")
    click.echo(f"filed into {t['library_path'] or t['save_path']}", err=True)
    return t, job


def _latest_job(api: Api, torrent_id: str) -> dict[str, Any] | None:
    items = _request(api, "GET", f"/v1/fs-jobs?torrent_id={torrent_id}")["items"]
    return items[-1] if items else None


@main.command(name="ls")
@click.option("--state", default=None, help="Only torrents in this state.")
@click.option("--category", default=None, help="Only this category.")
@click.option("--tag", default=None, help="Only torrents with this tag.")
@click.option("--name", default=None, help="Name contains this (any case).")
@click.option(
    "--sort", type=click.Choice(["added_at", "name", "progress"]), default="added_at"
)
@click.option("--desc", is_flag=True, help="Sort in descending order.")
@click.option(
    "--page-size",
    type=click.IntRange(1, PAGE_SIZE),
    default=PAGE_SIZE,
    help="Torrents asked for per request; every page is followed anyway.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list.")
@click.pass_obj
def list_torrents(
    api: Api,
    state: str | None,
    category: str | None,
    tag: str | None,
    name: str | None,
    sort: str,
    desc: bool,
    page_size: int,
    as_json: bool,
) -> None:
    """List torrents (every page of them)."""
    given = {"state": state, "category": category, "tag": tag, "name": name}
    query = {k: v for k, v in given.items() if v is not None}
    query.update(sort=sort, order="desc" if desc else "asc")
    items = _all_torrents(api, query, page_size)
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return

    table = Table("id", "name", "state", "progress", "category", "library path")
    for t in items:
        table.add_row(
            t["id"],
            escape(t["name"]),
            t["state"],
            f"{t['progress'] * 100:.1f}%",
            escape(t["category"] or ""),
            escape(t["library_path"] or ""),
        )
    console.print(table)


def _all_torrents(
    api: Api, query: dict[str, str], page_size: int = PAGE_SIZE
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {**query, "limit": str(page_size)}
    while True:
        page = _request(api, "GET", "/v1/torrents?" + urllib.parse.urlencode(params))
        items.extend(page["items"])
        if page["next"] is None:
            return items
        params["cursor"] = page["next"]


@main.command()
@click.argument("torrent_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(api: Api, torrent_id: str, as_json: bool) -> None:
    """Show one torrent."""
    t = _request(api, "GET", f"/v1/torrents/{_resolve(api, torrent_id)}")
    if as_json:
        click.echo(json.dumps(t, indent=2))
        return

    for key in STATUS_FIELDS:
        value = t[key]
        shown = "-" if value is None or value == [] else value
        console.print(f"[bold]{key}[/bold]: {escape(str(shown))}", highlight=False)
    for f in t["files"]:
        console.print(
            f"  {f['path']}  ({f['size']} bytes, {f['priority']})",
            highlight=False,
            markup=False,
        )


_job_status_option = click.option(
    "--status",
    type=click.Choice(JOB_STATUSES),
    default=None,
    help="Only jobs with this status.",
)
_job_torrent_option = click.option(
    "--torrent", default=None, help="Only this torrent's jobs (id or id prefix)."
)


@main.group(invoke_without_command=True)
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
        query["torrent_id"] = _resolve(api, torrent)
    suffix = "?" + urllib.parse.urlencode(query) if query else ""
    items = _request(api, "GET", "/v1/fs-jobs" + suffix)["items"]
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
        _fail(EXIT_BAD_INPUT, f"job id must be a number, got {job_id!r}")
    job = _request(api, "POST", f"/v1/fs-jobs/{job_id}/retry")
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
    job = _request(api, "GET", f"/v1/fs-jobs/{urllib.parse.quote(job_id)}")
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


@main.group()
@click.argument("torrent_id")
@click.pass_context
def action(ctx: click.Context, torrent_id: str) -> None:
    """Run a command on torrent TORRENT_ID."""
    ctx.obj = (ctx.obj, torrent_id)


def _act(ctx: click.Context, body: dict[str, Any], as_json: bool) -> None:
    api, given = ctx.obj
    torrent_id = _resolve(api, given)
    answer = _request(api, "POST", f"/v1/torrents/{torrent_id}/action", body)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    elif answer.get("removed"):
        click.echo(f"{torrent_id} removed")
    else:
        click.echo(f"{torrent_id} {answer['state']}")


_json_flag = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _simple_action(name: str, summary: str) -> None:
    @action.command(name=name, help=summary)
    @_json_flag
    @click.pass_context
    def command(ctx: click.Context, as_json: bool) -> None:
        _act(ctx, {"type": name}, as_json)


_simple_action("pause", "Stop transferring; stays paused across restarts.")
_simple_action("resume", "Start transferring again.")
_simple_action("recheck", "Verify the data on disk against the piece hashes.")
_simple_action("reannounce", "Announce to every tracker now.")


@action.command()
@click.option("--delete-data", is_flag=True, help="Also delete the downloaded files.")
@_json_flag
@click.pass_context
def remove(ctx: click.Context, delete_data: bool, as_json: bool) -> None:
    """Forget the torrent (and, with --delete-data, its files)."""
    _act(ctx, {"type": "remove", "delete_data": delete_data}, as_json)


@action.command()
@click.option("--enable/--disable", required=True)
@_json_flag
@click.pass_context
def sequential(ctx: click.Context, enable: bool, as_json: bool) -> None:
    """Download pieces in order (for watching while downloading)."""
    _act(ctx, {"type": "sequential", "enable": enable}, as_json)


@action.command()
@click.option("--download", type=int, default=None, help="Bytes/s; 0 = unlimited.")
@click.option("--upload", type=int, default=None, help="Bytes/s; 0 = unlimited.")
@_json_flag
@click.pass_context
def rate(
    ctx: click.Context, download: int | None, upload: int | None, as_json: bool
) -> None:
    """Set per-torrent rate limits."""
    body: dict[str, Any] = {"type": "rate"}
    if download is not None:
        body["download_limit"] = download
    if upload is not None:
        body["upload_limit"] = upload
    _act(ctx, body, as_json)


@action.command()
@click.argument("name", required=False)
@_json_flag
@click.pass_context
def category(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Set the category; without NAME, clear it."""
    _act(ctx, {"type": "category", "category": name}, as_json)


@action.command()
@click.argument("names", nargs=-1)
@_json_flag
@click.pass_context
def tags(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """Replace the tags with NAMES (none clears them)."""
    _act(ctx, {"type": "tags", "tags": list(names)}, as_json)


@action.command(name="move")
@click.argument("save_path")
@_json_flag
@click.pass_context
def move_storage(ctx: click.Context, save_path: str, as_json: bool) -> None:
    """Move the payload to SAVE_PATH (inside the downloads or library folder)."""
    _act(ctx, {"type": "move", "save_path": save_path}, as_json)


@action.command(name="force-start")
@click.option("--enable/--disable", default=True)
@_json_flag
@click.pass_context
def force_start(ctx: click.Context, enable: bool, as_json: bool) -> None:
    """Start now, outside the queue limits (--disable returns it to the queue)."""
    _act(ctx, {"type": "force_start", "enable": enable}, as_json)


@action.command()
@click.argument("move", type=click.Choice(["top", "bottom", "up", "down"]))
@_json_flag
@click.pass_context
def priority(ctx: click.Context, move: str, as_json: bool) -> None:
    """Move the torrent in the download queue."""
    _act(ctx, {"type": "priority", "move": move}, as_json)


@main.group()
def settings() -> None:
    """Show or change the daemon's global settings."""


@settings.command(name="get")
@_json_flag
@click.pass_obj
def settings_get(api: Api, as_json: bool) -> None:
    """Print the settings in effect."""
    current = _request(api, "GET", "/v1/settings")
    if as_json:
        click.echo(json.dumps(current, indent=2))
        return
    for key, value in current.items():
        console.print(f"[bold]{key}[/bold] = {json.dumps(value)}", highlight=False)


@settings.command(name="set")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@_json_flag
@click.pass_obj
def settings_set(api: Api, assignments: tuple[str, ...], as_json: bool) -> None:
    """Change settings; VALUE is JSON (true, 3, null, "text") or plain text."""
    body: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            _fail(EXIT_BAD_INPUT, f"expected KEY=VALUE, got {item!r}")
        try:
            body[key] = json.loads(raw)
        except ValueError:
            body[key] = raw
    updated = _request(api, "PATCH", "/v1/settings", body)
    if as_json:
        click.echo(json.dumps(updated, indent=2))
    else:
        click.echo("settings updated: " + ", ".join(sorted(body)))


@main.command()
@click.argument("torrent_id")
@click.option("--include", multiple=True, help="Glob of files to download.")
@click.option("--exclude", multiple=True, help="Glob of files to skip.")
@click.option("--skip-fluff", is_flag=True, help="Skip samples, .nfo, .txt and such.")
@click.option(
    "--priority",
    "priorities",
    multiple=True,
    metavar="GLOB_OR_INDEX=LEVEL",
    help="skip, low, normal or high for matching files; later ones win.",
)
@_json_flag
@click.pass_obj
def select(
    api: Api,
    torrent_id: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    skip_fluff: bool,
    priorities: tuple[str, ...],
    as_json: bool,
) -> None:
    """Choose which files of a torrent to download (replaces earlier choices)."""
    rules = []
    for item in priorities:
        target, sep, level = item.rpartition("=")
        if not sep or not target:
            _fail(EXIT_BAD_INPUT, f"--priority takes GLOB=LEVEL or INDEX=LEVEL: {item}")
        key = "index" if target.isdigit() else "glob"
        rules.append(
            {key: int(target) if key == "index" else target, "priority": level}
        )
    body = {
        "include": list(include),
        "exclude": list(exclude),
        "skip_fluff": skip_fluff,
        "priorities": rules,
    }
    resolved = _resolve(api, torrent_id)
    t = _request(api, "POST", f"/v1/torrents/{resolved}/select", body)
    if as_json:
        click.echo(json.dumps(t, indent=2))
        return
    for f in t["files"]:
        console.print(f"{f['priority']:>6}  {f['path']}", highlight=False, markup=False)


@main.command()
@click.option("--kind", "kinds", multiple=True, help="Only these kinds of event.")
@click.option("--torrent", default=None, help="Only this torrent's events.")
@click.option(
    "--resume-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Keeps the last event id here, and starts after it.",
)
@click.option("--count", type=int, default=None, help="Stop after this many events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def tail(
    api: Api,
    kinds: tuple[str, ...],
    torrent: str | None,
    resume_file: Path | None,
    count: int | None,
    as_json: bool,
) -> None:
    """Follow the daemon's live events; reconnects without losing any."""
    query: dict[str, str] = {}
    if kinds:
        query["kind"] = ",".join(kinds)
    if torrent:
        query["torrent"] = _resolve(api, torrent)
    path = "/v1/events?" + urllib.parse.urlencode(query)
    last_id = _read_resume_file(resume_file)
    shown = 0
    delay = 1.0
    while True:
        try:
            for event in _follow(api, path, last_id):
                delay = 1.0
                last_id = event.id or last_id
                _print_event(event, as_json)
                _write_resume_file(resume_file, last_id)
                shown += 1
                if count is not None and shown >= count:
                    return
        except KeyboardInterrupt:
            return
        except OSError as exc:
            errors.print(
                f"revaer: event stream lost ({exc}); reconnecting in {delay:.0f} s",
                markup=False,
                highlight=False,
            )
        try:
            time.sleep(delay)
        except KeyboardInterrupt:
            return
        delay = min(delay * 2, TAIL_MAX_DELAY)


def _follow(api: Api, path: str, last_id: str | None) -> Iterator[StreamEvent]:
    headers = _headers(api)
    headers["Accept"] = "text/event-stream"
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    request = urllib.request.Request(api.url + path, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TAIL_READ_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise OSError(f"{exc.code}: {_problem_detail(exc)}") from None
        _fail(EXIT_BAD_INPUT, f"{exc.code}: {_problem_detail(exc)}")
    with response:
        yield from parse_stream(response)
    raise OSError("the daemon closed the stream")


def _print_event(event: StreamEvent, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(event.data))
        return
    data = event.data if isinstance(event.data, dict) else {"data": event.data}
    at = datetime.fromtimestamp(data.get("at", time.time())).strftime("%H:%M:%S")
    hidden = {"id", "kind", "at", "torrent_id"}
    details = " ".join(f"{k}={v}" for k, v in data.items() if k not in hidden)
    who = (data.get("torrent_id") or "-")[:12]
    console.print(
        f"{at} {event.kind:<16} {who:<12} {details}", highlight=False, markup=False
    )


def _read_resume_file(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        _fail(EXIT_BAD_INPUT, f"cannot read {path}: {exc.strerror}")


def _write_resume_file(path: Path | None, last_id: str | None) -> None:
    if path is None or last_id is None:
        return
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(last_id + "\n")
        partial.replace(path)
    except OSError as exc:
        _fail(EXIT_BAD_INPUT, f"cannot write {path}: {exc.strerror}")


@main.group()
def keys() -> None:
    """Issue, list and revoke API keys."""


@keys.command(name="issue")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def keys_issue(api: Api, name: str, as_json: bool) -> None:
    """Issue a key named NAME; the key is printed once and never again."""
    issued = _request(api, "POST", "/v1/keys", {"name": name})
    if as_json:
        click.echo(json.dumps(issued, indent=2))
    else:
        click.echo(issued["key"])


@keys.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def keys_list(api: Api, as_json: bool) -> None:
    """List keys (never the keys themselves)."""
    items = _request(api, "GET", "/v1/keys")["items"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    table = Table("id", "name", "created", "revoked")
    for k in items:
        table.add_row(
            str(k["id"]), escape(k["name"]), k["created_at"], k["revoked_at"] or ""
        )
    console.print(table)


@keys.command(name="revoke")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def keys_revoke(api: Api, key_id: str, as_json: bool) -> None:
    """Revoke the key with id KEY_ID (see `keys list`)."""
    revoked = _request(api, "DELETE", f"/v1/keys/{urllib.parse.quote(key_id)}")
    if as_json:
        click.echo(json.dumps(revoked, indent=2))
    else:
        click.echo(f"key {revoked['id']} ({revoked['name']}) revoked")


def _resolve(api: Api, given: str) -> str:
    """A full id, or the one torrent whose id starts with the given prefix."""
    given = given.strip().lower()
    if len(given) == 40 or len(given) < 4:
        return given
    ids = [t["id"] for t in _all_torrents(api, {})]
    matches = [i for i in ids if i.startswith(given)]
    if len(matches) > 1:
        _fail(
            EXIT_BAD_INPUT,
            f"{given} matches {len(matches)} torrents; give more of the id",
        )
    return matches[0] if matches else given


def _request(api: Api, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        api.url + path, data=data, method=method, headers=_headers(api)
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = _problem_detail(exc)
        code = EXIT_BAD_INPUT if 400 <= exc.code < 500 else EXIT_RUNTIME
        _fail(code, f"{exc.code}: {detail}")
    except (urllib.error.URLError, OSError) as exc:
        _fail(EXIT_RUNTIME, f"cannot reach the daemon at {api.url}: {exc}")


def _headers(api: Api) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api.key is not None:
        headers["Authorization"] = f"Bearer {api.key}"
    return headers


def _problem_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read())
        return str(body.get("detail") or body.get("title"))
    except (ValueError, AttributeError):
        return exc.reason


def _fail(code: int, message: str) -> NoReturn:
    errors.print(f"revaer: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)
