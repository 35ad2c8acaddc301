"""`revaer settings` and `revaer keys`: the daemon's global settings and its API
keys."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from revaer_actors.cli_common import (
    EXIT_BAD_INPUT,
    Api,
    console,
    fail,
    json_flag,
    request_json,
)


@click.group()
def settings() -> None:
    """Show or change the daemon's global settings."""


@settings.command(name="get")
@json_flag
@click.pass_obj
def settings_get(api: Api, as_json: bool) -> None:
    """Print the settings in effect."""
    current = request_json(api, "GET", "/v1/settings")
    if as_json:
        click.echo(json.dumps(current, indent=2))
        return
    for key, value in current.items():
        console.print(f"[bold]{key}[/bold] = {json.dumps(value)}", highlight=False)


@settings.command(name="set")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@json_flag
@click.pass_obj
def settings_set(api: Api, assignments: tuple[str, ...], as_json: bool) -> None:
    """Change settings; VALUE is JSON (true, 3, null, "text") or plain text."""
    body: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(EXIT_BAD_INPUT, f"expected KEY=VALUE, got {item!r}")
        try:
            body[key] = json.loads(raw)
        except ValueError:
            body[key] = raw
    updated = request_json(api, "PATCH", "/v1/settings", body)
    if as_json:
        click.echo(json.dumps(updated, indent=2))
    else:
        click.echo("settings updated: " + ", ".join(sorted(body)))


@click.group()
def keys() -> None:
    """Issue, list and revoke API keys."""


@keys.command(name="issue")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def keys_issue(api: Api, name: str, as_json: bool) -> None:
    """Issue a key named NAME; the key is printed once and never again."""
    issued = request_json(api, "POST", "/v1/keys", {"name": name})
    if as_json:
        click.echo(json.dumps(issued, indent=2))
    else:
        click.echo(issued["key"])


@keys.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def keys_list(api: Api, as_json: bool) -> None:
    """List keys (never the keys themselves)."""
    items = request_json(api, "GET", "/v1/keys")["items"]
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
    revoked = request_json(api, "DELETE", f"/v1/keys/{urllib.parse.quote(key_id)}")
    if as_json:
        click.echo(json.dumps(revoked, indent=2))
    else:
        click.echo(f"key {revoked['id']} ({revoked['name']}) revoked")
