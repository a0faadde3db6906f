"""Champion/challenger retraining from the base data plus operators' corrections.

A challenger replaces the serving model only if it is not worse on the held-out base test
split (within ``tolerance``) and strictly better on corrections it was not trained on: a
retrain must learn what operators taught without forgetting what the corpus taught. Those
corrections are a deterministic fifth of each model's (at least one), chosen by hash so a
repeated retrain holds out the same ones.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np

from triage.classify.artifacts import load_model
from triage.classify.datasets import Example
from triage.classify.estimators import SPECS, ModelSpec
from triage.classify.features import documents
from triage.classify.serving import TriageConfig
from triage.classify.training import Trained, publish, train_spec
from triage.classify.values import (
    ChallengerOutcome,
    Correction,
    HoldoutScore,
    RetrainResult,
    TriageInput,
)

CHALLENGERS = "challengers"
"""Sub-directory of the models directory where challengers that lost are kept for review."""

MIN_CORRECTIONS = 2
"""Corrections a model needs before it is retrained: at least one to learn, one held out."""


def _corrections_for(
    spec: ModelSpec, corrections: Sequence[Correction], config: TriageConfig
) -> list[tuple[TriageInput, str]]:
    pairs: list[tuple[TriageInput, str]] = []
    for c in corrections:
        label = getattr(c, spec.correction_field) if spec.correction_field else None
        if label is None or (spec.kind is not None and config.kind_of(c.item) != spec.kind):
            continue
        pairs.append((c.item, str(label)))
    return pairs


def retrainable(corrections: Sequence[Correction], config: TriageConfig | None = None) -> list[str]:
    """The models that have enough corrections to be retrained; none means a retrain has
    nothing to do, so the caller need not train, read base data or touch a models directory."""
    config = config or TriageConfig()
    return [
        spec.name
        for spec in SPECS
        if len(_corrections_for(spec, corrections, config)) >= MIN_CORRECTIONS
    ]


def run_version(created: datetime) -> str:
    """The version a retrain run answers with: when it started, UTC."""
    return f"{created:%Y%m%dT%H%M%SZ}"


def _hold_out(
    pairs: Sequence[tuple[TriageInput, str]],
) -> tuple[list[tuple[TriageInput, str]], list[tuple[TriageInput, str]]]:
    def key(pair: tuple[TriageInput, str]) -> str:
        return hashlib.sha1(msgspec.json.encode(pair)).hexdigest()

    ordered = sorted(pairs, key=key)
    n_held = max(1, math.ceil(len(ordered) / 5))
    return ordered[n_held:], ordered[:n_held]


def _accuracy(
    estimator: object, spec: ModelSpec, items: Sequence[TriageInput], labels: Sequence[str]
) -> float:
    if not items:
        return 0.0
    predicted = np.asarray(estimator.predict(documents(spec.feature, items)))  # type: ignore[attr-defined]
    return round(float(np.mean(predicted == np.asarray(labels))), 4)


def _score(
    estimator: object,
    spec: ModelSpec,
    base: Sequence[Example],
    held: Sequence[tuple[TriageInput, str]],
) -> HoldoutScore:
    return HoldoutScore(
        base_accuracy=_accuracy(estimator, spec, [e.item for e in base], [e.label for e in base]),
        corrections_accuracy=_accuracy(
            estimator, spec, [i for i, _ in held], [lab for _, lab in held]
        ),
        corrections_n=len(held),
    )


def retrain(
    datasets_dir: Path,
    corrections: Sequence[Correction],
    models_dir: Path,
    *,
    config: TriageConfig | None = None,
    now: datetime | None = None,
    sample: float | None = None,
    tolerance: float = 0.005,
) -> RetrainResult:
    """Retrain each model that has ``MIN_CORRECTIONS``; promote winners in place."""
    config = config or TriageConfig()
    created = now or datetime.now(UTC)
    outcomes: dict[str, ChallengerOutcome] = {}
    for spec in SPECS:
        pairs = _corrections_for(spec, corrections, config)
        if len(pairs) < MIN_CORRECTIONS:
            continue
        train_pairs, held = _hold_out(pairs)
        dataset = spec.load(datasets_dir, sample)
        champion = load_model(models_dir, spec.name, spec.feature)
        trained: Trained = train_spec(spec, dataset, train_pairs)
        before = _score(champion.estimator, spec, dataset.test, held)
        after = _score(trained.estimator, spec, dataset.test, held)
        kept_base = after.base_accuracy >= before.base_accuracy - tolerance
        learnt = after.corrections_accuracy > before.corrections_accuracy
        promoted = kept_base and learnt
        reason = (
            "promoted: learnt the held-out corrections and kept the base test accuracy"
            if promoted
            else "kept champion: "
            + (
                "base test accuracy dropped"
                if not kept_base
                else "no better on held-out corrections"
            )
        )
        target = models_dir if promoted else models_dir / CHALLENGERS
        manifest = publish(trained, dataset, target, created=created, corrections=len(train_pairs))
        outcomes[spec.name] = ChallengerOutcome(
            model=spec.name,
            version=manifest.version,
            promoted=promoted,
            reason=reason,
            champion=before,
            challenger=after,
            metrics=manifest.test_metrics,
        )
    return RetrainResult(
        version=run_version(created),
        promoted=any(o.promoted for o in outcomes.values()),
        metrics=outcomes,
    )
