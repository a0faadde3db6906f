"""Suppression: silences, maintenance windows and inhibition, each saying why it muted.

All three answer the same question for one alert -- "is it muted now, and by what?" -- and
the answer is a list of reasons rather than a flag, because a suppressed alert is kept and
marked with what suppressed it, and an operator must be able to find the silence to lift.

- A *silence* mutes alerts whose labels match all of its matchers between ``starts_at``
  and ``ends_at``; it records who created it and why.
- A *maintenance window* is a silence that also pauses escalation of incidents it covers
  (see :func:`active_maintenance` and ``paused_until`` in ``routing.escalation``).
- An *inhibition rule* mutes alerts matching its target matchers while another firing alert
  matches its source matchers and carries the same values for the ``equal`` labels (an
  absent label counts as the empty value on both sides). An alert never inhibits itself,
  and when an alert matches both sides of a rule, alerts that also match both sides cannot
  inhibit it, so two such alerts do not mute each other.

Suppression runs before triage, so these matchers only look at labels.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec

from routing.matchers import Matcher, Subject, matches_all


class SuppressionKind(enum.StrEnum):
    SILENCE = "silence"
    MAINTENANCE = "maintenance"
    INHIBITION = "inhibition"


@dataclass(frozen=True, slots=True)
class Silence:
    """A silence or, with ``kind`` MAINTENANCE, a maintenance window."""

    id: str
    kind: SuppressionKind
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str

    def mutes(self, subject: Subject, now: float) -> bool:
        return self.starts_at <= now < self.ends_at and matches_all(self.matchers, subject)


@dataclass(frozen=True, slots=True)
class InhibitRule:
    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def key_of(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.equal)


class MuteReason(msgspec.Struct, frozen=True, kw_only=True):
    """One thing that mutes an alert. ``id`` is the silence id or inhibition rule name;
    ``until`` is when a silence ends (None for inhibition, which lasts while its source
    fires), so the caller knows when to look at the alert again."""

    kind: SuppressionKind
    id: str
    detail: str
    until: float | None = None
    source_fingerprint: str | None = None


class Suppression(msgspec.Struct, frozen=True):
    reasons: tuple[MuteReason, ...] = ()

    @property
    def suppressed(self) -> bool:
        return bool(self.reasons)


@dataclass(frozen=True, slots=True)
class _Source:
    fingerprint: str
    matches_target: bool


@dataclass(frozen=True, slots=True)
class InhibitionIndex:
    """Firing source alerts per rule, keyed by their ``equal`` label values.

    Built once per batch from the alerts firing now, so checking an alert costs one lookup
    per rule instead of a scan over every firing alert.
    """

    rules: tuple[InhibitRule, ...] = ()
    sources: tuple[Mapping[tuple[str, ...], tuple[_Source, ...]], ...] = ()

    def reasons_for(self, fingerprint: str, subject: Subject) -> tuple[MuteReason, ...]:
        return tuple(
            reason
            for rule, by_key in zip(self.rules, self.sources, strict=True)
            if (reason := _inhibition(rule, by_key, fingerprint, subject)) is not None
        )


def index_firing(
    rules: Iterable[InhibitRule], firing: Iterable[tuple[str, Mapping[str, str]]]
) -> InhibitionIndex:
    """Index the firing alerts, given as ``(fingerprint, labels)``, for the rules."""
    rules = tuple(rules)
    tables: list[dict[tuple[str, ...], list[_Source]]] = [{} for _ in rules]
    for fingerprint, labels in firing:
        subject = Subject(labels=labels)
        for rule, table in zip(rules, tables, strict=True):
            if matches_all(rule.source, subject):
                source = _Source(fingerprint, matches_all(rule.target, subject))
                table.setdefault(rule.key_of(labels), []).append(source)
    return InhibitionIndex(
        rules=rules,
        sources=tuple({key: tuple(found) for key, found in table.items()} for table in tables),
    )


def _inhibition(
    rule: InhibitRule,
    by_key: Mapping[tuple[str, ...], tuple[_Source, ...]],
    fingerprint: str,
    subject: Subject,
) -> MuteReason | None:
    if not matches_all(rule.target, subject):
        return None
    two_sided = matches_all(rule.source, subject)
    key = rule.key_of(subject.labels)
    for source in by_key.get(key, ()):
        if source.fingerprint != fingerprint and not (two_sided and source.matches_target):
            shared = ", ".join(
                f'{name}="{value}"' for name, value in zip(rule.equal, key, strict=True)
            )
            return MuteReason(
                kind=SuppressionKind.INHIBITION,
                id=rule.name,
                detail=f"inhibited by firing alert {source.fingerprint}"
                + (f" with equal {shared}" if shared else ""),
                source_fingerprint=source.fingerprint,
            )
    return None


def suppression_for(
    fingerprint: str,
    labels: Mapping[str, str],
    now: float,
    silences: Iterable[Silence],
    inhibition: InhibitionIndex,
) -> Suppression:
    """Everything that mutes the alert at ``now``: silences and maintenance windows in the
    order given, then inhibition rules in configuration order."""
    subject = Subject(labels=labels)
    muted_by = tuple(
        MuteReason(
            kind=silence.kind,
            id=silence.id,
            detail=f"{silence.kind.value} by {silence.created_by}: {silence.comment}",
            until=silence.ends_at,
        )
        for silence in silences
        if silence.mutes(subject, now)
    )
    return Suppression(muted_by + inhibition.reasons_for(fingerprint, subject))


def active_maintenance(
    silences: Iterable[Silence], labels: Mapping[str, str], now: float
) -> Silence | None:
    """The maintenance window covering an incident's labels at ``now`` that ends last.

    The scheduler passes its ``ends_at`` as ``paused_until`` to escalation.
    """
    subject = Subject(labels=labels)
    covering = [
        silence
        for silence in silences
        if silence.kind is SuppressionKind.MAINTENANCE and silence.mutes(subject, now)
    ]
    return max(covering, key=lambda silence: silence.ends_at, default=None)
