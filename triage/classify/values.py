"""Plain values that cross the classification boundary: what the pipeline passes in, what it
gets back, and the figures training and evaluation report.

They are msgspec structs so the daemon can store them (corrections in Redis, the triage
trace on an incident) without a second schema.
"""

from __future__ import annotations

import msgspec


class TriageInput(msgspec.Struct, frozen=True, kw_only=True):
    """One incident as the models see it; plain values, so the core stays free of I/O types.

    ``services`` and ``instances`` describe the incident's scope (for impact); ``alert_count``
    is the number of distinct alerts in it.
    """

    title: str = ""
    description: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    source: str = "generic"
    severity: str | None = None
    service: str | None = None
    alert_count: int = 1
    services: list[str] = msgspec.field(default_factory=list)
    instances: int = 1


class Alternative(msgspec.Struct, frozen=True):
    label: str
    confidence: float


class Prediction(msgspec.Struct, frozen=True, kw_only=True):
    """A decision with its confidence and the runners-up, so a person can see how close it was.

    ``decided_by`` is ``model``, ``corrections-memory``, ``input`` (the sender said so) or
    ``triage-queue`` (the model was not confident enough to guess).
    """

    label: str
    confidence: float
    alternatives: tuple[Alternative, ...]
    decided_by: str
    model: str
    model_version: str


class PriorityDecision(msgspec.Struct, frozen=True, kw_only=True):
    """Priority with the impact and urgency it came from and the rule that decided;
    ``urgency_source`` is ``severity``, ``text-model`` or ``default``."""

    priority: str
    impact: str
    urgency: str
    rule: str
    reasons: tuple[str, ...]
    urgency_source: str = "default"


class TriageResult(msgspec.Struct, frozen=True, kw_only=True):
    """``urgency`` is the text model's reading when it decided the urgency (no severity)."""

    kind: str
    category: Prediction
    service: Prediction | None
    priority: PriorityDecision
    group: Prediction
    model_versions: dict[str, str]
    urgency: Prediction | None = None


class Correction(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's reassign or reclassify, kept as a training label.

    Exactly one of ``group`` and ``category`` is usually set; both are allowed because one
    operator action may fix both.
    """

    item: TriageInput
    group: str | None = None
    category: str | None = None


class ClassMetrics(msgspec.Struct, frozen=True):
    precision: float
    recall: float
    support: int


class EvalReport(msgspec.Struct, frozen=True, kw_only=True):
    """Figures of one model on one labelled set.

    ``threshold`` is the confidence below which the model abstains; ``coverage`` is the
    share of items at or above it and ``covered_accuracy`` the accuracy on those.
    """

    model: str
    version: str
    split: str
    n: int
    accuracy: float
    macro_f1: float
    top3: float
    ece: float
    threshold: float
    coverage: float
    covered_accuracy: float
    per_class: dict[str, ClassMetrics]


ModelMetrics = EvalReport
"""What training reports per model: the same figures, on the fixed test split."""


class HoldoutScore(msgspec.Struct, frozen=True, kw_only=True):
    base_accuracy: float
    corrections_accuracy: float
    corrections_n: int


class ChallengerOutcome(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    version: str
    promoted: bool
    reason: str
    champion: HoldoutScore
    challenger: HoldoutScore
    metrics: EvalReport


class RetrainResult(msgspec.Struct, frozen=True, kw_only=True):
    """``promoted`` is true when at least one challenger replaced its champion."""

    version: str
    promoted: bool
    metrics: dict[str, ChallengerOutcome]
