"""Feature extraction shared by training and serving."""

from __future__ import annotations

import numpy as np

from triage.classify.features import alert_text, clean_text, documents, group_tokens, memory_vectors
from triage.classify.values import TriageInput


def test_templates_are_dropped_and_camel_case_split() -> None:
    assert clean_text("PostgresqlTooManyConnections on {{ $labels.instance }} ({{ $value }}%)") == (
        "postgresql too many connections on %"
    )
    assert clean_text("HTTPRequestsSlow") == "http requests slow"


def test_alert_text_reads_naming_labels_but_not_hosts() -> None:
    item = TriageInput(
        title="",
        description="Disk almost full",
        labels={"job": "node-exporter", "instance": "10.0.0.7:9100"},
        service="billing",
    )
    assert alert_text(item) == "disk almost full node exporter billing"


def test_group_tokens_are_single_words_without_volatile_labels() -> None:
    item = TriageInput(
        title="Queue stuck",
        source="alertmanager",
        severity="Critical",
        service="Ledger",
        labels={"team": "core banking", "pod": "ledger-7f9c", "namespace": "pay"},
    )
    tokens = group_tokens(item)
    assert tokens == [
        "source=alertmanager",
        "service=ledger",
        "severity=critical",
        "label:namespace=pay",
        "label:team=core_banking",
        "w:queue",
        "w:stuck",
    ]
    assert documents("group-tokens", [item]) == [" ".join(tokens)]


def test_memory_similarity_prefers_the_same_service() -> None:
    base = TriageInput(
        title="LedgerdLatencyHigh",
        description="ledgerd p99 latency above 2s",
        labels={"job": "ledgerd", "namespace": "payments", "instance": "a:1"},
        source="alertmanager",
    )
    alike = TriageInput(
        title="LedgerdQueueBacklog",
        description="ledgerd queue backlog growing",
        labels={"job": "ledgerd", "namespace": "payments", "instance": "b:2"},
        source="alertmanager",
    )
    other = TriageInput(
        title="NginxDown",
        description="nginx stopped answering",
        labels={"job": "nginx", "namespace": "edge"},
        source="alertmanager",
    )
    v = memory_vectors([base, alike, other])
    sims = (v @ v.T).toarray()
    assert np.allclose(np.diag(sims), 1.0)
    assert sims[0, 1] > 0.5 > sims[0, 2]
