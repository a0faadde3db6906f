"""What every adapter shares: typed decoding with full error lists, times, limits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from daemon.validation import FieldError, explain
from triage.alert import SenderEvent

T = TypeVar("T")

# Go's zero time, which Alertmanager sends as endsAt of firing alerts.
_ZERO_TIME_CUTOFF = datetime(1971, 1, 1, tzinfo=UTC)


class Limits(msgspec.Struct, frozen=True):
    max_alerts: int = 1000
    max_labels: int = 256
    max_name_bytes: int = 1024
    max_value_bytes: int = 16 * 1024


class Received(msgspec.Struct):
    """What an adapter made of one request: the events to enqueue and, for senders that
    expect a particular answer (PagerDuty's dedup_key), the body to answer with."""

    events: list[SenderEvent]
    reply: dict[str, Any] | None = None
    origin: str | None = None  # the sender's own identity to allow-list (an SNS topic ARN)
    subscribe_url: str | None = None  # an SNS subscription waiting for confirmation


class PayloadError(Exception):
    """The body cannot be accepted; ``status`` is 400 (invalid) or 413 (too many alerts)."""

    def __init__(
        self, errors: list[FieldError], *, status: int = 400, title: str = "invalid payload"
    ):
        self.errors = errors
        self.status = status
        self.title = title
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def decode(body: bytes, type_: type[T]) -> T:
    """Decode JSON into ``type_``; on failure list every bad field, not just the first."""
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        document = msgspec.json.decode(body)
        raise PayloadError(explain(type_, document, str(exc))) from exc
    except msgspec.DecodeError as exc:
        raise PayloadError([FieldError(field="(body)", message=f"malformed JSON: {exc}")]) from exc


def decode_any(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise PayloadError([FieldError(field="(body)", message=f"malformed JSON: {exc}")]) from exc


def convert(document: Any, type_: type[T]) -> T:
    try:
        return msgspec.convert(document, type_)
    except msgspec.ValidationError as exc:
        raise PayloadError(explain(type_, document, str(exc))) from exc


def epoch(value: datetime | None) -> float | None:
    """Seconds since the epoch; Go's zero time and absent times are None.

    A time without a zone is taken as UTC, the only zone senders should use.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value < _ZERO_TIME_CUTOFF:
        return None
    return value.timestamp()


def check_limits(
    alerts_path: str,
    index: int,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    limits: Limits,
) -> list[FieldError]:
    """Bounds that keep one sender from filling Redis with a single alert.

    The common case (all within bounds) is decided by C-speed ``min``/``max`` passes;
    only an alert that breaks a bound is walked in Python to name each offender.
    """
    if len(labels) <= limits.max_labels and all(
        _within(mapping, limits) for mapping in (labels, annotations)
    ):
        return []
    where = f"{alerts_path}[{index}]"
    errors: list[FieldError] = []
    if len(labels) > limits.max_labels:
        errors.append(
            FieldError(f"{where}.labels", f"{len(labels)} labels, at most {limits.max_labels}")
        )
    for kind, mapping in (("labels", labels), ("annotations", annotations)):
        for name, value in mapping.items():
            if not name:
                errors.append(FieldError(f"{where}.{kind}", "empty name"))
            elif len(name) > limits.max_name_bytes:
                errors.append(
                    FieldError(f"{where}.{kind}", f"name longer than {limits.max_name_bytes}")
                )
            if len(value) > limits.max_value_bytes:
                errors.append(
                    FieldError(
                        f"{where}.{kind}.{name}", f"value longer than {limits.max_value_bytes}"
                    )
                )
    return errors


def _within(mapping: Mapping[str, str], limits: Limits) -> bool:
    if not mapping:
        return True
    names = list(map(len, mapping))
    return (
        min(names) > 0
        and max(names) <= limits.max_name_bytes
        and max(map(len, mapping.values())) <= limits.max_value_bytes
    )


def check_count(count: int, limits: Limits) -> None:
    if count > limits.max_alerts:
        raise PayloadError(
            [FieldError("alerts", f"{count} alerts in one request, at most {limits.max_alerts}")],
            status=413,
            title="too many alerts",
        )
