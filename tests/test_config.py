"""revaer.toml: explicit values win, mistakes are named, defaults live in the
data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from revaer_actors.config import load_config, parse_listen
from revaer_actors.errors import ConfigError


def test_defaults_live_in_the_data_directory(tmp_path: Path) -> None:
    config = load_config(tmp_path)

    assert config.downloads_dir == tmp_path.resolve() / "downloads"
    assert config.library_dir == tmp_path.resolve() / "library"
    assert (config.api_host, config.api_port) == ("127.0.0.1", 7070)
    assert config.database_url is None


def test_the_command_line_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "revaer.toml").write_text(
        'api_listen = "127.0.0.1:9000"\nlibrary_dir = "/srv/media"\n'
    )

    config = load_config(tmp_path, api_listen="127.0.0.1:9100")

    assert config.api_port == 9100
    assert config.library_dir == Path("/srv/media")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('api_listne = "x"\n', "unknown key in .*: api_listne"),
        ("[engine]\ndht = false\napi_listen = 'x'\n", "unknown key in \\[engine\\]"),
        ("[engine]\ndht = 'no'\n", "dht must be true or false"),
        ("api_listen = \n", "cannot read"),
    ],
)
def test_a_bad_file_is_refused_with_a_message_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "revaer.toml").write_text(text)

    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


@pytest.mark.parametrize("value", ["7070", "host:", ":80", "host:99999", "h:x"])
def test_a_listen_address_needs_host_and_port(value: str) -> None:
    with pytest.raises(ConfigError):
        parse_listen(value)


def test_an_ipv6_listen_address_is_accepted() -> None:
    assert parse_listen("[::1]:7070") == ("::1", 7070)
