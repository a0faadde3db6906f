"""Silences, maintenance windows and inhibition, each reported with its reason."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from routing.matchers import parse_matcher
from routing.silences import (
    InhibitionIndex,
    InhibitRule,
    MuteReason,
    Silence,
    Suppression,
    SuppressionKind,
    active_maintenance,
    index_firing,
    suppression_for,
)

T0 = 1_750_000_000.0


def silence(
    silence_id: str,
    *matchers: str,
    kind: SuppressionKind = SuppressionKind.SILENCE,
    start: float = T0,
    end: float = T0 + 3600,
) -> Silence:
    return Silence(
        id=silence_id,
        kind=kind,
        matchers=tuple(parse_matcher(text) for text in matchers),
        starts_at=start,
        ends_at=end,
        created_by="alice",
        comment="deploy",
    )


def rule(name: str, source: str, target: str, *equal: str) -> InhibitRule:
    return InhibitRule(name, (parse_matcher(source),), (parse_matcher(target),), equal)


DB = silence("s-db", 'service="db"', 'env=~"prod|staging"')
MAINT = silence("m-db", 'service="db"', kind=SuppressionKind.MAINTENANCE, end=T0 + 7200)
NO_INHIBITION = InhibitionIndex()


@pytest.mark.parametrize(
    ("labels", "now", "muted"),
    [
        ({"service": "db", "env": "prod"}, T0, True),  # start is inclusive
        ({"service": "db", "env": "prod"}, T0 + 3599.9, True),
        ({"service": "db", "env": "prod"}, T0 + 3600, False),  # end is exclusive
        ({"service": "db", "env": "prod"}, T0 - 1, False),
        ({"service": "db", "env": "dev"}, T0, False),  # every matcher must match
        ({"service": "db"}, T0, False),
        ({"service": "web", "env": "prod"}, T0, False),
    ],
)
def test_silence_window_and_matchers(labels: dict[str, str], now: float, muted: bool) -> None:
    assert suppression_for("fp", labels, now, (DB,), NO_INHIBITION).suppressed is muted


def test_every_muting_silence_is_reported_with_its_reason() -> None:
    labels = {"service": "db", "env": "prod"}
    found = suppression_for("fp", labels, T0 + 10, (DB, MAINT), NO_INHIBITION)
    assert found == Suppression(
        (
            MuteReason(
                kind=SuppressionKind.SILENCE,
                id="s-db",
                detail="silence by alice: deploy",
                until=T0 + 3600,
            ),
            MuteReason(
                kind=SuppressionKind.MAINTENANCE,
                id="m-db",
                detail="maintenance by alice: deploy",
                until=T0 + 7200,
            ),
        )
    )


def test_not_suppressed_has_no_reasons() -> None:
    found = suppression_for("fp", {"service": "web"}, T0, (DB, MAINT), NO_INHIBITION)
    assert found == Suppression()
    assert not found.suppressed


def test_active_maintenance_picks_the_window_that_ends_last() -> None:
    longer = silence("m-long", 'env="prod"', kind=SuppressionKind.MAINTENANCE, end=T0 + 9000)
    windows = (DB, MAINT, longer)
    assert active_maintenance(windows, {"service": "db", "env": "prod"}, T0) is longer
    assert active_maintenance(windows, {"service": "db"}, T0) is MAINT
    assert active_maintenance(windows, {"service": "db"}, T0 + 7200) is None
    assert active_maintenance((DB,), {"service": "db", "env": "prod"}, T0) is None


CRITICAL_MUTES_WARNING = rule(
    "crit-mutes-warn", 'severity="critical"', 'severity="warning"', "alertname", "instance"
)
FIRING: list[tuple[str, Mapping[str, str]]] = [
    ("fp-crit", {"alertname": "Disk", "instance": "db1", "severity": "critical"}),
    ("fp-other", {"alertname": "CPU", "instance": "db1", "severity": "warning"}),
]


@pytest.mark.parametrize(
    ("labels", "inhibited"),
    [
        ({"alertname": "Disk", "instance": "db1", "severity": "warning"}, True),
        ({"alertname": "Disk", "instance": "db2", "severity": "warning"}, False),  # not equal
        ({"alertname": "CPU", "instance": "db1", "severity": "warning"}, False),
        ({"alertname": "Disk", "instance": "db1", "severity": "info"}, False),  # not a target
        ({"alertname": "Disk", "severity": "warning"}, False),  # instance "" != "db1"
    ],
)
def test_inhibition_requires_equal_labels(labels: dict[str, str], inhibited: bool) -> None:
    index = index_firing([CRITICAL_MUTES_WARNING], FIRING)
    assert suppression_for("fp-x", labels, T0, (), index).suppressed is inhibited


def test_inhibition_reason_names_rule_source_and_labels() -> None:
    index = index_firing([CRITICAL_MUTES_WARNING], FIRING)
    labels = {"alertname": "Disk", "instance": "db1", "severity": "warning"}
    assert suppression_for("fp-warn", labels, T0, (), index).reasons == (
        MuteReason(
            kind=SuppressionKind.INHIBITION,
            id="crit-mutes-warn",
            detail='inhibited by firing alert fp-crit with equal alertname="Disk", instance="db1"',
            source_fingerprint="fp-crit",
        ),
    )


def test_label_absent_on_both_sides_counts_as_equal() -> None:
    index = index_firing(
        [rule("r", 'severity="critical"', 'severity="warning"', "zone")],
        [("fp-crit", {"severity": "critical"})],
    )
    assert suppression_for("fp-warn", {"severity": "warning"}, T0, (), index).suppressed


def test_rule_without_equal_labels_says_so_briefly() -> None:
    index = index_firing(
        [rule("r", 'severity="critical"', 'severity="warning"')],
        [("fp-crit", {"severity": "critical"})],
    )
    (reason,) = suppression_for("fp-warn", {"severity": "warning"}, T0, (), index).reasons
    assert reason.detail == "inhibited by firing alert fp-crit"


def test_resolved_source_no_longer_inhibits() -> None:
    index = index_firing([CRITICAL_MUTES_WARNING], FIRING[1:])
    labels = {"alertname": "Disk", "instance": "db1", "severity": "warning"}
    assert not suppression_for("fp-warn", labels, T0, (), index).suppressed


def test_an_alert_does_not_inhibit_itself() -> None:
    both = rule("r", 'team="db"', 'team="db"', "instance")
    labels = {"team": "db", "instance": "db1"}
    assert not suppression_for(
        "fp-a", labels, T0, (), index_firing([both], [("fp-a", labels)])
    ).suppressed


def test_alerts_matching_both_sides_do_not_mute_each_other() -> None:
    both = rule("r", 'team="db"', 'team="db"', "instance")
    one = {"team": "db", "instance": "db1", "severity": "warning"}
    two = {"team": "db", "instance": "db1", "severity": "critical"}
    index = index_firing([both], [("fp-1", one), ("fp-2", two)])
    assert not suppression_for("fp-1", one, T0, (), index).suppressed
    assert not suppression_for("fp-2", two, T0, (), index).suppressed


def test_one_sided_source_mutes_a_two_sided_target() -> None:
    crit_or_warn = InhibitRule(
        "r",
        (parse_matcher('severity=~"critical|warning"'),),
        (parse_matcher('severity="warning"'),),
        (),
    )
    index = index_firing([crit_or_warn], [("fp-crit", {"severity": "critical"})])
    assert suppression_for("fp-warn", {"severity": "warning"}, T0, (), index).suppressed


def test_silences_come_before_inhibitions_in_the_reasons() -> None:
    index = index_firing([CRITICAL_MUTES_WARNING], FIRING)
    labels = {"alertname": "Disk", "instance": "db1", "severity": "warning", "service": "db"}
    reasons = suppression_for("fp-w", labels, T0, (MAINT,), index).reasons
    assert [(reason.kind, reason.id) for reason in reasons] == [
        (SuppressionKind.MAINTENANCE, "m-db"),
        (SuppressionKind.INHIBITION, "crit-mutes-warn"),
    ]
