"""Times on the wire: the APIs write UTC epoch seconds as ISO 8601 with a ``Z``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def iso_fields(value: Any, names: Mapping[str, None] | frozenset[str]) -> Any:
    """``value`` (plain builtins) with every field named in ``names`` turned into ISO
    text, at any depth: for stored records whose times are epoch seconds."""
    if isinstance(value, dict):
        return {
            k: iso(v) if k in names and isinstance(v, int | float) else iso_fields(v, names)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [iso_fields(v, names) for v in value]
    return value
