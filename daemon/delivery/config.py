"""Notification channels in config: a list of named webhook, Slack and e-mail channels.

One flat struct with a ``type`` rather than a tagged union per type: the config loader
explains a failed decode through JSON Schema, which reports a tagged union as "not valid
under any of the given schemas". With one struct, msgspec names the bad field, and
``validate_channels`` checks what depends on the type (required and unused fields) with
messages that name the field too.

Routing (``routing/``) refers to channels by ``name``; ``daemon/delivery`` sends to them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from email.utils import parseaddr
from typing import Annotated, Literal

import msgspec
from jinja2 import TemplateError

from daemon.config_types import ConfigError, Duration, Secret, SecretRef, resolve_secret, seconds
from daemon.delivery.templates import check_template
from daemon.validation import FieldError, dotted

ChannelType = Literal["webhook", "slack", "email"]

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
Name = Annotated[
    str,
    msgspec.Meta(pattern=NAME_PATTERN, description="a letter, then letters, digits, - or _"),
]

# Headers the webhook sender sets itself; a configured header must not replace them, or
# a receiver could no longer verify or deduplicate what it gets.
RESERVED_HEADERS = frozenset(
    {"content-type", "idempotency-key", "x-triaged-signature", "x-triaged-event"}
    | {"x-triaged-attempt", "content-length", "host"}
)


class _Section(msgspec.Struct, forbid_unknown_fields=True):
    pass


class BackoffConfig(_Section):
    """Exponential backoff with full jitter: attempt n waits a random time in
    [0, min(max, initial * 2^(n-1))]."""

    initial: Duration = "5s"
    max: Duration = "5m"


class ChannelRate(_Section):
    """At most ``per_second`` sends on average, ``burst`` at once; shared by every daemon
    on the same Redis, since the limit protects the receiver."""

    per_second: Annotated[float, msgspec.Meta(gt=0)]
    burst: Annotated[int, msgspec.Meta(ge=1)] = 1


class TemplateConfig(_Section):
    """Sandboxed Jinja2 templates replacing the channel type's defaults (see docs)."""

    title: str | None = None
    body: str | None = None
    html: str | None = None


class ChannelConfig(_Section):
    name: Name
    type: ChannelType
    # webhook and slack: where to POST. A Slack incoming-webhook URL is itself a
    # credential, so it may come from the environment or a file like any secret.
    url: Secret | None = None
    # webhook only
    secret: Secret | None = None
    headers: dict[str, Secret] = {}
    # email only
    smtp_host: str | None = None
    smtp_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 587
    starttls: bool = True
    ca_file: str | None = None
    username: str | None = None
    password: Secret | None = None
    sender: str | None = None
    to: list[str] = []
    # every type
    timeout: Duration = "10s"
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 8
    backoff: BackoffConfig = msgspec.field(default_factory=BackoffConfig)
    rate: ChannelRate | None = None
    template: TemplateConfig | None = None


_DEFAULTS = ChannelConfig(name="defaults", type="webhook")

_REQUIRED: dict[str, tuple[str, ...]] = {
    "webhook": ("url",),
    "slack": ("url",),
    "email": ("smtp_host", "sender", "to"),
}
_ONLY_FOR: dict[str, tuple[str, ...]] = {
    "url": ("webhook", "slack"),
    "secret": ("webhook",),
    "headers": ("webhook",),
    "smtp_host": ("email",),
    "smtp_port": ("email",),
    "starttls": ("email",),
    "ca_file": ("email",),
    "username": ("email",),
    "password": ("email",),
    "sender": ("email",),
    "to": ("email",),
}
_ARTICLE = {"webhook": "a webhook", "slack": "a slack", "email": "an email"}

Path = tuple[str | int, ...]


def validate_channels(
    channels: Sequence[ChannelConfig], *, path: Path = ("channels",)
) -> list[FieldError]:
    """Every problem the schema cannot express, each naming its field.

    ``path`` is where the list sits in the config file, so the caller can turn each
    error's ``path`` into a file line the way ``daemon.config`` does.
    """
    errors: list[FieldError] = []
    first_index: dict[str, int] = {}
    for index, channel in enumerate(channels):
        at: Path = (*path, index)
        if channel.name in first_index:
            where = dotted((*path, first_index[channel.name]))
            errors.append(
                _error((*at, "name"), f"duplicate channel name {channel.name!r} ({where})")
            )
        first_index.setdefault(channel.name, index)
        errors += _type_fields(channel, at)
        errors += _secret_refs(channel, at)
        errors += _values(channel, at)
        errors += _templates(channel, at)
    return errors


def _error(path: Path, message: str) -> FieldError:
    return FieldError(field=dotted(path), message=message, path=path)


def _type_fields(channel: ChannelConfig, at: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    article = _ARTICLE[channel.type]
    for field in _REQUIRED[channel.type]:
        if not getattr(channel, field):
            errors.append(_error((*at, field), f"required for {article} channel"))
    for field, types in _ONLY_FOR.items():
        if channel.type not in types and getattr(channel, field) != getattr(_DEFAULTS, field):
            errors.append(_error((*at, field), f"not used by {article} channel"))
    template = channel.template
    if template is not None and template.html is not None and channel.type != "email":
        errors.append(_error((*at, "template", "html"), "only e-mail channels have an HTML part"))
    return errors


def _secrets(channel: ChannelConfig, at: Path) -> Iterator[tuple[Path, Secret]]:
    for field in ("url", "secret", "password"):
        value: Secret | None = getattr(channel, field)
        if value is not None:
            yield (*at, field), value
    for header, value in channel.headers.items():
        yield (*at, "headers", header), value


def _secret_refs(channel: ChannelConfig, at: Path) -> list[FieldError]:
    return [
        _error(where, "give exactly one of env, file")
        for where, secret in _secrets(channel, at)
        if isinstance(secret, SecretRef) and (secret.env is None) == (secret.file is None)
    ]


def _values(channel: ChannelConfig, at: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    if isinstance(channel.url, str) and not channel.url.startswith(("http://", "https://")):
        errors.append(_error((*at, "url"), "must be an http:// or https:// URL"))
    errors += [
        _error((*at, "headers", header), "is set by triaged and cannot be configured")
        for header in channel.headers
        if header.lower() in RESERVED_HEADERS
    ]
    if seconds(channel.backoff.max) < seconds(channel.backoff.initial):
        errors.append(_error((*at, "backoff", "max"), "must not be shorter than backoff.initial"))
    if (channel.username is None) != (channel.password is None):
        missing = "password" if channel.password is None else "username"
        errors.append(_error((*at, missing), "username and password go together"))
    addresses: list[tuple[Path, str]] = [((*at, "to", i), a) for i, a in enumerate(channel.to)]
    if channel.sender is not None:
        addresses.insert(0, ((*at, "sender"), channel.sender))
    errors += [
        _error(where, f"not an e-mail address: {address!r}")
        for where, address in addresses
        if "@" not in parseaddr(address)[1]
    ]
    return errors


def _templates(channel: ChannelConfig, at: Path) -> list[FieldError]:
    """Compile and test-render each template, so a typo fails at load, not at 3 a.m."""
    if channel.template is None:
        return []
    errors: list[FieldError] = []
    for part in ("title", "body", "html"):
        source: str | None = getattr(channel.template, part)
        if source is None:
            continue
        try:
            check_template(channel.type, part, source)
        except Exception as exc:  # template code can raise anything: 1/0, range(10**9)
            line = getattr(exc, "lineno", None) if isinstance(exc, TemplateError) else None
            where = f"line {line}: " if line else ""
            text = getattr(exc, "message", None) or str(exc)
            errors.append(_error((*at, "template", part), f"{where}{text}"))
    return errors


def secret(channel: ChannelConfig, field: str) -> str | None:
    """A channel's secret field resolved (from the environment or a file if so given)."""
    value: Secret | None = getattr(channel, field)
    if value is None:
        return None
    return resolve_secret(value, field=f"channels.{channel.name}.{field}")


def required(channel: ChannelConfig, field: str) -> str:
    """A field ``validate_channels`` requires, for senders built without validation."""
    value = secret(channel, field) if field == "url" else getattr(channel, field)
    if not value:
        raise ConfigError("config", [f"channels.{channel.name}.{field}: required"])
    return str(value)
