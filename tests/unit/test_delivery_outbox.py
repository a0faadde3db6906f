"""daemon.delivery.outbox: notification values, the idempotency key, the entry format."""

from __future__ import annotations

import msgspec
import pytest

from daemon.delivery.outbox import (
    IncidentSummary,
    Notification,
    decode_entry,
    entry_fields,
    idempotency_key,
    notifications_for,
    retry_member,
    transition,
)
from triage.incident import Incident, IncidentStatus

SUMMARY = IncidentSummary(
    id="INC-7", key="service=db", title="DB down", status="triggered", priority="P1"
)


def notification(**changes: object) -> Notification:
    base = Notification(
        incident_id="INC-7",
        transition="opened",
        target="database",
        channel="ops-hook",
        incident=SUMMARY,
        created_at=1_700_000_000.0,
    )
    return msgspec.structs.replace(base, **changes)


def test_the_key_is_pinned() -> None:
    """Receivers store keys: changing how they are made breaks their dedup. (The value is
    sha256 of the compact JSON array ["INC-7","opened","database","ops-hook"], cut to 32.)"""
    assert idempotency_key(notification()) == "fd0484f05b1ae6fdb2ced71de26b74c5"


def test_the_key_ignores_what_a_message_shows_and_when_it_was_made() -> None:
    later = notification(
        created_at=1_800_000_000.0,
        incident=msgspec.structs.replace(SUMMARY, status="acknowledged", title="renamed"),
    )
    assert idempotency_key(later) == idempotency_key(notification())


@pytest.mark.parametrize(
    "change",
    [
        {"incident_id": "INC-8"},
        {"transition": "resolved"},
        {"target": "sre"},
        {"channel": "ops-chat"},
    ],
)
def test_each_part_of_the_identity_changes_the_key(change: dict[str, str]) -> None:
    assert idempotency_key(notification(**change)) != idempotency_key(notification())


def test_no_separator_ambiguity() -> None:
    one = notification(transition="a:b", target="c")
    two = notification(transition="a", target="b:c")
    assert idempotency_key(one) != idempotency_key(two)


def test_key_shape() -> None:
    key = notification().key
    assert len(key) == 32
    assert int(key, 16) >= 0


@pytest.mark.parametrize(
    ("kind", "detail", "cycle", "expected", "event"),
    [
        ("opened", None, 0, "opened", "opened"),
        ("escalated", 2, 0, "escalated:2", "escalated"),
        ("resolved", None, 1, "resolved#1", "resolved"),
        ("escalated", 3, 2, "escalated:3#2", "escalated"),
    ],
)
def test_transitions(kind: str, detail: int | None, cycle: int, expected: str, event: str) -> None:
    made = transition(kind, detail, cycle=cycle)
    assert made == expected
    assert notification(transition=made).event == event


def test_entry_round_trip() -> None:
    n = notification()
    assert decode_entry(entry_fields(n, 3)) == (n, 3)


def test_retry_member_is_attempts_then_notification() -> None:
    n = notification()
    attempts, _, body = retry_member(n, 4).partition(":")
    assert attempts == "4"
    assert msgspec.json.decode(body.encode(), type=Notification) == n


def test_undecodable_entries_are_value_errors() -> None:
    with pytest.raises(ValueError, match="no notification"):
        decode_entry({b"x": b"1"})
    with pytest.raises(msgspec.DecodeError, match="JSON"):
        decode_entry({b"n": b"{not json"})


def test_notifications_for_one_per_channel_without_duplicates() -> None:
    incident = Incident(
        id="INC-3",
        key="service=api",
        title="API errors",
        status=IncidentStatus.TRIGGERED,
        priority="P2",
        category="availability",
        group="web",
        procedure="standard",
        created_at=1.0,
        updated_at=1.0,
        started_at=1.0,
        escalation_level=1,
    )
    made = notifications_for(
        incident,
        "escalated:1",
        ["chat", "mail", "chat"],
        now=5.0,
        target="web",
        url="https://t.example/INC-3",
    )
    assert [n.channel for n in made] == ["chat", "mail"]
    assert made[0].incident == IncidentSummary(
        id="INC-3",
        key="service=api",
        title="API errors",
        status="triggered",
        priority="P2",
        category="availability",
        group="web",
        escalation_level=1,
        url="https://t.example/INC-3",
    )
    assert {n.key for n in made} == {idempotency_key(n) for n in made}
    assert len({n.key for n in made}) == 2
