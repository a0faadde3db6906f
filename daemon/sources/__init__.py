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

from daemon.sources import (
    alerta,
    alertmanager,
    cloudwatch,
    datadog,
    generic,
    grafana,
    opsgenie,
    pagerduty,
    prometheus,
    zabbix,
)
from daemon.sources.common import Limits, PayloadError, Received

Parser = Callable[[bytes, float, Limits], Received]

JSON_TYPES: Final = frozenset({"application/json", "text/json"})
SNS_TYPES: Final = frozenset({"text/plain", "application/json"})
"""Amazon SNS posts its JSON as ``text/plain`` unless a delivery policy says otherwise."""


class Adapter(msgspec.Struct, frozen=True):
    parse: Parser
    content_types: frozenset[str] = JSON_TYPES


ADAPTERS: Final[dict[str, Adapter]] = {
    "alertmanager": Adapter(alertmanager.parse),
    "grafana": Adapter(grafana.parse),
    "pagerduty": Adapter(pagerduty.parse),
    "opsgenie": Adapter(opsgenie.parse),
    "datadog": Adapter(datadog.parse),
    "cloudwatch": Adapter(cloudwatch.parse, content_types=SNS_TYPES),
    "zabbix": Adapter(zabbix.parse),
    "alerta": Adapter(alerta.parse),
    "generic": Adapter(generic.parse),
}
"""Adapters reachable at ``POST /api/v1/alerts/{source}``. PagerDuty's is also meant for
``POST /v2/enqueue`` and Alerta's for ``POST /api/alert``, their vendors' own paths."""

PROMETHEUS: Final = Adapter(prometheus.parse)
"""Prometheus posting directly, at ``POST /api/v2/alerts``."""

__all__ = [
    "ADAPTERS",
    "JSON_TYPES",
    "PROMETHEUS",
    "SNS_TYPES",
    "Adapter",
    "Limits",
    "Parser",
    "PayloadError",
    "Received",
]
