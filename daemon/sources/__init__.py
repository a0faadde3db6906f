"""Source adapters: one module per sender, each turning a raw body into events.

An adapter is a plain function ``parse(body, received_at, limits) -> Received`` that
raises ``PayloadError`` naming every bad field, plus the content types its sender uses.
Adapters are pure apart from decoding, so the receive handler treats every sender
alike: authenticate, bound, parse, enqueue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

from daemon.sources import alertmanager, generic, prometheus
from daemon.sources.common import Limits, PayloadError, Received

Parser = Callable[[bytes, float, Limits], Received]

JSON_TYPES: Final = frozenset({"application/json", "text/json"})


class Adapter(msgspec.Struct, frozen=True):
    parse: Parser
    content_types: frozenset[str] = JSON_TYPES


ADAPTERS: Final[dict[str, Adapter]] = {
    "alertmanager": Adapter(alertmanager.parse),
    "generic": Adapter(generic.parse),
}
"""Adapters reachable at ``POST /api/v1/alerts/{source}``."""

PROMETHEUS: Final = Adapter(prometheus.parse)
"""Prometheus posting directly, at ``POST /api/v2/alerts``."""

__all__ = [
    "ADAPTERS",
    "JSON_TYPES",
    "PROMETHEUS",
    "Adapter",
    "Limits",
    "Parser",
    "PayloadError",
    "Received",
]
