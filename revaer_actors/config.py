"""The daemon's settings: command line and environment, then revaer.toml, then
defaults. The config file lives at `<data-dir>/revaer.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revaer_actors.errors import ConfigError

DEFAULT_API_LISTEN = "127.0.0.1:7070"
DEFAULT_BT_LISTEN = "0.0.0.0:6881"
CONFIG_FILE = "revaer.toml"
_TOP_KEYS = {
    "database_url",
    "api_listen",
    "bt_listen",
    "downloads_dir",
    "library_dir",
    "engine",
}
_ENGINE_KEYS = {"dht", "lsd", "upnp", "natpmp", "allow_multiple_connections_per_ip"}


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str | None
    api_host: str
    api_port: int
    bt_listen: str
    downloads_dir: Path
    library_dir: Path
    engine: dict[str, bool] = field(default_factory=dict)

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "postgres"


def load_config(
    data_dir: Path,
    *,
    database_url: str | None = None,
    api_listen: str | None = None,
    bt_listen: str | None = None,
    downloads_dir: Path | None = None,
    library_dir: Path | None = None,
) -> Config:
    """Merges explicit values (command line or environment) over the config file."""
    data_dir = data_dir.expanduser().resolve()
    file = _read_file(data_dir / CONFIG_FILE)
    host, port = parse_listen(api_listen or file.get("api_listen", DEFAULT_API_LISTEN))

    return Config(
        data_dir=data_dir,
        database_url=database_url or file.get("database_url"),
        api_host=host,
        api_port=port,
        bt_listen=bt_listen or file.get("bt_listen", DEFAULT_BT_LISTEN),
        downloads_dir=_dir(
            downloads_dir, file.get("downloads_dir"), data_dir, "downloads"
        ),
        library_dir=_dir(library_dir, file.get("library_dir"), data_dir, "library"),
        engine=_engine(file.get("engine", {})),
    )


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"listen address must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc

    unknown = sorted(set(table) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key in {path}: {unknown[0]} (top-level keys go above [engine])"
        )
    return table


def _dir(explicit: Path | None, configured: Any, data_dir: Path, default: str) -> Path:
    chosen = explicit or (Path(configured) if configured else data_dir / default)
    return chosen.expanduser().resolve()


def _engine(table: Any) -> dict[str, bool]:
    if not isinstance(table, dict):
        raise ConfigError("[engine] in revaer.toml must be a table")
    unknown = set(table) - _ENGINE_KEYS
    if unknown:
        raise ConfigError(f"unknown key in [engine]: {sorted(unknown)[0]}")
    for key, value in table.items():
        if not isinstance(value, bool):
            raise ConfigError(f"[engine] {key} must be true or false")
    return dict(table)
