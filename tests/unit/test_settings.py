"""Settings precedence: a flag beats the environment, which beats the file, which beats
the built-in default (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config_types import ConfigError
from daemon.settings import build_settings, exposure_problem

FILE = """
server: {host: 127.0.0.2, port: 9001}
store: {redis_url: "redis://file:6379/0", data_dir: from-file}
auth: {api_tokens: [file-token]}
"""

ENVIRON = {
    "TRIAGED_HOST": "127.0.0.3",
    "TRIAGED_PORT": "9002",
    "TRIAGED_DATA_DIR": "from-env",
    "TRIAGED_REDIS_URL": "redis://env:6379/0",
    "REDIS_URL": "redis://generic:6379/0",
    "TRIAGED_API_TOKEN": "env-token",
}


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "triaged.yaml"
    path.write_text(FILE)
    return str(path)


def test_built_in_defaults(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    settings = build_settings(config_path=str(empty), environ={})
    assert (settings.host, settings.port, settings.redis_url) == ("127.0.0.1", 9187, None)
    assert settings.data_dir == Path("triaged-data")
    assert not settings.api.required


def test_the_file_beats_the_defaults(config: str) -> None:
    settings = build_settings(config_path=config, environ={})
    assert (settings.host, settings.port) == ("127.0.0.2", 9001)
    assert (settings.redis_url, settings.data_dir) == ("redis://file:6379/0", Path("from-file"))
    assert settings.api.tokens == {"file-token"}


def test_the_environment_beats_the_file(config: str) -> None:
    settings = build_settings(config_path=config, environ=ENVIRON)
    assert (settings.host, settings.port) == ("127.0.0.3", 9002)
    assert (settings.redis_url, settings.data_dir) == ("redis://env:6379/0", Path("from-env"))
    assert settings.api.tokens == {"file-token", "env-token"}


def test_redis_url_is_read_when_triaged_redis_url_is_not_set(config: str) -> None:
    environ = {k: v for k, v in ENVIRON.items() if k != "TRIAGED_REDIS_URL"}
    assert build_settings(config_path=config, environ=environ).redis_url == (
        "redis://generic:6379/0"
    )


def test_flags_beat_the_environment(config: str) -> None:
    settings = build_settings(
        config_path=config,
        host="127.0.0.4",
        port=9003,
        data_dir="from-flag",
        redis_url="redis://flag:6379/0",
        environ=ENVIRON,
    )
    assert (settings.host, settings.port) == ("127.0.0.4", 9003)
    assert (settings.redis_url, settings.data_dir) == ("redis://flag:6379/0", Path("from-flag"))


def test_the_config_file_can_come_from_the_environment(config: str) -> None:
    assert build_settings(environ={"TRIAGED_CONFIG": config}).port == 9001


def test_a_bad_port_in_the_environment_is_named(config: str) -> None:
    with pytest.raises(ConfigError, match="TRIAGED_PORT: not a port number: 'http'"):
        build_settings(config_path=config, environ={"TRIAGED_PORT": "http"})


@pytest.mark.parametrize(
    ("host", "insecure", "environ", "refused"),
    [
        ("127.0.0.1", False, {}, False),
        ("::1", False, {}, False),
        ("localhost", False, {}, False),
        ("0.0.0.0", False, {}, True),
        ("10.1.2.3", False, {}, True),
        ("0.0.0.0", True, {}, False),
        ("0.0.0.0", False, {"TRIAGED_API_TOKEN": "t0ken"}, False),
    ],
)
def test_a_public_address_needs_a_token_or_insecure(
    tmp_path: Path, host: str, insecure: bool, environ: dict[str, str], refused: bool
) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    settings = build_settings(config_path=str(empty), host=host, insecure=insecure, environ=environ)
    problem = exposure_problem(settings)
    assert (problem is not None) == refused
    if refused:
        assert problem == (
            f"refusing to listen on {host} without auth: set auth.api_tokens "
            "(or TRIAGED_API_TOKEN), or pass --insecure"
        )
