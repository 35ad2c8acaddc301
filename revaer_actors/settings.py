"""Global settings: engine options, queueing limits and seeding goals.

They come from the defaults here, then `revaer.toml` (`[engine]`, `[seeding]`
and `[categories.NAME]` tables), then what `PATCH /v1/settings` stored in the
database, which wins. The API speaks the flat names of `Settings`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import libtorrent as lt

from revaer_actors.errors import ConfigError, InvalidInput
from revaer_actors.sources import (
    parse_label,
    parse_minutes,
    parse_rate_limit,
    parse_ratio_limit,
)

ENCRYPTION = {
    "enabled": lt.enc_policy.pe_enabled,
    "forced": lt.enc_policy.pe_forced,
    "disabled": lt.enc_policy.pe_disabled,
}
GOAL_ACTIONS = ("pause", "remove")


@dataclass(frozen=True)
class Goals:
    """A seeding goal: ratio and/or minutes seeded. None means 'inherit'."""

    ratio_limit: float | None = None
    seeding_time_limit: int | None = None


@dataclass(frozen=True)
class Settings:
    listen: str = "0.0.0.0:6881"
    download_limit: int | None = None
    upload_limit: int | None = None
    dht: bool = True
    pex: bool = True
    lsd: bool = True
    upnp: bool = True
    natpmp: bool = True
    encryption: str = "enabled"
    allow_multiple_connections_per_ip: bool = False
    limit_lan_peers: bool = True
    max_active_downloads: int = -1
    max_active_seeds: int = -1
    ratio_limit: float | None = None
    seeding_time_limit: int | None = None
    goal_action: str = "pause"
    categories: dict[str, Goals] = field(default_factory=dict)

    def engine_pack(self) -> dict[str, Any]:
        """The libtorrent settings_pack entries these settings decide."""
        unlimited = -1
        policy = int(ENCRYPTION[self.encryption])
        return {
            "listen_interfaces": self.listen,
            "download_rate_limit": self.download_limit or 0,
            "upload_rate_limit": self.upload_limit or 0,
            "enable_dht": self.dht,
            "enable_lsd": self.lsd,
            "enable_upnp": self.upnp,
            "enable_natpmp": self.natpmp,
            "out_enc_policy": policy,
            "in_enc_policy": policy,
            "allow_multiple_connections_per_ip": self.allow_multiple_connections_per_ip,
            # As qBittorrent's default: rate limits hold for LAN peers too.
            "ignore_limits_on_local_network": not self.limit_lan_peers,
            "active_downloads": self.max_active_downloads,
            "active_seeds": self.max_active_seeds,
            # libtorrent caps all active torrents at 500 by default; the two
            # limits above are the only ones a user sets here.
            "active_limit": unlimited,
            # Counting idle torrents makes the limits mean what they say.
            "dont_count_slow_torrents": False,
        }

    def goals_for(self, category: str | None, own: Goals) -> Goals:
        """The torrent's own goal, else its category's, else the global one."""
        by_category = self.categories.get(category or "", Goals())
        return Goals(
            ratio_limit=_first(
                own.ratio_limit, by_category.ratio_limit, self.ratio_limit
            ),
            seeding_time_limit=_first(
                own.seeding_time_limit,
                by_category.seeding_time_limit,
                self.seeding_time_limit,
            ),
        )

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["categories"] = {
            name: asdict(goals) for name, goals in sorted(self.categories.items())
        }
        return data


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"listen address must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def from_file(table: dict[str, Any]) -> Settings:
    """Settings from the parsed revaer.toml (ConfigError names a bad key)."""
    flat: dict[str, Any] = {}
    if "bt_listen" in table:
        flat["listen"] = table["bt_listen"]
    engine = _section(table, "engine")
    stray = sorted(set(engine) - _ENGINE_KEYS)
    if stray:
        raise ConfigError(f"unknown key in [engine]: {stray[0]}")
    flat.update(engine)
    seeding = _section(table, "seeding")
    stray = sorted(set(seeding) - {"ratio_limit", "seeding_time_limit", "action"})
    if stray:
        raise ConfigError(f"unknown key in [seeding]: {stray[0]}")
    if "action" in seeding:
        seeding["goal_action"] = seeding.pop("action")
    flat.update(seeding)
    if "categories" in table:
        flat["categories"] = table["categories"]
    try:
        return apply_patch(Settings(), flat)
    except InvalidInput as exc:
        raise ConfigError(f"revaer.toml: {exc.detail}") from None


def _section(table: dict[str, Any], name: str) -> dict[str, Any]:
    section = table.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"[{name}] in revaer.toml must be a table")
    return dict(section)


_ENGINE_KEYS = {
    "dht",
    "pex",
    "lsd",
    "upnp",
    "natpmp",
    "encryption",
    "allow_multiple_connections_per_ip",
    "limit_lan_peers",
    "download_limit",
    "upload_limit",
    "max_active_downloads",
    "max_active_seeds",
}
_BOOLS = {
    "dht",
    "pex",
    "lsd",
    "upnp",
    "natpmp",
    "allow_multiple_connections_per_ip",
    "limit_lan_peers",
}
_NAMES = {f.name for f in fields(Settings)}
# libtorrent keeps these counts in a 32-bit int.
MAX_ACTIVE = 2**31 - 1


def apply_patch(current: Settings, body: Any) -> Settings:
    """Validates a partial update (the PATCH body) and returns the new settings."""
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object", field="")
    unknown = sorted(set(body) - _NAMES)
    if unknown:
        raise InvalidInput(f"unknown setting {unknown[0]!r}", field=f"/{unknown[0]}")

    changes = {name: _value(name, value) for name, value in body.items()}
    return replace(current, **changes)


def _value(name: str, value: Any) -> Any:
    pointer = f"/{name}"
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false", field=pointer)
        return value
    if name == "listen":
        if not isinstance(value, str):
            raise InvalidInput("listen must be HOST:PORT", field=pointer)
        try:
            parse_listen(value)
        except ConfigError as exc:
            raise InvalidInput(str(exc), field=pointer) from None
        return value
    if name in ("download_limit", "upload_limit"):
        return parse_rate_limit(value, pointer)
    if name == "encryption":
        if value not in ENCRYPTION:
            raise InvalidInput(
                "encryption must be enabled, forced or disabled", field=pointer
            )
        return value
    if name in ("max_active_downloads", "max_active_seeds"):
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not -1 <= value <= MAX_ACTIVE
        ):
            raise InvalidInput(
                f"{name} must be -1 (no limit) or a whole number up to {MAX_ACTIVE}",
                field=pointer,
            )
        return value
    if name == "ratio_limit":
        return parse_ratio_limit(value, pointer)
    if name == "seeding_time_limit":
        return parse_minutes(value, pointer)
    if name == "goal_action":
        if value not in GOAL_ACTIONS:
            raise InvalidInput("goal_action must be pause or remove", field=pointer)
        return value
    return _categories(value, pointer)


def _categories(value: Any, pointer: str) -> dict[str, Goals]:
    if not isinstance(value, dict):
        raise InvalidInput("categories must be an object of goals", field=pointer)
    result = {}
    for name, goals in value.items():
        label = parse_label(name, f"{pointer}/{name}")
        if not isinstance(goals, dict) or set(goals) - {
            "ratio_limit",
            "seeding_time_limit",
        }:
            raise InvalidInput(
                "a category takes ratio_limit and seeding_time_limit",
                field=f"{pointer}/{name}",
            )
        result[label] = Goals(
            ratio_limit=parse_ratio_limit(
                goals.get("ratio_limit"), f"{pointer}/{name}/ratio_limit"
            ),
            seeding_time_limit=parse_minutes(
                goals.get("seeding_time_limit"),
                f"{pointer}/{name}/seeding_time_limit",
            ),
        )
    return result


def overrides(base: Settings, effective: Settings) -> dict[str, Any]:
    """What differs from the file's settings: the part the database keeps."""
    ours, theirs = effective.as_json(), base.as_json()
    return {k: v for k, v in ours.items() if theirs.get(k) != v}


@dataclass(frozen=True)
class GoalDecision:
    action: str
    reason: str


def goal_reached(
    goals: Goals, ratio: float, seeded_minutes: float, action: str
) -> GoalDecision | None:
    """Whether a seeding torrent has met its goal; -1 and None never trigger."""
    limit = goals.ratio_limit
    if limit is not None and limit >= 0 and ratio >= limit:
        return GoalDecision(action, f"ratio {ratio:.2f} reached its limit {limit:g}")
    minutes = goals.seeding_time_limit
    if minutes is not None and minutes >= 0 and seeded_minutes >= minutes:
        return GoalDecision(
            action, f"seeded {seeded_minutes:.0f} min, its limit is {minutes}"
        )
    return None
