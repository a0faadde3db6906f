"""Datadog's webhook integration: the default body, and the monitor variables most teams add.

Every value arrives as a string, because Datadog fills a JSON template in which each
``$VARIABLE`` is quoted; unknown variables become empty strings, which count as absent.
Ids and dates are accepted as numbers too, for templates that leave them unquoted.

Datadog's default template carries only the event (``title``, ``body``, ``date``, ...).
Its title names the transition, the priority and the alerting group, e.g.
``[P1] [Triggered on {host:web-1}] CPU high``, so the default body alone is enough:
``[Recovered ...]`` resolves. When the template adds ``alert_id``, ``alert_transition``,
``alert_scope`` (and the rest, see docs/sources.md), those take precedence over what the
title says.

An alert is one monitor's one group: the fingerprint is made of the monitor id (or, with
only the default template, the monitor's name) and the scope's tags in sorted order, so a
multi-alert monitor gives one alert per host and re-notifications refresh it. Tags and the
scope become labels (``service:web`` → ``service=web``), which gives the incident key
Datadog's own service and env tags.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from daemon.sources.common import (
    Limits,
    PayloadError,
    Received,
    check_sizes,
    decode,
    make_alert,
    non_empty,
    present,
    read_time,
    severity_labels,
    shown,
    stringify,
    tag_labels,
)
from daemon.validation import FieldError
from triage.fingerprint import key_fingerprint
from triage.severity import Severity

Number = str | int
Text = Annotated[str, msgspec.Meta(max_length=65536)]


class Org(msgspec.Struct):
    id: Number | None = None
    name: str | None = None


class DatadogEvent(msgspec.Struct):
    # The default template.
    title: Text | None = None
    body: Text | None = None
    date: Number | None = None
    last_updated: Number | None = None
    event_type: str | None = None
    org: Org | None = None
    # Monitor variables (names as in docs/sources.md).
    alert_id: Number | None = None
    alert_title: Text | None = None
    alert_transition: str | None = None
    alert_type: str | None = None
    alert_priority: str | None = None
    priority: str | None = None
    alert_scope: Text | None = None
    alert_metric: str | None = None
    alert_query: Text | None = None
    alert_status: Text | None = None
    alert_cycle_key: str | None = None
    hostname: str | None = None
    tags: Text | None = None
    link: str | None = None
    snapshot: str | None = None


_TRANSITIONS: dict[str, bool] = {
    # transition → still firing?
    "triggered": True,
    "re-triggered": True,
    "warn": True,
    "re-warn": True,
    "no data": True,
    "re-no data": True,
    "renotify": True,
    "recovered": False,
}

_TITLE = re.compile(
    r"""^\s*(?:\[(?P<priority>P[1-5])\]\s*)?
    \[(?P<transition>Re-Triggered|Triggered|Recovered|Re-Warn|Warn|Re-No\ Data|No\ Data|Renotify)
    (?:\ on\ \{(?P<scope>[^}]*)\})?\]\s*(?P<name>.*)$""",
    re.VERBOSE | re.DOTALL,
)

# When no priority or alert type says otherwise: what the transition implies.
_TRANSITION_SEVERITY = {
    "warn": Severity.WARNING,
    "re-warn": Severity.WARNING,
    "no data": Severity.WARNING,
    "re-no data": Severity.WARNING,
}


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    event = decode(body, DatadogEvent)
    errors: list[FieldError] = []
    title = present(event.title) or present(event.alert_title) or ""
    if not title:
        errors.append(FieldError("title", "is required ($EVENT_TITLE or $ALERT_TITLE)"))
    said = _title_parts(title) or _title_parts(present(event.alert_title) or "") or {}
    transition = present(event.alert_transition) or said.get("transition") or ""
    firing = _TRANSITIONS.get(transition.lower())
    if transition and firing is None:
        errors.append(
            FieldError(
                "alert_transition",
                f"{shown(transition)} is not a Datadog transition "
                "(Triggered, Re-Triggered, Warn, Re-Warn, No Data, Re-No Data, Renotify, "
                "Recovered)",
            )
        )
    scope = _scope(present(event.alert_scope) or said.get("scope") or "")
    scope_labels = tag_labels(scope.split(","))
    name = said.get("name") or title
    monitor = _text(event.alert_id)
    when = read_time(_text(event.date), "date", errors) or read_time(
        _text(event.last_updated), "last_updated", errors
    )
    raw_severity, level = _severity(event, said.get("priority"), transition)
    labels = {
        **tag_labels((present(event.tags) or "").split(",")),
        **scope_labels,
        **non_empty(
            {
                "instance": present(event.hostname) or scope_labels.get("host"),
                "monitor_id": monitor,
                "metric": present(event.alert_metric),
            }
        ),
        "alertname": name,
        **severity_labels(raw_severity, level),
    }
    annotations = non_empty(
        {
            "summary": title,
            "description": present(event.body),
            "alert_status": present(event.alert_status),
            "alert_query": present(event.alert_query),
            "transition": transition,
            "scope": scope,
            "alert_cycle_key": present(event.alert_cycle_key),
            "snapshot": present(event.snapshot),
            "org": present(event.org.name) if event.org else None,
            "event_type": present(event.event_type),
        }
    )
    errors += check_sizes("(event)", labels, annotations, limits)
    if errors:
        raise PayloadError(errors)
    identity = f"monitor:{monitor}" if monitor else f"name:{name}"
    resolved = firing is False
    alert = make_alert(
        fingerprint=key_fingerprint("datadog", f"{identity}\n{scope}"),
        source="datadog",
        firing=not resolved,
        labels=labels,
        annotations=annotations,
        received_at=received_at,
        starts_at=None if resolved else when,
        ends_at=when if resolved else None,
        generator_url=present(event.link) or "",
    )
    return Received([alert])


def _title_parts(title: str) -> dict[str, str]:
    """Priority, transition, scope and monitor name from an event title; empty when the
    title does not follow Datadog's ``[Transition on {scope}] Name`` form."""
    match = _TITLE.match(title)
    if match is None:
        return {}
    return {name: value.strip() for name, value in match.groupdict().items() if value}


def _text(value: str | int | None) -> str | None:
    return present(stringify(value)) if value is not None else None


def _scope(scope: str) -> str:
    """The alerting group's tags in a canonical order: Datadog lists them in the order of
    the monitor's ``group by``, which may change without the group changing."""
    return ",".join(sorted({part.strip() for part in scope.split(",") if part.strip()}))


def _severity(
    event: DatadogEvent, title_priority: str | None, transition: str
) -> tuple[str | None, Severity | None]:
    """The monitor's priority (P1-P5) when set, else the alert type (error, warning, info,
    success), else what the transition implies (Warn and No Data are warnings), else the
    event priority (normal/low); a bare trigger is unknown (warning)."""
    for raw in (present(event.alert_priority), title_priority, present(event.alert_type)):
        if raw:
            return raw, None
    implied = _TRANSITION_SEVERITY.get(transition.lower())
    if implied is not None:
        return transition, implied
    return present(event.priority), None
