"""What correlation reads from an alert: normalised text, components, and its kind."""

from __future__ import annotations

from tests.unit.test_correlation_support import CONFIG, facts
from triage.correlation import AlertFacts, features
from triage.correlation.features import jaccard, tokens


def test_tokens_are_normalised_words() -> None:
    assert tokens("Disk 91% full on /var/lib/data; p99 is 3.2s") == frozenset(
        {"disk", "full", "var", "lib", "data", "p0", "0s"}
    )


def test_replica_names_are_cut_from_text_so_replicas_read_alike() -> None:
    a = facts("orders", at=0, pod="orders-7f9-abcde", summary="Crash looping in orders-7f9-abcde")
    b = facts("orders", at=0, pod="orders-7f9-zzzzz", summary="Crash looping in orders-7f9-zzzzz")
    assert features(a, CONFIG).tokens == features(b, CONFIG).tokens == {"crash", "looping"}


def test_entities_are_component_labels_but_not_replicas() -> None:
    alert = facts("orders", at=0, envoy_cluster_name="Orders-DB", pod="orders-1")
    assert features(alert, CONFIG).entities == {"orders", "orders-db"}


def test_label_pairs_leave_out_instance_labels() -> None:
    alert = facts("orders", at=0, pod="orders-1", instance="10.0.0.1:80")
    pairs = features(alert, CONFIG).label_pairs
    assert "service=orders" in pairs
    assert not any(p.startswith(("pod=", "instance=")) for p in pairs)


def test_scope_is_the_first_scope_label_present() -> None:
    alert = AlertFacts("f", "k", {"env": "staging", "service": "x"}, 0.0)
    assert features(alert, CONFIG).scope == "staging"
    assert features(facts("x", at=0, env="prod"), CONFIG).scope == "prod"


def test_symptom_names_propagate_local_ones_do_not() -> None:
    assert features(facts("x", at=0, alertname="HighHTTP5xxErrorRate"), CONFIG).propagates
    assert features(
        facts("x", at=0, alertname="X", summary="Upstream latency high"), CONFIG
    ).propagates
    volume = features(facts("x", at=0, alertname="VolumeAlmostFull"), CONFIG)
    assert not volume.propagates
    assert not volume.may_cause  # a warning


def test_severe_alerts_may_cause_without_symptom_words() -> None:
    alert = facts("db", at=0, alertname="MysqlSlaveIoThreadNotRunning", severity="critical")
    feats = features(alert, CONFIG)
    assert not feats.propagates
    assert feats.may_cause


def test_jaccard() -> None:
    assert jaccard(frozenset("ab"), frozenset("bc")) == 1 / 3
    assert jaccard(frozenset(), frozenset()) == 0.0


def test_facts_from_annotations_fall_back_to_title_and_message() -> None:
    alert = AlertFacts.of("f", "k", {}, {"title": "T", "message": "M"}, 5.0)
    assert (alert.summary, alert.description, alert.at) == ("T", "M", 5.0)
