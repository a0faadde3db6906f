"""What the source adapter tests share: a fixed clock, calling an adapter as the receive
handler does, and the check that whatever an adapter returns can be enqueued."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

from daemon.sources import ADAPTERS, PROMETHEUS, Adapter, Limits, PayloadError, Received
from triage.alert import Acknowledgement, Alert, AlertStatus, SenderEvent

NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z
LIMITS = Limits()
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def adapter(source: str) -> Adapter:
    return PROMETHEUS if source == "prometheus" else ADAPTERS[source]


def body_of(document: Any) -> bytes:
    return document if isinstance(document, bytes) else json.dumps(document).encode()


def accept(
    source: str, document: Any, *, received_at: float = NOW, limits: Limits = LIMITS
) -> Received:
    """Parse as the receive handler would and check the result could be enqueued."""
    received = adapter(source).parse(body_of(document), received_at, limits)
    assert_well_formed(received)
    return received


def reject(source: str, document: Any, *, limits: Limits = LIMITS) -> PayloadError:
    try:
        received = adapter(source).parse(body_of(document), NOW, limits)
    except PayloadError as exc:
        assert_named(exc)
        return exc
    raise AssertionError(f"accepted {received!r}")


def alerts(received: Received) -> list[Alert]:
    found = [event for event in received.events if isinstance(event, Alert)]
    assert len(found) == len(received.events), received.events
    return found


def only_alert(received: Received) -> Alert:
    [alert] = alerts(received)
    return alert


def only_ack(received: Received) -> Acknowledgement:
    [event] = received.events
    assert isinstance(event, Acknowledgement), event
    return event


def fields(exc: PayloadError) -> set[str]:
    return {error.field for error in exc.errors}


def assert_named(exc: PayloadError) -> None:
    """A rejection the sender can act on: 400 or 413, and every error names a field."""
    assert exc.status in (400, 413), exc.status
    assert exc.errors
    for error in exc.errors:
        assert isinstance(error.field, str), error
        assert error.field, error
        assert isinstance(error.message, str), error
        assert error.message, error


def assert_well_formed(received: Received) -> None:
    """Every event is one the pipeline can fold: a 16-hex fingerprint, a valid status,
    string labels and annotations, finite times; and the batch survives the stream's
    msgpack encoding unchanged."""
    for event in received.events:
        assert HEX16.match(event.fingerprint), event.fingerprint
        assert math.isfinite(event.received_at)
        if isinstance(event, Alert):
            assert isinstance(event.status, AlertStatus)
            assert event.source
            assert isinstance(event.source, str)
            for mapping in (event.labels, event.annotations):
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
            assert math.isfinite(event.starts_at)
            assert event.ends_at is None or math.isfinite(event.ends_at)
            if event.status is AlertStatus.RESOLVED:
                assert event.ends_at is not None
            if event.labels:
                assert event.labels.get("severity") in {"critical", "error", "warning", "info"} or (
                    event.source in {"alertmanager", "prometheus", "generic"}
                ), event.labels
        else:
            assert isinstance(event, Acknowledgement)
            assert math.isfinite(event.at)
            assert event.actor
    encoded = msgspec.msgpack.encode(received.events)
    assert msgspec.msgpack.decode(encoded, type=list[SenderEvent]) == received.events
    if received.reply is not None:
        json.dumps(received.reply)
