"""`revaer tail`: the daemon's live events, followed across reconnections."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click

from revaer_actors.cli_common import (
    EXIT_BAD_INPUT,
    Api,
    console,
    errors,
    fail,
    headers_for,
    problem_detail,
    resolve_id,
)
from revaer_actors.sse import StreamEvent, parse_stream

TAIL_READ_TIMEOUT = 60.0


TAIL_MAX_DELAY = 30.0


@click.command()
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
        query["torrent"] = resolve_id(api, torrent)
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
    headers = headers_for(api)
    headers["Accept"] = "text/event-stream"
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    request = urllib.request.Request(api.url + path, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TAIL_READ_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise OSError(f"{exc.code}: {problem_detail(exc)}") from None
        fail(EXIT_BAD_INPUT, f"{exc.code}: {problem_detail(exc)}")
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
        fail(EXIT_BAD_INPUT, f"cannot read {path}: {exc.strerror}")


def _write_resume_file(path: Path | None, last_id: str | None) -> None:
    if path is None or last_id is None:
        return
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(last_id + "\n")
        partial.replace(path)
    except OSError as exc:
        fail(EXIT_BAD_INPUT, f"cannot write {path}: {exc.strerror}")
