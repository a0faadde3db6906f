"""Source adapters: one module per sender, each turning a raw body into events.

An adapter is a plain function ``parse(body, received_at, limits) -> Received`` that
raises ``PayloadError`` naming every bad field, plus the content types its sender uses.
Adapters are pure apart from decoding, so the receive handler treats every sender
alike: authenticate, bound, parse, enqueue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

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
    """``schemas`` are the body types the sender posts, published in the OpenAPI document."""

    parse: Parser
    schemas: tuple[Any, ...]
    content_types: frozenset[str] = JSON_TYPES


ADAPTERS: Final[dict[str, Adapter]] = {
    "alertmanager": Adapter(alertmanager.parse, (alertmanager.Webhook,)),
    "grafana": Adapter(grafana.parse, (grafana.GrafanaWebhook,)),
    "pagerduty": Adapter(pagerduty.parse, (pagerduty.Trigger, pagerduty.FollowUp)),
    "opsgenie": Adapter(opsgenie.parse, (opsgenie.CreateAlert, opsgenie.AliasAction)),
    "datadog": Adapter(datadog.parse, (datadog.DatadogEvent,)),
    "cloudwatch": Adapter(cloudwatch.parse, (cloudwatch.SnsMessage,), SNS_TYPES),
    "zabbix": Adapter(zabbix.parse, (zabbix.ZabbixEvent,)),
    "alerta": Adapter(alerta.parse, (alerta.AlertaAlert,)),
    "generic": Adapter(generic.parse, (generic.GenericAlert, generic.GenericBatch)),
}
"""Adapters reachable at ``POST /api/v1/alerts/{source}``. PagerDuty's is also meant for
``POST /v2/enqueue`` and Alerta's for ``POST /api/alert``, their vendors' own paths."""

PROMETHEUS: Final = Adapter(prometheus.parse, (list[prometheus.PostableAlert],))
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
