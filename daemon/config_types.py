"""Configuration building blocks shared by every config section: durations, secrets
and the error type. Kept apart from ``daemon.config`` so sections defined in other
packages (delivery channels) can use them without an import cycle."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import msgspec

DURATION_PATTERN = r"^\d+(\.\d+)?(ms|s|m|h|d|w)$"
Duration = Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN, description="e.g. 30s, 10m, 7d")]
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", duration)
    if match is None:
        raise ValueError(f"not a duration: {duration!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class ConfigSection(msgspec.Struct, forbid_unknown_fields=True):
    """Base of config sections: unknown keys are errors, so a typo is never ignored."""


class SecretRef(ConfigSection):
    """A secret kept out of the file: ``{env: VAR}`` or ``{file: /path}`` (first line)."""

    env: str | None = None
    file: str | None = None


Secret = str | SecretRef


class ConfigError(Exception):
    """Invalid configuration; the message lists ``file:line: field: problem`` lines."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))


def resolve_secret(secret: Secret, *, field: str) -> str:
    """Read a secret's value; a missing variable or file is a config error, not an empty token."""
    if isinstance(secret, str):
        return secret
    if secret.env is not None:
        value = os.environ.get(secret.env)
        if not value:
            raise ConfigError(
                "environment", [f"{field}: environment variable {secret.env} is not set"]
            )
        return value
    assert secret.file is not None
    try:
        value = Path(secret.file).read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        raise ConfigError(secret.file, [f"{field}: cannot read secret file {secret.file}"]) from exc
    if not value:
        raise ConfigError(
            secret.file, [f"{field}: secret file {secret.file} starts with a blank line"]
        )
    return value
