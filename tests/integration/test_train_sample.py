"""Retrain every model on a sample of the shared datasets and check the figures are sane.

This is the CI guard for ``triaged train``: readers, split rules, training, artifacts,
evaluation, loading and retraining all run for real, on a tenth of the data so it is quick.
The full-data figures are in docs/models.md and the model cards.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.classify import (
    Correction,
    TriageInput,
    evaluate_all,
    format_report,
    load_models,
    retrain,
    train_all,
)

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"
REWORDED = REPO / "tests" / "data" / "reworded_alerts.json"
SAMPLE = 0.1

pytestmark = [
    pytest.mark.dataset,
    pytest.mark.skipif(not DATASETS.is_dir(), reason=f"shared datasets not found at {DATASETS}"),
]

SANE = {
    # (accuracy, top-3) floors for a tenth of the data: far below the full-data figures,
    # far above what a broken reader, split or feature function would give.
    "alert-category": (0.6, 0.8),
    "alert-service": (0.3, 0.5),
    "ticket-category": (0.7, 0.9),
    "urgency": (0.85, 0.95),
    "resolver-group": (0.6, 0.8),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    train_all(DATASETS, out, sample=SAMPLE, now=datetime(2026, 3, 1, tzinfo=UTC))
    return out


def test_sample_training_gives_sane_figures(trained: Path) -> None:
    reports = evaluate_all(DATASETS, trained, rewordings=REWORDED, sample=SAMPLE)
    for name, (accuracy, top3) in SANE.items():
        r = reports[name]
        assert r.n > 0
        assert r.accuracy >= accuracy, format_report({name: r})
        assert r.top3 >= top3, format_report({name: r})
        assert 0.0 <= r.ece <= 0.3
    reworded = reports["alert-category/reworded"]
    assert reworded.n >= 60
    assert reworded.accuracy >= 0.4, format_report({"reworded": reworded})


def test_retrain_learns_a_new_team_and_keeps_the_base(trained: Path) -> None:
    def alert(n: int) -> TriageInput:
        verb = ["is slow", "fails", "times out", "is down", "lags", "errors"][n % 6]
        return TriageInput(
            title=f"Ledgerd {verb}",
            description=f"ledgerd settlement {verb} on node {n}",
            labels={"job": "ledgerd", "namespace": "payments"},
            source="alertmanager",
        )

    corrections = [Correction(item=alert(n), group="payments-sre") for n in range(10)]
    result = retrain(DATASETS, corrections, trained, sample=SAMPLE)
    outcome = result.metrics["resolver-group"]
    assert outcome.promoted, outcome.reason
    assert result.promoted
    assert outcome.challenger.corrections_accuracy == 1.0
    assert outcome.challenger.base_accuracy >= outcome.champion.base_accuracy - 0.005
    triager = load_models(trained)
    assert triager.versions["resolver-group"] == outcome.version
    results = triager.classify_batch([alert(n) for n in range(20, 30)])
    assert sum(r.group.alternatives[0].label == "payments-sre" for r in results) >= 9
