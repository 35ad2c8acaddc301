"""Post-processing policy: what FsOps does with a finished download, and where.

The policy comes from `[fsops]` in revaer.toml, then `[fsops.categories.NAME]`
for the torrent's category, then the `fsops` object given when the torrent was
added; each layer names only the keys it changes. Everything is validated when
it is read, so a bad key is refused at load (or with a 400), never mid-job.
"""

from __future__ import annotations

import grp
import pwd
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from revaer_actors.errors import InvalidInput

TRANSFERS = ("move", "copy", "hardlink", "hardlink_or_copy")
VERIFY = ("size", "hash")
CONFLICTS = ("fail", "rename", "skip_identical")
TEMPLATE_FIELDS = ("name", "category", "info_hash", "tags", "added")
MAX_TEMPLATE_CHARS = 512

_FIELD = re.compile(r"\{(\w*)(?::([^{}]*))?\}|\{\{|\}\}|[{}]")


@dataclass(frozen=True)
class Policy:
    template: str = "{category}/{name}"
    transfer: str = "move"
    extract: bool = False
    flatten: bool = False
    skip_fluff: bool = False
    cleanup_keep: tuple[str, ...] = ()
    cleanup_drop: tuple[str, ...] = ()
    chmod_file: int | None = None
    chmod_dir: int | None = None
    umask: int | None = None
    owner: str | None = None
    group: str | None = None
    on_conflict: str = "fail"
    verify: str = "size"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cleanup_keep"] = list(self.cleanup_keep)
        data["cleanup_drop"] = list(self.cleanup_drop)
        for key in ("chmod_file", "chmod_dir", "umask"):
            if data[key] is not None:
                data[key] = f"{data[key]:04o}"
        return data


POLICY_KEYS = frozenset(f.name for f in fields(Policy))


@dataclass(frozen=True)
class FsOpsSettings:
    """`[fsops]`: the default policy, the categories' changes, and the pool."""

    defaults: Policy = Policy()
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: int = 2
    retry_limit: int = 5
    retry_base_seconds: float = 30.0
    extract_max_bytes: int = 256 * 1024**3
    extract_max_ratio: float = 200.0

    def policy_for(self, category: str | None, own: dict[str, Any]) -> Policy:
        """The torrent's own keys over its category's over the defaults."""
        changes = {**self.categories.get(category or "", {}), **own}
        return check_combination(replace(self.defaults, **changes), "")


_GENERAL_KEYS = {
    "workers",
    "retry_limit",
    "retry_base_seconds",
    "extract_max_bytes",
    "extract_max_ratio",
}


def settings_from_file(table: Any) -> FsOpsSettings:
    """`[fsops]` from revaer.toml; InvalidInput names the offending key."""
    if table is None:
        return FsOpsSettings()
    if not isinstance(table, dict):
        raise InvalidInput("[fsops] must be a table", field="fsops")
    table = dict(table)
    categories = table.pop("categories", {})
    general = {k: table.pop(k) for k in list(table) if k in _GENERAL_KEYS}
    defaults = check_combination(
        replace(Policy(), **parse_changes(table, "fsops")), "fsops"
    )
    if not isinstance(categories, dict):
        raise InvalidInput("[fsops.categories] must be a table", field="fsops")
    by_category = {}
    for name, changes in categories.items():
        where = f"fsops.categories.{name}"
        by_category[name] = parse_changes(changes, where)
        check_combination(replace(defaults, **by_category[name]), where)
    return FsOpsSettings(defaults=defaults, categories=by_category, **_general(general))


def _general(values: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in values.items():
        where = f"fsops.{key}"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key in ("workers", "retry_limit", "extract_max_bytes"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInput(f"{where} must be a whole number", field=where)
            if key == "workers" and not 1 <= value <= 16:
                raise InvalidInput(f"{where} must be between 1 and 16", field=where)
        elif not number or value <= 0:
            raise InvalidInput(f"{where} must be a positive number", field=where)
        result[key] = value
    return result


def parse_changes(body: Any, where: str) -> dict[str, Any]:
    """Validates a partial policy (a TOML table or the API's `fsops` object).

    `where` names the table or JSON pointer so that messages name the key.
    """
    if not isinstance(body, dict):
        raise InvalidInput(f"{where} must be a table of policy keys", field=where)
    unknown = sorted(set(body) - POLICY_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown key {_key(where, unknown[0])}", field=_key(where, unknown[0])
        )
    return {
        name: _value(name, value, _key(where, name)) for name, value in body.items()
    }


def _key(where: str, name: str) -> str:
    if where.startswith("/") or not where:
        return f"{where}/{name}"
    return f"{where}.{name}"


def _value(name: str, value: Any, key: str) -> Any:
    if name in ("extract", "flatten", "skip_fluff"):
        if not isinstance(value, bool):
            raise InvalidInput(f"{key} must be true or false", field=key)
        return value
    if name == "transfer":
        return _choice(value, TRANSFERS, key)
    if name == "on_conflict":
        return _choice(value, CONFLICTS, key)
    if name == "verify":
        return _choice(value, VERIFY, key)
    if name == "template":
        check_template(value, key)
        return value
    if name in ("cleanup_keep", "cleanup_drop"):
        return _globs(value, key)
    if name in ("chmod_file", "chmod_dir", "umask"):
        return _mode(value, key)
    return _account(name, value, key)


def _choice(value: Any, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{key} must be one of {', '.join(allowed)}", field=key)
    return str(value)


def _globs(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 64:
        raise InvalidInput(f"{key} must be a list of at most 64 globs", field=key)
    for glob in value:
        if not isinstance(glob, str) or not glob or len(glob) > 256:
            raise InvalidInput(
                f"{key} holds a glob that is not a string of 1 to 256 characters",
                field=key,
            )
    return tuple(value)


def _mode(value: Any, key: str) -> int | None:
    """An octal string ("0644") or a TOML integer (0o644)."""
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3}", value):
        return int(value, 8)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o777:
        return value
    raise InvalidInput(f'{key} must be an octal mode such as "0644"', field=key)


def _account(name: str, value: Any, key: str) -> str | None:
    """A user or group that exists on this machine, by name or number."""
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidInput(f"{key} must be a {name} name or id", field=key)
    lookup = pwd.getpwnam if name == "owner" else grp.getgrnam
    by_id = pwd.getpwuid if name == "owner" else grp.getgrgid
    try:
        if isinstance(value, int) or value.isdigit():
            by_id(int(value))
        else:
            lookup(value)
    except (KeyError, OverflowError):
        raise InvalidInput(f"{key}: no {name} {value!r} here", field=key) from None
    return str(value)


def check_combination(policy: Policy, where: str) -> Policy:
    """Refuses keys that cannot work together once all layers are merged."""
    if policy.transfer != "move":
        return policy
    # libtorrent keeps seeding a moved torrent, so its files keep their names
    # and folders and none of them may be dropped.
    for key in ("flatten", "skip_fluff"):
        if getattr(policy, key):
            name = _key(where, key) if where else key
            raise InvalidInput(
                f"{name} needs transfer copy, hardlink or hardlink_or_copy: a moved "
                "torrent keeps seeding its own files from their own folders",
                field=name,
            )
    if policy.on_conflict == "rename":
        name = _key(where, "on_conflict") if where else "on_conflict"
        raise InvalidInput(
            f"{name} = rename needs transfer copy, hardlink or hardlink_or_copy: "
            "libtorrent keeps the torrent's own name when it moves it",
            field=name,
        )
    return policy


# Templates.


def check_template(value: Any, key: str = "template") -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{key} must be a non-empty string", field=key)
    if len(value) > MAX_TEMPLATE_CHARS or "\x00" in value:
        raise InvalidInput(
            f"{key} must be at most {MAX_TEMPLATE_CHARS} characters", field=key
        )
    if value.startswith("/"):
        raise InvalidInput(f"{key} must be relative to the library", field=key)
    # render() strips each segment, so " .. " is a parent folder too.
    if any(part.strip() in (".", "..") for part in value.split("/")):
        raise InvalidInput(
            f"{key} may not hold '.' or '..' as a folder: the path must stay "
            "inside the library",
            field=key,
        )
    for match in _FIELD.finditer(value):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name, spec = match.group(1), match.group(2)
        if name not in TEMPLATE_FIELDS:
            raise InvalidInput(
                f"{key}: unknown field {token!r}; fields are "
                + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS),
                field=key,
            )
        if spec is not None and name != "added":
            raise InvalidInput(
                f"{key}: only {{added}} takes a format, as in {{added:%Y}}", field=key
            )
        if spec is not None and ("/" in spec or not spec):
            raise InvalidInput(f"{key}: a date format may not hold '/'", field=key)


@dataclass(frozen=True)
class TemplateValues:
    name: str
    category: str | None
    info_hash: str
    tags: tuple[str, ...]
    added: datetime


def render(template: str, values: TemplateValues) -> tuple[str, ...]:
    """The template's path segments; empty ones (no category, no tags) vanish.

    A value can never add a segment: separators and control characters in it
    become "_", so `{name}` is one folder or file name whatever the torrent says.
    """

    def field_value(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name, spec = match.group(1), match.group(2)
        if name == "added":
            return _clean(values.added.strftime(spec or "%Y-%m-%d"))
        if name == "tags":
            return _clean(",".join(values.tags))
        if name == "category":
            return _clean(values.category or "")
        return _clean(getattr(values, name))

    check_template(template)
    segments = []
    # Split first, so that only the template's own slashes separate folders.
    for part in template.split("/"):
        rendered = _FIELD.sub(field_value, part).strip()
        if rendered:
            segments.append(rendered)
    return tuple(segments)


def _clean(value: str) -> str:
    return "".join(
        "_" if ch in "/\\" or ord(ch) < 32 or ord(ch) == 127 else ch for ch in value
    )


def confine(root: Path, segments: tuple[str, ...]) -> Path:
    """root/segments, refused unless it lies strictly inside root.

    resolve() follows symlinks already on disk, so a folder of the library that
    links elsewhere is refused too.
    """
    resolved_root = root.resolve()
    if not segments or any(s in (".", "..") or len(s.encode()) > 255 for s in segments):
        raise InvalidInput(f"destination {'/'.join(segments)!r} is not a usable path")
    path = resolved_root.joinpath(*segments)
    try:
        landing = path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise InvalidInput(f"destination {path} cannot be resolved: {exc}") from None
    if landing == resolved_root or not landing.is_relative_to(resolved_root):
        raise InvalidInput(f"destination {path} is outside the library {root}")
    return path
