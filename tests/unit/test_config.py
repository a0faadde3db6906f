"""daemon.config: YAML parsed once, every problem as ``file:line: field: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import (
    Config,
    as_plain,
    default_config_path,
    load_config,
    parse_config,
)
from daemon.config_types import (
    ConfigError,
    SecretRef,
    resolve_secret,
    seconds,
)
from triage.process.config import compile_process, default_process

NAME = "triaged.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, NAME)
    assert caught.value.path == NAME
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


# --- defaults ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n", "# nothing but a comment\n", "{}\n"])
def test_empty_file_is_the_default_configuration(text: str) -> None:
    config = parse_config(text, NAME)
    assert config == Config()


def test_defaults() -> None:
    config = parse_config("", NAME)
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 9187
    assert config.server.max_body_bytes == 1024 * 1024
    assert config.ingest.max_alerts_per_request == 1000
    assert config.ingest.max_labels == 256
    assert config.auth.api_tokens == []
    assert config.sources == {}
    assert config.store.redis_url is None
    assert config.store.appendfsync == "everysec"
    assert config.pipeline.workers == 1
    assert config.correlation.key_labels == [["service", "alertname"], ["environment", "env"]]
    assert seconds(config.correlation.reopen_window) == 600.0
    assert seconds(config.lifecycle.auto_resolve_grace) == 0.0
    assert config.routing_file is None
    assert config.logging.level == "info"


def test_default_key_labels_are_not_shared_between_instances() -> None:
    first = parse_config("", NAME)
    first.correlation.key_labels.append(["team"])
    assert parse_config("", NAME).correlation.key_labels == [
        ["service", "alertname"],
        ["environment", "env"],
    ]


def test_values_given_override_defaults_and_the_rest_stay() -> None:
    text = (
        "server:\n"
        "  port: 8080\n"
        "correlation:\n"
        "  key_labels: [[team], [cluster, region]]\n"
        "  reopen_window: 1h\n"
        "auth:\n"
        "  api_tokens: [plain-token, {env: TRIAGED_TOKEN}, {file: /run/secrets/t}]\n"
    )
    config = parse_config(text, NAME)
    assert config.server.port == 8080
    assert config.server.host == "127.0.0.1"
    assert config.correlation.key_labels == [["team"], ["cluster", "region"]]
    assert seconds(config.correlation.reopen_window) == 3600.0
    assert config.auth.api_tokens == [
        "plain-token",
        SecretRef(env="TRIAGED_TOKEN"),
        SecretRef(file="/run/secrets/t"),
    ]


def test_shipped_default_file_is_valid() -> None:
    path = default_config_path()
    assert path.exists()
    config = load_config(path)
    assert isinstance(config, Config)
    assert as_plain(config)["server"]["port"] == config.server.port


def test_the_shipped_process_section_spells_out_the_defaults() -> None:
    shipped = compile_process(load_config(default_config_path()).process)
    assert shipped == default_process()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("250ms", 0.25), ("30s", 30.0), ("1.5m", 90.0), ("2h", 7200.0), ("7d", 604800.0)],
)
def test_seconds(text: str, expected: float) -> None:
    assert seconds(text) == expected
    assert seconds("1w") == 604800.0


@pytest.mark.parametrize("text", ["10", "10 m", "m", "-1s", "1y", ""])
def test_seconds_rejects_non_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        seconds(text)


# --- one test per validation rule --------------------------------------------------------


def test_unknown_key() -> None:
    assert problems("server:\n  host: 0.0.0.0\n  prot: 80\n") == [
        "triaged.yaml:3: server.prot: unknown field"
    ]


def test_unknown_top_level_section() -> None:
    assert problems("store: {}\nroutes: []\n") == ["triaged.yaml:2: routes: unknown field"]


def test_wrong_type() -> None:
    assert problems("server:\n  port: eighty\n") == [
        "triaged.yaml:2: server.port: 'eighty' is not of type 'integer'"
    ]


def test_out_of_range() -> None:
    assert problems("server:\n  port: 70000\n") == [
        "triaged.yaml:2: server.port: 70000 is greater than the maximum of 65535"
    ]


def test_value_not_among_choices() -> None:
    assert problems("logging:\n  level: loud\n") == [
        "triaged.yaml:2: logging.level: 'loud' is not one of ['debug', 'error', 'info', 'warning']"
    ]


def test_bad_duration() -> None:
    assert problems("correlation:\n  reopen_window: 10 minutes\n") == [
        "triaged.yaml:2: correlation.reopen_window: '10 minutes' is not valid: e.g. 30s, 10m, 7d"
    ]


def test_bare_number_is_not_a_duration() -> None:
    assert problems("lifecycle:\n  auto_resolve_grace: 30\n") == [
        "triaged.yaml:2: lifecycle.auto_resolve_grace: 30 is not of type 'string'"
    ]


def test_empty_key_labels() -> None:
    assert problems("correlation:\n  key_labels: []\n") == [
        "triaged.yaml:2: correlation.key_labels: "
        "needs at least one position, each with at least one label name"
    ]


def test_key_labels_position_without_names() -> None:
    assert problems("correlation:\n  key_labels:\n    - [service]\n    - []\n") == [
        "triaged.yaml:2: correlation.key_labels: "
        "needs at least one position, each with at least one label name"
    ]


def test_secret_with_both_env_and_file() -> None:
    text = "auth:\n  api_tokens:\n    - env: TOKEN\n      file: /run/secrets/token\n"
    assert problems(text) == ["triaged.yaml:3: auth.api_tokens[0]: give exactly one of env, file"]


def test_secret_with_neither_env_nor_file() -> None:
    text = "sources:\n  alertmanager:\n    tokens:\n      - ok\n      - {}\n"
    assert problems(text) == [
        "triaged.yaml:5: sources.alertmanager.tokens[1]: give exactly one of env, file"
    ]


def test_every_kind_of_secret_is_checked() -> None:
    text = (
        "sources:\n"
        "  prometheus:\n"
        "    basic:\n"
        "      - username: prom\n"
        "        password: {}\n"
        "    hmac:\n"
        "      secret: {env: A, file: /b}\n"
    )
    assert problems(text) == [
        "triaged.yaml:5: sources.prometheus.basic[0].password: give exactly one of env, file",
        "triaged.yaml:7: sources.prometheus.hmac.secret: give exactly one of env, file",
    ]


# --- scoped API tokens -------------------------------------------------------------------


def test_scoped_tokens_name_their_scopes() -> None:
    config = parse_config(
        "auth:\n  api_tokens: [plain]\n  scoped_tokens:\n"
        "    - {token: {env: SEC_TOKEN}, scopes: [security]}\n",
        NAME,
    )
    [scoped] = config.auth.scoped_tokens
    assert (scoped.token, scoped.scopes) == (SecretRef(env="SEC_TOKEN"), ["security"])


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{token: t, scopes: []}", "auth.scoped_tokens[0].scopes"),
        ("{token: t, scopes: [Security!]}", "auth.scoped_tokens[0].scopes[0]"),
        ("{scopes: [security]}", "auth.scoped_tokens[0].token"),
        ("{token: t, scopes: [security], admin: true}", "auth.scoped_tokens[0].admin"),
        ("{token: {env: A, file: /b}, scopes: [security]}", "auth.scoped_tokens[0].token"),
    ],
)
def test_bad_scoped_tokens_name_the_field(entry: str, problem: str) -> None:
    [found] = problems(f"auth:\n  scoped_tokens:\n    - {entry}\n")
    assert found.startswith(f"triaged.yaml:3: {problem}:"), found


def test_unknown_source() -> None:
    [problem] = problems("sources:\n  generic: {}\n  nagios:\n    tokens: [t]\n")
    assert problem.startswith("triaged.yaml:3: sources.nagios: unknown source; known: ")
    assert "alertmanager" in problem
    assert "generic" in problem


def test_invalid_yaml() -> None:
    [problem] = problems("server:\n  port: [9187\n")
    assert problem.startswith("triaged.yaml:3: invalid YAML: ")
    assert "expected ',' or ']'" in problem


def test_invalid_yaml_names_the_line_of_the_problem() -> None:
    [problem] = problems("server:\n  host: a: b\n")
    assert problem.startswith("triaged.yaml:2: invalid YAML: mapping values are not allowed")


def test_document_that_is_not_a_mapping() -> None:
    assert problems("- server\n") == ["triaged.yaml:1: (body): ['server'] is not of type 'object'"]


def test_every_problem_is_reported_at_once_in_field_order() -> None:
    text = "server:\n  port: eighty\n  host: 5\nlogging:\n  level: loud\nbogus: 1\n"
    assert problems(text) == [
        "triaged.yaml:6: bogus: unknown field",
        "triaged.yaml:5: logging.level: 'loud' is not one of ['debug', 'error', 'info', 'warning']",
        "triaged.yaml:3: server.host: 5 is not of type 'string'",
        "triaged.yaml:2: server.port: 'eighty' is not of type 'integer'",
    ]


def test_error_found_only_by_the_decoder_still_names_its_line() -> None:
    assert problems("server:\n  host: localhost\n  port: 1.0\n") == [
        "triaged.yaml:3: server.port: Expected `int`, got `float` - at `$.server.port`"
    ]


def test_typo_inside_an_optional_section_names_the_key() -> None:
    text = "sources:\n  generic:\n    hmac:\n      secret: s3cret\n      heder: X-Sig\n"
    assert problems(text) == ["triaged.yaml:5: sources.generic.hmac.heder: unknown field"]


def test_load_config_names_an_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.problems == [f"{missing}: cannot read: No such file or directory"]


def test_load_config_uses_the_path_as_file_name(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}:2: server.port: 'x' is not of type 'integer'"]


# --- secrets -----------------------------------------------------------------------------


def test_plain_string_secret() -> None:
    assert resolve_secret("s3cret", field="auth.api_tokens[0]") == "s3cret"


def test_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGED_TEST_TOKEN", "from-env")
    assert resolve_secret(SecretRef(env="TRIAGED_TEST_TOKEN"), field="f") == "from-env"


@pytest.mark.parametrize("value", [None, ""])
def test_env_secret_missing_or_empty(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("TRIAGED_TEST_TOKEN", raising=False)
    else:
        monkeypatch.setenv("TRIAGED_TEST_TOKEN", value)
    with pytest.raises(ConfigError) as caught:
        resolve_secret(SecretRef(env="TRIAGED_TEST_TOKEN"), field="auth.api_tokens[1]")
    assert caught.value.problems == [
        "auth.api_tokens[1]: environment variable TRIAGED_TEST_TOKEN is not set"
    ]


def test_file_secret_reads_the_first_line_stripped(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  from-file  \nsecond line\n", encoding="utf-8")
    assert resolve_secret(SecretRef(file=str(path)), field="f") == "from-file"


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "empty"])
def test_file_secret_missing_or_empty(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        resolve_secret(SecretRef(file=str(path)), field="sources.generic.tokens[0]")
    assert caught.value.path == str(path)
    assert caught.value.problems == [f"sources.generic.tokens[0]: cannot read secret file {path}"]


def test_file_secret_with_blank_first_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("\n   \nreal-token\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        resolve_secret(SecretRef(file=str(path)), field="f")


def test_shipped_default_file_spells_out_the_defaults() -> None:
    """The file says it shows every default; hold it to that where a drift would mislead."""
    shipped = load_config(default_config_path())
    defaults = Config()
    for section in ("server", "ingest", "pipeline", "correlation", "lifecycle", "triage"):
        assert getattr(shipped, section) == getattr(defaults, section), section
