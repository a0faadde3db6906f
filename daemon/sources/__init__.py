"""Source adapters: one module per sender, each turning a raw body into ``Alert`` values.

An adapter is a plain function ``parse(body, received_at, limits) -> list[Alert]`` that
raises ``PayloadError`` naming every bad field. Adapters are pure apart from decoding, so
the receive handler treats every sender alike: authenticate, bound, parse, enqueue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from daemon.sources import alertmanager, generic, prometheus
from daemon.sources.common import Limits, PayloadError
from triage.alert import Alert

Parser = Callable[[bytes, float, Limits], list[Alert]]

ADAPTERS: Final[dict[str, Parser]] = {
    "alertmanager": alertmanager.parse,
    "generic": generic.parse,
}
"""Adapters reachable at ``POST /api/v1/alerts/{source}``."""

PROMETHEUS: Final[Parser] = prometheus.parse
"""Prometheus posting directly, at ``POST /api/v2/alerts``."""

__all__ = ["ADAPTERS", "PROMETHEUS", "Limits", "Parser", "PayloadError"]
