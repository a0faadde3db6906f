"""What every adapter shares: typed decoding with full error lists, times, limits, and
the conventions every vendor adapter follows (tags as labels, the severity labels, how a
firing or resolved alert is timed)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from daemon.validation import FieldError, explain
from triage.alert import Alert, AlertStatus, SenderEvent
from triage.severity import SEVERITY_LABEL, Severity, parse_severity

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
        try:
            document = msgspec.json.decode(body)
        except UnicodeDecodeError as bad_text:
            raise _malformed(bad_text) from exc
        except msgspec.DecodeError:
            # Valid JSON that no Python value holds (a number like 1e999); the typed
            # decoder's message says where ("... - at `$.alerts[0].value`").
            raise PayloadError([FieldError("(body)", str(exc))]) from exc
        raise PayloadError(explain(type_, document, str(exc))) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _malformed(exc) from exc


def decode_checked(body: bytes, type_: type[T], check: Callable[[Any], list[FieldError]]) -> T:
    """``decode``, naming the adapter's own problems beside the schema's when the typed
    decode fails: ``check`` gets the plain document and looks only at the parts that are
    valid on their own (``valid_items``), so a sender learns of an unsupported version or
    an empty label set in the same answer as a wrong type, not on its next try."""
    try:
        return decode(body, type_)
    except PayloadError as exc:
        try:
            document = msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise exc from None
        more = check(document)
        if not more:
            raise
        raise PayloadError(exc.errors + more, status=exc.status, title=exc.title) from exc


def valid_items(items: Any, type_: type[T]) -> Iterator[tuple[int, T]]:
    """The entries of a plain JSON list that convert to ``type_``, with their index."""
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        try:
            yield index, msgspec.convert(item, type_)
        except msgspec.ValidationError:
            continue


def decode_any(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _malformed(exc) from exc


def _malformed(exc: Exception) -> PayloadError:
    """Not JSON, or JSON whose strings are not UTF-8 (msgspec raises UnicodeDecodeError
    for those, which is no DecodeError)."""
    return PayloadError([FieldError(field="(body)", message=f"malformed JSON: {exc}")])


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
    """Bounds that keep one sender from filling Redis with a single alert."""
    return check_sizes(f"{alerts_path}[{index}]", labels, annotations, limits)


def check_sizes(
    where: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    limits: Limits,
) -> list[FieldError]:
    """``check_limits`` for an alert named by ``where`` itself, for senders that post one
    alert per request and have no list index to name.

    The common case (all within bounds) is decided by C-speed ``min``/``max`` passes;
    only an alert that breaks a bound is walked in Python to name each offender.
    """
    if len(labels) <= limits.max_labels and all(
        _within(mapping, limits) for mapping in (labels, annotations)
    ):
        return []
    errors: list[FieldError] = []
    if len(labels) > limits.max_labels:
        errors.append(
            FieldError(f"{where}.labels", f"{len(labels)} labels, at most {limits.max_labels}")
        )
    for kind, mapping in (("labels", labels), ("annotations", annotations)):
        for name, value in mapping.items():
            if not name:
                errors.append(FieldError(f"{where}.{kind}", "empty name"))
            elif _size(name) > limits.max_name_bytes:
                errors.append(
                    FieldError(f"{where}.{kind}", f"name longer than {limits.max_name_bytes}")
                )
            if _size(value) > limits.max_value_bytes:
                errors.append(
                    FieldError(
                        f"{where}.{kind}.{name}", f"value longer than {limits.max_value_bytes}"
                    )
                )
    return errors


def _within(mapping: Mapping[str, str], limits: Limits) -> bool:
    """Bytes, not characters: a character is at most 4 UTF-8 bytes, so only strings
    longer than a quarter of a limit need encoding to be sure."""
    if not mapping:
        return True
    names = list(map(len, mapping))
    return (
        min(names) > 0
        and _fits(mapping.keys(), max(names), limits.max_name_bytes)
        and _fits(mapping.values(), max(map(len, mapping.values())), limits.max_value_bytes)
    )


def _fits(texts: Iterable[str], longest: int, limit: int) -> bool:
    if longest * 4 <= limit:
        return True
    return all(len(text.encode()) <= limit for text in texts)


def _size(text: str) -> int:
    return len(text.encode())


def check_count(count: int, limits: Limits) -> None:
    if count > limits.max_alerts:
        raise PayloadError(
            [FieldError("alerts", f"{count} alerts in one request, at most {limits.max_alerts}")],
            status=413,
            title="too many alerts",
        )


# --- shared by the vendor adapters ---------------------------------------------------


def decode_at(body: bytes | str, type_: type[T], where: str) -> T:
    """``decode`` for a JSON document nested as a string inside another (an SNS
    ``Message``): errors are named from the outer document, e.g. ``Message.AlarmName``."""
    try:
        return decode(body.encode() if isinstance(body, str) else body, type_)
    except PayloadError as exc:
        raise PayloadError(_prefixed(where, exc.errors), status=exc.status) from exc


def _prefixed(where: str, errors: list[FieldError]) -> list[FieldError]:
    if not where:
        return errors
    out: list[FieldError] = []
    for error in errors:
        field = error.field
        if field == "(body)":
            field = where
        elif field.startswith("["):
            field = where + field
        else:
            field = f"{where}.{field}"
        out.append(FieldError(field, error.message, (where, *error.path)))
    return out


def shown(value: object, limit: int = 60) -> str:
    """A sender's value quoted in an error message, cut short: an error answer must not
    echo a large value back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def present(value: str | None) -> str | None:
    """The value, or None when it is absent or blank: template-driven senders (Datadog,
    Zabbix) fill unknown variables with empty strings rather than leaving fields out."""
    if value is None:
        return None
    value = value.strip()
    return value or None


_LATEST_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z, the last second a datetime holds
_MILLISECONDS_ABOVE = 1e11  # as seconds that is the year 5138; as milliseconds, 1973


def parse_timestamp(value: str | int | float) -> float | None:
    """Seconds since the epoch from whichever spelling a sender uses.

    Numbers and numeric strings are epoch seconds, or milliseconds when too large to be
    seconds (Datadog's ``$DATE``). Text is ISO 8601 in any common form: ``Z``, ``+00:00``,
    ``+0000`` (PagerDuty's and CloudWatch's own examples), more than six fractional digits,
    or no zone at all, which is taken as UTC. Raises ValueError naming the problem; times
    before 1971 are None (absent), as Go senders put zero times where they mean none.
    """
    if isinstance(value, str):
        text = value.strip()
        if not _looks_numeric(text):
            try:
                return epoch(datetime.fromisoformat(text))
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"{shown(value)} is not an ISO 8601 time or epoch number") from exc
    try:
        number = float(value)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{shown(value)} is not an ISO 8601 time or epoch number") from exc
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{shown(value)} is not a time")
    if number > _MILLISECONDS_ABOVE:
        number /= 1000
    if number > _LATEST_EPOCH:
        raise ValueError(f"{shown(value)} is beyond the year 9999")
    return number if number >= _ZERO_TIME_CUTOFF.timestamp() else None


def _looks_numeric(text: str) -> bool:
    return bool(text) and text.replace(".", "", 1).isdigit() and text.isascii()


def read_time(
    value: str | int | float | None, field: str, errors: list[FieldError]
) -> float | None:
    """``parse_timestamp`` that records a bad time as a field error instead of raising,
    so one request's problems are all reported together. Blank is absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        errors.append(FieldError(field, str(exc)))
        return None


def stringify(value: Any) -> str:
    """A vendor value as label or annotation text: strings as they are, anything else
    (numbers, booleans, nested objects) as compact JSON with sorted keys, so the same
    value always gives the same text."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return msgspec.json.encode(value, order="sorted").decode()


def non_empty(pairs: Mapping[str, str | None]) -> dict[str, str]:
    """Only the entries with a value: optional vendor fields become labels or
    annotations only when the sender filled them."""
    return {name: value for name, value in pairs.items() if value}


def tag_labels(tags: Iterable[str]) -> dict[str, str]:
    """Vendor tags as labels, so routing rules and the incident key can use them.

    ``key:value`` and ``key=value`` tags (whichever separator comes first) become the
    label ``key``; see ``pair_labels`` for repeated keys and bare tags.
    """
    pairs: list[tuple[str, str]] = []
    for raw in tags:
        tag = raw.strip()
        cut = min((i for i in (tag.find(":"), tag.find("=")) if i > 0), default=-1)
        pairs.append((tag[:cut], tag[cut + 1 :]) if cut > 0 else (tag, ""))
    return pair_labels(pairs)


def pair_labels(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``(name, value)`` tags as labels. A name given several values gets them sorted and
    comma-joined, so tag order never changes an alert's labels; tags without a value are
    kept together, sorted, in the label ``tags``."""
    values: dict[str, set[str]] = {}
    bare: set[str] = set()
    for raw_name, raw_value in pairs:
        name, value = raw_name.strip(), raw_value.strip()
        if not name:
            continue
        if value:
            values.setdefault(name, set()).add(value)
        else:
            bare.add(name)
    labels = {name: ",".join(sorted(found)) for name, found in values.items()}
    if bare:
        labels["tags"] = ",".join(sorted(bare))
    return labels


def severity_labels(raw: str | None, severity: Severity | None = None) -> dict[str, str]:
    """The canonical ``severity`` label (critical, error, warning, info) and the sender's
    own value in ``vendor_severity``, so rules see one scale and people see the original.

    ``severity`` overrides the name lookup for vendors whose scale is not names (Zabbix's
    numeric severities).
    """
    level = severity if severity is not None else parse_severity(raw)
    labels = {"severity": SEVERITY_LABEL[level]}
    if raw:
        labels["vendor_severity"] = raw
    return labels


def make_alert(
    *,
    fingerprint: str,
    source: str,
    firing: bool,
    labels: dict[str, str],
    annotations: dict[str, str],
    received_at: float,
    starts_at: float | None = None,
    ends_at: float | None = None,
    generator_url: str = "",
) -> Alert:
    """An alert timed the way dedup orders events: a firing alert starts when the sender
    says it did (else on receipt); a resolved one ends when the sender says (else on
    receipt), since dedup orders a resolve by its ``ends_at``."""
    if firing:
        return Alert(
            fingerprint=fingerprint,
            source=source,
            status=AlertStatus.FIRING,
            labels=labels,
            annotations=annotations,
            starts_at=starts_at if starts_at is not None else received_at,
            ends_at=ends_at,
            received_at=received_at,
            generator_url=generator_url,
        )
    ended = ends_at if ends_at is not None else received_at
    return Alert(
        fingerprint=fingerprint,
        source=source,
        status=AlertStatus.RESOLVED,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at if starts_at is not None else ended,
        ends_at=ended,
        received_at=received_at,
        generator_url=generator_url,
    )
