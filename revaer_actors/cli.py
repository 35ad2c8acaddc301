"""The `revaer` command: runs the daemon and talks to its API.

The commands live by role in `cli_torrents`, `cli_jobs`, `cli_tail` and
`cli_admin`, and what they share in `cli_common`; this module is the entry point
and registers them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from revaer_actors import __version__
from revaer_actors.auth import read_key_file
from revaer_actors.cli_admin import keys, settings
from revaer_actors.cli_common import EXIT_BAD_INPUT, EXIT_RUNTIME, Api, fail
from revaer_actors.cli_jobs import jobs
from revaer_actors.cli_tail import tail
from revaer_actors.cli_torrents import action, add, list_torrents, select, status
from revaer_actors.errors import AlreadyRunning, ConfigError


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
        fail(EXIT_BAD_INPUT, str(exc))
    try:
        run_daemon(config)
    except AlreadyRunning as exc:
        fail(EXIT_RUNTIME, str(exc))


for command in (add, list_torrents, status, select, action, jobs, tail, settings, keys):
    main.add_command(command)
