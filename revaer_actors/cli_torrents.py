"""`revaer add`, `ls`, `status`, `select` and `action`: the commands on
torrents."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from revaer_actors.cli_common import (
    EXIT_BAD_INPUT,
    EXIT_RUNTIME,
    PAGE_SIZE,
    Api,
    all_torrents,
    console,
    errors,
    fail,
    json_flag,
    request_json,
    resolve_id,
)
from revaer_actors.domain import JobStatus

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


WAIT_POLL_SECONDS = 0.5


# Job statuses after which the files are where they belong.
FILED_STATUSES = (JobStatus.MOVED.value, JobStatus.SKIPPED.value)


@click.command()
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
        fail(EXIT_BAD_INPUT, "give a magnet link or a .torrent file to add")
    if paused and wait:
        fail(EXIT_BAD_INPUT, "--wait waits for the download, which --paused holds")
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
            fail(EXIT_BAD_INPUT, f"cannot read {source}: {exc.strerror}")
        body["metainfo"] = base64.b64encode(data).decode("ascii")

    answer = request_json(api, "POST", "/v1/torrents", body)
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
            t = request_json(api, "GET", f"/v1/torrents/{torrent_id}")
            if t["state"] == "failed":
                fail(EXIT_RUNTIME, f"{torrent_id} failed: {t['state_message']}")
            bar.update(task, completed=t["progress"], description=t["state"])
            job = _latest_job(api, torrent_id) if t["completed_at"] else None
            if job is not None and job["status"] == "failed":
                fail(EXIT_RUNTIME, f"filing {torrent_id} failed: {job['last_error']}")
            if job is not None and job["status"] in FILED_STATUSES:
                break
            if job is not None:
                bar.update(task, description=f"filing ({job['stage']})")
            time.sleep(WAIT_POLL_SECONDS)
    t = request_json(api, "GET", f"/v1/torrents/{torrent_id}")
    click.echo(f"filed into {t['library_path'] or t['save_path']}", err=True)
    return t, job


def _latest_job(api: Api, torrent_id: str) -> dict[str, Any] | None:
    items = request_json(api, "GET", f"/v1/fs-jobs?torrent_id={torrent_id}")["items"]
    return items[-1] if items else None


@click.command(name="ls")
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
    items = all_torrents(api, query, page_size)
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


@click.command()
@click.argument("torrent_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(api: Api, torrent_id: str, as_json: bool) -> None:
    """Show one torrent."""
    t = request_json(api, "GET", f"/v1/torrents/{resolve_id(api, torrent_id)}")
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


@click.group()
@click.argument("torrent_id")
@click.pass_context
def action(ctx: click.Context, torrent_id: str) -> None:
    """Run a command on torrent TORRENT_ID."""
    ctx.obj = (ctx.obj, torrent_id)


def _act(ctx: click.Context, body: dict[str, Any], as_json: bool) -> None:
    api, given = ctx.obj
    torrent_id = resolve_id(api, given)
    answer = request_json(api, "POST", f"/v1/torrents/{torrent_id}/action", body)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    elif answer.get("removed"):
        click.echo(f"{torrent_id} removed")
    else:
        click.echo(f"{torrent_id} {answer['state']}")


def _simple_action(name: str, summary: str) -> None:
    @action.command(name=name, help=summary)
    @json_flag
    @click.pass_context
    def command(ctx: click.Context, as_json: bool) -> None:
        _act(ctx, {"type": name}, as_json)


_simple_action("pause", "Stop transferring; stays paused across restarts.")


_simple_action("resume", "Start transferring again.")


_simple_action("recheck", "Verify the data on disk against the piece hashes.")


_simple_action("reannounce", "Announce to every tracker now.")


@action.command()
@click.option("--delete-data", is_flag=True, help="Also delete the downloaded files.")
@json_flag
@click.pass_context
def remove(ctx: click.Context, delete_data: bool, as_json: bool) -> None:
    """Forget the torrent (and, with --delete-data, its files)."""
    _act(ctx, {"type": "remove", "delete_data": delete_data}, as_json)


@action.command()
@click.option("--enable/--disable", required=True)
@json_flag
@click.pass_context
def sequential(ctx: click.Context, enable: bool, as_json: bool) -> None:
    """Download pieces in order (for watching while downloading)."""
    _act(ctx, {"type": "sequential", "enable": enable}, as_json)


@action.command()
@click.option("--download", type=int, default=None, help="Bytes/s; 0 = unlimited.")
@click.option("--upload", type=int, default=None, help="Bytes/s; 0 = unlimited.")
@json_flag
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
@json_flag
@click.pass_context
def category(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Set the category; without NAME, clear it."""
    _act(ctx, {"type": "category", "category": name}, as_json)


@action.command()
@click.argument("names", nargs=-1)
@json_flag
@click.pass_context
def tags(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """Replace the tags with NAMES (none clears them)."""
    _act(ctx, {"type": "tags", "tags": list(names)}, as_json)


@action.command(name="move")
@click.argument("save_path")
@json_flag
@click.pass_context
def move_storage(ctx: click.Context, save_path: str, as_json: bool) -> None:
    """Move the payload to SAVE_PATH (inside the downloads or library folder)."""
    _act(ctx, {"type": "move", "save_path": save_path}, as_json)


@action.command(name="force-start")
@click.option("--enable/--disable", default=True)
@json_flag
@click.pass_context
def force_start(ctx: click.Context, enable: bool, as_json: bool) -> None:
    """Start now, outside the queue limits (--disable returns it to the queue)."""
    _act(ctx, {"type": "force_start", "enable": enable}, as_json)


@action.command()
@click.argument("move", type=click.Choice(["top", "bottom", "up", "down"]))
@json_flag
@click.pass_context
def priority(ctx: click.Context, move: str, as_json: bool) -> None:
    """Move the torrent in the download queue."""
    _act(ctx, {"type": "priority", "move": move}, as_json)


@click.command()
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
@json_flag
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
            fail(EXIT_BAD_INPUT, f"--priority takes GLOB=LEVEL or INDEX=LEVEL: {item}")
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
    resolved = resolve_id(api, torrent_id)
    t = request_json(api, "POST", f"/v1/torrents/{resolved}/select", body)
    if as_json:
        click.echo(json.dumps(t, indent=2))
        return
    for f in t["files"]:
        console.print(f"{f['priority']:>6}  {f['path']}", highlight=False, markup=False)
