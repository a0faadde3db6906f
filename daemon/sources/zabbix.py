"""Zabbix, through a webhook media type that posts its parameters as JSON.

Zabbix has no fixed webhook body: a media type names parameters, fills them from macros,
and a short script posts them. docs/sources.md gives the media type; its parameters are
the fields below. Values arrive as strings, numeric ones included.

A problem and its recovery share ``{EVENT.ID}`` (Zabbix gives the recovery message the
problem's event id), so the event id is the dedup key and the recovery resolves the
problem's alert. A problem update whose action says ``acknowledged`` acknowledges the
incident; other updates (comments, severity changes) refresh the alert. Zabbix leaves a
macro it cannot resolve in the text as is (``{EVENT.RECOVERY.DATE}`` in a problem
message) or writes ``*UNKNOWN*``; both count as absent.

Zabbix formats dates in the server's time zone without saying which; the optional
``timezone`` parameter (an IANA name or an offset) says it, UTC otherwise. Severity comes
from ``{EVENT.NSEVERITY}`` (0-5) when given, since severity names can be renamed in
Zabbix, else from the name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec

from daemon.sources.common import (
    Limits,
    PayloadError,
    Received,
    check_sizes,
    decode,
    epoch,
    make_alert,
    non_empty,
    pair_labels,
    present,
    read_time,
    severity_labels,
    shown,
    stringify,
    tag_labels,
)
from daemon.validation import FieldError
from triage.alert import Acknowledgement
from triage.fingerprint import key_fingerprint
from triage.severity import Severity

Id = str | int
Text = Annotated[str, msgspec.Meta(max_length=65536)]


class ZabbixTag(msgspec.Struct):
    tag: str
    value: str | None = None


class ZabbixEvent(msgspec.Struct):
    event_id: Id
    status: str
    trigger_name: Text | None = None
    event_name: Text | None = None
    trigger_id: Id | None = None
    trigger_description: Text | None = None
    trigger_url: str | None = None
    severity: str | None = None
    nseverity: Id | None = None
    host: str | None = None
    host_name: str | None = None
    host_ip: str | None = None
    event_opdata: Text | None = None
    event_timestamp: Id | None = None
    event_date: str | None = None
    event_time: str | None = None
    recovery_timestamp: Id | None = None
    recovery_date: str | None = None
    recovery_time: str | None = None
    update_status: Id | None = None
    update_action: Text | None = None
    update_user: str | None = None
    update_date: str | None = None
    update_time: str | None = None
    timezone: str | None = None
    tags: str | list[ZabbixTag] | None = None
    zabbix_url: str | None = None


_UNRESOLVED = re.compile(r"^\{[#$]?[A-Z][A-Za-z0-9_.]*(?::[^}]*)?\}$|^\*UNKNOWN\*$")
_ACKNOWLEDGED = re.compile(r"(?<!un)acknowledged", re.IGNORECASE)
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_NSEVERITY = {
    "0": Severity.UNKNOWN,  # Not classified
    "1": Severity.INFO,  # Information
    "2": Severity.WARNING,  # Warning
    "3": Severity.WARNING,  # Average
    "4": Severity.ERROR,  # High
    "5": Severity.CRITICAL,  # Disaster
}
_STATUSES = {"PROBLEM": True, "RESOLVED": False, "OK": False}


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    event = decode(body, ZabbixEvent)
    errors: list[FieldError] = []
    event_id = _given(event.event_id)
    if event_id is None:
        errors.append(FieldError("event_id", "must not be empty ({EVENT.ID})"))
    status = (_given(event.status) or "").upper()
    firing = _STATUSES.get(status)
    if firing is None:
        errors.append(FieldError("status", f"{shown(event.status)}: expected PROBLEM or RESOLVED"))
    name = _given(event.trigger_name) or _given(event.event_name)
    if name is None:
        errors.append(FieldError("trigger_name", "is required ({TRIGGER.NAME} or {EVENT.NAME})"))
    zone = _zone(event.timezone, errors)
    started = _moment(
        "event", event.event_timestamp, event.event_date, event.event_time, zone, errors
    )
    ended = _moment(
        "recovery", event.recovery_timestamp, event.recovery_date, event.recovery_time, zone, errors
    )
    updated = _moment("update", None, event.update_date, event.update_time, zone, errors)
    raw_severity, level = _severity(event, errors)
    labels = {
        **_tags(event.tags, errors),
        **non_empty({"instance": _given(event.host), "trigger_id": _given(event.trigger_id)}),
        "alertname": name or "",
        **severity_labels(raw_severity, level),
    }
    annotations = non_empty(
        {
            "summary": _given(event.event_name) or name,
            "description": _given(event.trigger_description),
            "opdata": _given(event.event_opdata),
            "host_name": _given(event.host_name),
            "host_ip": _given(event.host_ip),
            "event_id": event_id,
            "update": _given(event.update_action),
        }
    )
    errors += check_sizes("(event)", labels, annotations, limits)
    if errors or event_id is None or firing is None:
        raise PayloadError(errors)
    server = (_given(event.zabbix_url) or "").rstrip("/")
    fingerprint = key_fingerprint(f"zabbix:{server}" if server else "zabbix", event_id)
    if _acknowledges(event):
        user = _given(event.update_user)
        ack = Acknowledgement(
            fingerprint=fingerprint,
            at=updated if updated is not None else received_at,
            actor=f"zabbix:{user}" if user else "zabbix",
            received_at=received_at,
        )
        return Received([ack])
    trigger_id = _given(event.trigger_id)
    link = (
        f"{server}/tr_events.php?triggerid={trigger_id}&eventid={event_id}"
        if server and trigger_id
        else _given(event.trigger_url) or ""
    )
    alert = make_alert(
        fingerprint=fingerprint,
        source="zabbix",
        firing=firing,
        labels=labels,
        annotations=annotations,
        received_at=received_at,
        starts_at=started,
        ends_at=None if firing else ended,
        generator_url=link,
    )
    return Received([alert])


def _given(value: str | int | None) -> str | None:
    """The value as text, or None when absent, blank or an unresolved macro."""
    if value is None:
        return None
    text = present(stringify(value))
    return None if text is None or _UNRESOLVED.match(text) else text


def _acknowledges(event: ZabbixEvent) -> bool:
    update = _given(event.update_status)
    action = _given(event.update_action) or ""
    return update == "1" and _ACKNOWLEDGED.search(action) is not None


def _severity(event: ZabbixEvent, errors: list[FieldError]) -> tuple[str | None, Severity | None]:
    name = _given(event.severity)
    number = _given(event.nseverity)
    if number is None:
        return name, None
    level = _NSEVERITY.get(number)
    if level is None:
        errors.append(FieldError("nseverity", f"{shown(number)}: expected 0 to 5"))
    return name or number, level


def _tags(tags: str | list[ZabbixTag] | None, errors: list[FieldError]) -> dict[str, str]:
    """``{EVENT.TAGSJSON}`` (a list of tag/value objects, also when it arrives as a JSON
    string, as webhook parameters do) or ``{EVENT.TAGS}`` (``tag:value, tag2``)."""
    if isinstance(tags, str):
        text = _given(tags)
        if text is None:
            return {}
        if not text.startswith("["):
            return tag_labels(text.split(","))
        try:
            tags = msgspec.json.decode(text, type=list[ZabbixTag])
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            errors.append(FieldError("tags", f"not a {{EVENT.TAGSJSON}} list: {exc}"))
            return {}
    return pair_labels((tag.tag, tag.value or "") for tag in tags or [])


def _zone(name: str | None, errors: list[FieldError]) -> tzinfo:
    text = present(name)
    if text is None or text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    offset = _OFFSET.match(text)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta < timedelta(hours=24):
            return timezone(-delta if sign == "-" else delta)
    else:
        try:
            return ZoneInfo(text)
        except (ValueError, KeyError, OSError):
            pass
    errors.append(FieldError("timezone", f"{shown(text)}: expected an IANA zone name or ±HH:MM"))
    return UTC


def _moment(
    prefix: str,
    timestamp: str | int | None,
    date: str | None,
    time: str | None,
    zone: tzinfo,
    errors: list[FieldError],
) -> float | None:
    """``<prefix>_timestamp`` (epoch seconds) or ``<prefix>_date`` + ``<prefix>_time`` as
    Zabbix writes them (``2024.05.01`` and ``12:34:56``) in the server's zone."""
    stamp = _given(timestamp)
    if stamp is not None:
        return read_time(stamp, f"{prefix}_timestamp", errors)
    day, clock = _given(date), _given(time)
    if day is None or clock is None:
        return None
    try:
        local = datetime.strptime(f"{day} {clock}", "%Y.%m.%d %H:%M:%S").replace(tzinfo=zone)
        return epoch(local)
    except (ValueError, OverflowError):
        errors.append(FieldError(f"{prefix}_date", f"{day} {clock}: expected yyyy.mm.dd hh:mm:ss"))
        return None
