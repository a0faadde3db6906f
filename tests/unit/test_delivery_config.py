"""daemon.delivery.config: channel structs and ``validate_channels``, one test per rule."""

from __future__ import annotations

import re

import msgspec
import pytest
import yaml

from daemon.config_types import SecretRef
from daemon.delivery.config import ChannelConfig, validate_channels

Channels = list[ChannelConfig]


def parse(text: str) -> Channels:
    return msgspec.convert(yaml.safe_load(text), Channels)


def problems(text: str) -> list[str]:
    return [f"{e.field}: {e.message}" for e in validate_channels(parse(text))]


VALID = """
- name: ops-hook
  type: webhook
  url: https://hooks.example/triaged
  secret: {env: HOOK_SECRET}
  headers: {Authorization: {env: HOOK_TOKEN}}
  timeout: 5s
  rate: {per_second: 2, burst: 5}
- name: ops-chat
  type: slack
  url: {file: /etc/triaged/slack-url}
  template:
    title: "{{ incident.priority }} {{ incident.title }}"
- name: dba-mail
  type: email
  smtp_host: smtp.example
  username: triaged
  password: {env: SMTP_PASSWORD}
  sender: "triaged <triaged@example.com>"
  to: [dba@example.com]
  max_attempts: 3
  backoff: {initial: 1s, max: 1m}
  template:
    html: "<b>{{ incident.title }}</b>"
"""


def test_a_valid_configuration_has_no_problems() -> None:
    channels = parse(VALID)
    assert validate_channels(channels) == []
    hook, chat, mail = channels
    assert hook.secret == SecretRef(env="HOOK_SECRET")
    assert hook.rate is not None
    assert hook.rate.burst == 5
    assert chat.url == SecretRef(file="/etc/triaged/slack-url")
    assert (mail.smtp_port, mail.starttls, mail.max_attempts) == (587, True, 3)


def test_defaults() -> None:
    [channel] = parse("[{name: a, type: webhook, url: 'http://x'}]")
    assert channel.max_attempts == 8
    assert (channel.backoff.initial, channel.backoff.max) == ("5s", "5m")
    assert channel.timeout == "10s"
    assert channel.rate is None
    assert channel.template is None


# --- what the schema rejects ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{name: a, type: pager}]", "Invalid enum value 'pager' - at `$[0].type`"),
        ("[{name: 1a, type: slack}]", "Expected `str` matching regex"),
        ("[{name: a, type: slack, colour: red}]", "Object contains unknown field `colour`"),
        ("[{name: a, type: slack, timeout: soon}]", "at `$[0].timeout`"),
        ("[{name: a, type: slack, max_attempts: 0}]", "Expected `int` >= 1"),
    ],
)
def test_schema_errors(text: str, message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(message)):
        parse(text)


# --- validate_channels: one rule each ------------------------------------------------------


def test_duplicate_names() -> None:
    text = """
- {name: ops, type: webhook, url: "http://a"}
- {name: other, type: webhook, url: "http://b"}
- {name: ops, type: slack, url: "https://c"}
"""
    assert problems(text) == ["channels[2].name: duplicate channel name 'ops' (channels[0])"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[{name: a, type: webhook}]", ["channels[0].url: required for a webhook channel"]),
        ("[{name: a, type: slack}]", ["channels[0].url: required for a slack channel"]),
        (
            "[{name: a, type: email}]",
            [
                "channels[0].smtp_host: required for an email channel",
                "channels[0].sender: required for an email channel",
                "channels[0].to: required for an email channel",
            ],
        ),
    ],
)
def test_required_fields_per_type(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_fields_of_another_type() -> None:
    text = """
- {name: a, type: webhook, url: "http://a", smtp_host: mail, to: [x@y.z]}
- {name: b, type: slack, url: "http://b", secret: s, headers: {X-A: b}}
- {name: c, type: email, smtp_host: m, sender: a@b.c, to: [d@e.f], url: "http://c"}
"""
    assert problems(text) == [
        "channels[0].smtp_host: not used by a webhook channel",
        "channels[0].to: not used by a webhook channel",
        "channels[1].secret: not used by a slack channel",
        "channels[1].headers: not used by a slack channel",
        "channels[2].url: not used by an email channel",
    ]


def test_secret_references_name_exactly_one_source() -> None:
    text = """
- {name: a, type: webhook, url: "http://a", secret: {env: A, file: /b}}
- {name: b, type: webhook, url: "http://a", headers: {Authorization: {}}}
"""
    assert problems(text) == [
        "channels[0].secret: give exactly one of env, file",
        "channels[1].headers.Authorization: give exactly one of env, file",
    ]


def test_urls_are_http() -> None:
    assert problems("[{name: a, type: webhook, url: 'ftp://x'}]") == [
        "channels[0].url: must be an http:// or https:// URL"
    ]


@pytest.mark.parametrize("header", ["Idempotency-Key", "x-triaged-signature", "Content-Type"])
def test_headers_triaged_sets_cannot_be_configured(header: str) -> None:
    text = f"[{{name: a, type: webhook, url: 'http://x', headers: {{{header}: v}}}}]"
    assert problems(text) == [
        f"channels[0].headers.{header}: is set by triaged and cannot be configured"
    ]


def test_backoff_maximum_not_below_initial() -> None:
    text = "[{name: a, type: slack, url: 'http://x', backoff: {initial: 1m, max: 30s}}]"
    assert problems(text) == ["channels[0].backoff.max: must not be shorter than backoff.initial"]


def test_username_and_password_go_together() -> None:
    base = "name: a, type: email, smtp_host: m, sender: a@b.c, to: [d@e.f]"
    assert problems(f"[{{{base}, username: u}}]") == [
        "channels[0].password: username and password go together"
    ]
    assert problems(f"[{{{base}, password: p}}]") == [
        "channels[0].username: username and password go together"
    ]


def test_addresses() -> None:
    text = "[{name: a, type: email, smtp_host: m, sender: triaged, to: [ok@x.y, ops]}]"
    assert problems(text) == [
        "channels[0].sender: not an e-mail address: 'triaged'",
        "channels[0].to[1]: not an e-mail address: 'ops'",
    ]


def test_html_template_only_for_email() -> None:
    text = "[{name: a, type: slack, url: 'http://x', template: {html: '<b>x</b>'}}]"
    assert problems(text) == ["channels[0].template.html: only e-mail channels have an HTML part"]


UNSAFE = "'dict' object is unsafe."


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("'{{ incident.title }'", "line 1: unexpected '}'"),
        ("'{{ incidnet.title }}'", "'incidnet' is undefined"),
        ("'{{ incident.__class__ }}'", f"access to attribute '__class__' of {UNSAFE}"),
        ("'{{ incident.links.update({}) }}'", f"access to attribute 'update' of {UNSAFE}"),
        ("'{{ 1 / 0 }}'", "division by zero"),
    ],
)  # fmt: skip
def test_templates_are_test_rendered_in_the_sandbox(template: str, message: str) -> None:
    text = f"[{{name: a, type: webhook, url: 'http://x', template: {{body: {template}}}}}]"
    assert problems(text) == [f"channels[0].template.body: {message}"]


def test_errors_carry_paths_for_line_numbers() -> None:
    [error] = validate_channels(parse("[{name: a, type: slack}]"), path=("delivery", "channels"))
    assert error.path == ("delivery", "channels", 0, "url")
    assert error.field == "delivery.channels[0].url"
