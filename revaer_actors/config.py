"""The daemon's settings: command line and environment, then revaer.toml, then
defaults. The config file lives at `<data-dir>/revaer.toml`."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from revaer_actors.errors import ConfigError, InvalidInput
from revaer_actors.policy import FsOpsSettings, settings_from_file
from revaer_actors.settings import Settings, from_file, parse_listen

DEFAULT_API_LISTEN = "127.0.0.1:7070"
CONFIG_FILE = "revaer.toml"
_TOP_KEYS = {
    "database_url",
    "api_listen",
    "api_auth",
    "bt_listen",
    "downloads_dir",
    "library_dir",
    "qbittorrent",
    "engine",
    "seeding",
    "categories",
    "fsops",
}


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str | None
    api_host: str
    api_port: int
    downloads_dir: Path
    library_dir: Path
    qbittorrent: QbittorrentCredentials = field(
        default_factory=lambda: QbittorrentCredentials()
    )
    settings: Settings = field(default_factory=Settings)
    fsops: FsOpsSettings = field(default_factory=FsOpsSettings)
    api_auth: bool = True

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
    api_auth = _api_auth(file.get("api_auth", True), host)

    return Config(
        data_dir=data_dir,
        database_url=database_url or file.get("database_url"),
        api_host=host,
        api_port=port,
        downloads_dir=_dir(
            downloads_dir, file.get("downloads_dir"), data_dir, "downloads"
        ),
        library_dir=_dir(library_dir, file.get("library_dir"), data_dir, "library"),
        qbittorrent=parse_credentials(file.get("qbittorrent", {})),
        settings=_settings(file, bt_listen),
        fsops=_fsops(file),
        api_auth=api_auth,
    )


def _fsops(file: dict[str, Any]) -> FsOpsSettings:
    try:
        return settings_from_file(file.get("fsops"))
    except InvalidInput as exc:
        raise ConfigError(f"revaer.toml: {exc.detail}") from None


def _api_auth(value: Any, host: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"api_auth must be true or false, not {value!r}")
    if not value and not _is_loopback(host):
        raise ConfigError(
            f"refusing to serve the API on {host} without authentication: "
            "anyone who can reach it could control the daemon; "
            "set api_auth = true or listen on 127.0.0.1"
        )
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


def _settings(file: dict[str, Any], bt_listen: str | None) -> Settings:
    settings = from_file(file)
    if bt_listen:
        parse_listen(bt_listen)
        settings = replace(settings, listen=bt_listen)
    return settings


@dataclass(frozen=True)
class QbittorrentCredentials:
    """`[qbittorrent]`: who may use /api/v2; no password means generate one."""

    username: str = "admin"
    password: str | None = field(default=None, repr=False)


def parse_credentials(table: Any) -> QbittorrentCredentials:
    if not isinstance(table, dict):
        raise ConfigError("[qbittorrent] in revaer.toml must be a table")
    stray = sorted(set(table) - {"username", "password"})
    if stray:
        raise ConfigError(f"unknown key in [qbittorrent]: {stray[0]}")
    username = table.get("username", "admin")
    password = table.get("password")
    if not isinstance(username, str) or not username or ":" in username:
        raise ConfigError(
            "[qbittorrent] username must be a non-empty string without ':'"
        )
    if password is not None and (not isinstance(password, str) or not password):
        raise ConfigError("[qbittorrent] password must be a non-empty string")
    return QbittorrentCredentials(username=username, password=password)
