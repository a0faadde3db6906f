"""Incident lifecycle: triggered → acknowledged → resolved → closed, reopen, note."""

from __future__ import annotations

import msgspec
import pytest

from triage.incident import (
    SYSTEM_ACTOR,
    Action,
    Incident,
    IncidentStatus,
    TimelineEntry,
    TransitionError,
    auto_resolve,
    perform,
    reopen_by_alert,
)

T = IncidentStatus
NOW = 5000.0

ALLOWED: dict[Action, set[IncidentStatus]] = {
    Action.ACKNOWLEDGE: {T.TRIGGERED},
    Action.RESOLVE: {T.TRIGGERED, T.ACKNOWLEDGED},
    Action.CLOSE: {T.RESOLVED},
    Action.REOPEN: {T.RESOLVED},
    Action.NOTE: set(T),
}
FORBIDDEN = [(action, status) for action in Action for status in T if status not in ALLOWED[action]]


def incident(status: IncidentStatus = T.TRIGGERED, **changes: object) -> Incident:
    base = Incident(
        id="INC-42",
        key="service=checkout",
        title="HighLatency on checkout",
        status=status,
        priority="P2",
        category="other",
        group="triage-queue",
        procedure="standard",
        created_at=1000.0,
        updated_at=1000.0,
        started_at=990.0,
        acknowledged_at=1100.0 if status is not T.TRIGGERED else None,
        resolved_at=1200.0 if status in (T.RESOLVED, T.CLOSED) else None,
        closed_at=1300.0 if status is T.CLOSED else None,
    )
    return msgspec.structs.replace(base, **changes)


def test_is_open() -> None:
    assert {s for s in T if s.is_open} == {T.TRIGGERED, T.ACKNOWLEDGED}


def test_the_matrix_covers_every_action_and_status() -> None:
    allowed = [(a, s) for a in Action for s in ALLOWED[a]]
    assert len(allowed) + len(FORBIDDEN) == len(Action) * len(T)
    assert len(FORBIDDEN) == 11  # ack 3, resolve 2, close 3, reopen 3, note 0


# --- allowed transitions -----------------------------------------------------------------


def test_acknowledge_triggered() -> None:
    updated, entry = perform(
        incident(T.TRIGGERED), Action.ACKNOWLEDGE, actor="alice", message="", now=NOW
    )
    assert updated.status is T.ACKNOWLEDGED
    assert updated.acknowledged_at == NOW
    assert updated.updated_at == NOW
    assert entry == TimelineEntry(
        at=NOW,
        kind="acknowledge",
        actor="alice",
        message="acknowledge (triggered before)",
        data={"from": "triggered"},
    )


@pytest.mark.parametrize("status", [T.TRIGGERED, T.ACKNOWLEDGED])
def test_resolve_open_incident(status: IncidentStatus) -> None:
    before = incident(status)
    updated, entry = perform(before, Action.RESOLVE, actor="bob", message="fixed", now=NOW)
    assert updated.status is T.RESOLVED
    assert updated.resolved_at == NOW
    assert updated.updated_at == NOW
    assert updated.acknowledged_at == before.acknowledged_at
    assert (entry.kind, entry.actor, entry.message, entry.at) == ("resolve", "bob", "fixed", NOW)
    assert entry.data == {"from": str(status)}


def test_close_resolved() -> None:
    before = incident(T.RESOLVED)
    updated, entry = perform(before, Action.CLOSE, actor="carol", message="", now=NOW)
    assert updated.status is T.CLOSED
    assert updated.closed_at == NOW
    assert updated.resolved_at == before.resolved_at
    assert entry.kind == "close"
    assert entry.message == "close (resolved before)"
    assert entry.data == {"from": "resolved"}


def test_reopen_resolved_clears_ack_and_resolve_and_counts() -> None:
    before = incident(T.RESOLVED, reopen_count=2)
    updated, entry = perform(before, Action.REOPEN, actor="dave", message="back", now=NOW)
    assert updated.status is T.TRIGGERED
    assert updated.acknowledged_at is None
    assert updated.resolved_at is None
    assert updated.reopen_count == 3
    assert updated.updated_at == NOW
    assert updated.created_at == before.created_at
    assert (entry.kind, entry.actor, entry.message) == ("reopen", "dave", "back")
    assert entry.data == {"from": "resolved"}


@pytest.mark.parametrize("status", list(T))
def test_note_is_allowed_everywhere_and_changes_no_status(status: IncidentStatus) -> None:
    before = incident(status)
    updated, entry = perform(before, Action.NOTE, actor="erin", message="checked logs", now=NOW)
    assert updated.status is status
    assert updated.updated_at == NOW
    assert (updated.acknowledged_at, updated.resolved_at, updated.closed_at) == (
        before.acknowledged_at,
        before.resolved_at,
        before.closed_at,
    )
    assert (entry.kind, entry.actor, entry.message, entry.at) == (
        "note",
        "erin",
        "checked logs",
        NOW,
    )


@pytest.mark.parametrize(("action", "status"), [(a, s) for a in Action for s in sorted(ALLOWED[a])])
def test_every_allowed_transition_succeeds_and_documents_itself(
    action: Action, status: IncidentStatus
) -> None:
    before = incident(status)
    updated, entry = perform(before, action, actor="ops", message="", now=NOW)
    assert updated.id == before.id
    assert updated.updated_at == NOW
    assert entry.kind == str(action)
    assert entry.actor == "ops"
    assert entry.at == NOW
    assert entry.message == f"{action} ({status} before)"
    assert entry.data["from"] == str(status)
    assert before.status is status  # values are immutable; the input is untouched


def test_full_lifecycle() -> None:
    inc = incident(T.TRIGGERED)
    entries: list[TimelineEntry] = []
    for action, expected in [
        (Action.ACKNOWLEDGE, T.ACKNOWLEDGED),
        (Action.RESOLVE, T.RESOLVED),
        (Action.REOPEN, T.TRIGGERED),
        (Action.RESOLVE, T.RESOLVED),
        (Action.CLOSE, T.CLOSED),
    ]:
        inc, entry = perform(inc, action, actor="ops", message="", now=NOW + len(entries))
        entries.append(entry)
        assert inc.status is expected
    assert [e.kind for e in entries] == ["acknowledge", "resolve", "reopen", "resolve", "close"]
    assert [e.at for e in entries] == [NOW, NOW + 1, NOW + 2, NOW + 3, NOW + 4]
    assert inc.reopen_count == 1
    assert inc.closed_at == NOW + 4


# --- forbidden transitions ---------------------------------------------------------------


@pytest.mark.parametrize(("action", "status"), FORBIDDEN)
def test_every_forbidden_transition_raises_naming_the_status(
    action: Action, status: IncidentStatus
) -> None:
    with pytest.raises(TransitionError) as caught:
        perform(incident(status), action, actor="ops", message="", now=NOW)
    message = str(caught.value)
    assert f"it is {status}" in message
    assert "INC-42" in message
    assert str(action) in message


def test_forbidden_message_in_full() -> None:
    with pytest.raises(TransitionError) as caught:
        perform(incident(T.CLOSED), Action.REOPEN, actor="ops", message="", now=NOW)
    assert str(caught.value) == (
        "cannot reopen incident INC-42: it is closed (allowed from: resolved)"
    )


def test_acknowledge_twice_is_refused() -> None:
    acked, _ = perform(incident(), Action.ACKNOWLEDGE, actor="a", message="", now=NOW)
    with pytest.raises(TransitionError, match="it is acknowledged"):
        perform(acked, Action.ACKNOWLEDGE, actor="b", message="", now=NOW + 1)


# --- system transitions ------------------------------------------------------------------


def test_reopen_by_alert() -> None:
    before = incident(T.RESOLVED)
    updated, entry = reopen_by_alert(before, fingerprint="00000000000000ff", at=NOW)
    assert updated.status is T.TRIGGERED
    assert updated.resolved_at is None
    assert updated.acknowledged_at is None
    assert updated.reopen_count == 1
    assert updated.updated_at == NOW
    assert entry == TimelineEntry(
        at=NOW,
        kind="reopen",
        actor=SYSTEM_ACTOR,
        message="alert 00000000000000ff fired again within the reopen window",
        data={"fingerprint": "00000000000000ff", "from": "resolved"},
    )


@pytest.mark.parametrize("status", [T.TRIGGERED, T.ACKNOWLEDGED])
def test_auto_resolve(status: IncidentStatus) -> None:
    before = incident(status)
    updated, entry = auto_resolve(before, at=NOW)
    assert updated.status is T.RESOLVED
    assert updated.resolved_at == NOW
    assert updated.updated_at == NOW
    assert updated.acknowledged_at == before.acknowledged_at
    assert entry == TimelineEntry(
        at=NOW,
        kind="resolve",
        actor=SYSTEM_ACTOR,
        message="all alerts resolved",
        data={"from": str(status), "auto": True},
    )
