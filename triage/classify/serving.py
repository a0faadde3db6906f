"""Serving: every model loaded once, called once per pipeline batch.

For each incident the triager decides, in order: which kind of input it is (a monitoring
alert or a ticket a person wrote), its category (operators' corrections first, then the
kind's model), the service, the priority (urgency from severity, else from the text model),
and the resolver group (corrections first, then the model; below its confidence threshold
the configured triage queue instead of a guess). Each decision carries its confidence,
runners-up and the model version behind it, for the incident's triage trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from triage.classify.artifacts import LoadedModel, load_model
from triage.classify.estimators import SPECS
from triage.classify.memory import CorrectionsMemory, Recall
from triage.classify.priority import PriorityPolicy, prioritise
from triage.classify.values import (
    Alternative,
    Correction,
    Prediction,
    TriageInput,
    TriageResult,
)
from triage.severity import Severity, parse_severity

URGENCY_CODE_LEVEL: Final = {"0": "high", "1": "high", "2": "medium", "3": "low"}
"""Endava's anonymised urgency codes on the ITIL scale. 3 coincides with service requests
(ticket type 1) and is the usual level; lower codes are rarer and taken as more urgent."""

MEMORY = "corrections-memory"

ALERT_LABELS: Final = ("alertname", "severity", "service", "job", "instance")
"""Labels that mark what monitoring sent; free text without them reads as a ticket."""


@dataclass(frozen=True, slots=True)
class TriageConfig:
    """Serving choices that belong to configuration, not to the models.

    ``ticket_sources`` are sources whose items are read as tickets unless they carry an
    ``alertname`` label. ``group_threshold`` replaces the resolver model's own threshold.
    """

    triage_queue: str = "triage"
    group_threshold: float | None = None
    ticket_sources: frozenset[str] = frozenset({"generic"})
    policy: PriorityPolicy = field(default_factory=PriorityPolicy)
    memory_similarity: float = 0.5

    def kind_of(self, item: TriageInput) -> str:
        """A label ``kind`` (``alert`` or ``ticket``) decides; otherwise an item of a ticket
        source is a ticket when it carries none of the labels monitoring puts on alerts."""
        stated = item.labels.get("kind")
        if stated in ("alert", "ticket"):
            return stated
        if item.source in self.ticket_sources and not any(k in item.labels for k in ALERT_LABELS):
            return "ticket"
        return "alert"


def _ranked(model: LoadedModel, proba: NDArray[np.float64]) -> list[Prediction]:
    classes = model.classes
    order = np.argsort(-proba, axis=1)[:, :3]
    m = model.manifest
    return [
        Prediction(
            label=classes[row[0]],
            confidence=round(float(p[row[0]]), 4),
            alternatives=tuple(Alternative(classes[i], round(float(p[i]), 4)) for i in row),
            decided_by="model",
            model=m.name,
            model_version=m.version,
        )
        for row, p in zip(order, proba, strict=True)
    ]


def _from_memory(hit: Recall, model: str) -> Prediction:
    return Prediction(
        label=hit.label,
        confidence=hit.confidence,
        alternatives=hit.alternatives,
        decided_by=MEMORY,
        model=model,
        model_version=f"{MEMORY}@{hit.similarity:.2f}",
    )


class Triager:
    """The loaded models plus the corrections memories; thread-safe to read, and cheap to
    call with a whole batch (one vectorisation and one matrix product per model)."""

    def __init__(self, models: dict[str, LoadedModel], config: TriageConfig | None = None) -> None:
        self.models = models
        self.config = config or TriageConfig()
        self.memories: dict[str, CorrectionsMemory] = {
            key: CorrectionsMemory(min_similarity=self.config.memory_similarity)
            for key in ("group", "category:alert", "category:ticket")
        }

    @property
    def versions(self) -> dict[str, str]:
        return {name: m.manifest.version for name, m in self.models.items()}

    def remember(self, corrections: Sequence[Correction]) -> None:
        """Make corrections count from the next batch on, without retraining."""
        groups = [c for c in corrections if c.group is not None]
        self.memories["group"].add([c.item for c in groups], [str(c.group) for c in groups])
        for kind in ("alert", "ticket"):
            fixed = [
                c
                for c in corrections
                if c.category is not None and self.config.kind_of(c.item) == kind
            ]
            self.memories[f"category:{kind}"].add(
                [c.item for c in fixed], [str(c.category) for c in fixed]
            )

    def _predict(
        self, model_name: str, items: Sequence[TriageInput], memory: CorrectionsMemory | None
    ) -> list[Prediction]:
        if not items:
            return []
        hits = memory.recall(items) if memory is not None else [None] * len(items)
        todo = [i for i, hit in enumerate(hits) if hit is None]
        model = self.models[model_name]
        predicted = _ranked(model, model.proba([items[i] for i in todo])) if todo else []
        out: list[Prediction | None] = [
            None if hit is None else _from_memory(hit, model_name) for hit in hits
        ]
        for i, prediction in zip(todo, predicted, strict=True):
            out[i] = prediction
        return [p for p in out if p is not None]

    def classify_batch(self, items: Sequence[TriageInput]) -> list[TriageResult]:
        kinds = [self.config.kind_of(item) for item in items]
        alerts = [i for i, k in enumerate(kinds) if k == "alert"]
        tickets = [i for i, k in enumerate(kinds) if k == "ticket"]
        category: dict[int, Prediction] = {}
        service: dict[int, Prediction | None] = dict.fromkeys(range(len(items)))
        for idx, model_name, key in (
            (alerts, "alert-category", "category:alert"),
            (tickets, "ticket-category", "category:ticket"),
        ):
            chosen = [items[i] for i in idx]
            category.update(
                zip(idx, self._predict(model_name, chosen, self.memories[key]), strict=True)
            )
        unnamed = [i for i in alerts if not items[i].service]
        service.update(
            zip(
                unnamed,
                self._predict("alert-service", [items[i] for i in unnamed], None),
                strict=True,
            )
        )
        for i, item in enumerate(items):
            if item.service:
                service[i] = self._given(item.service)
        needs_urgency = [i for i, item in enumerate(items) if not _known_severity(item.severity)]
        urgency = dict(
            zip(
                needs_urgency,
                self._predict("urgency", [items[i] for i in needs_urgency], None),
                strict=True,
            )
        )
        groups = self._predict("resolver-group", items, self.memories["group"])
        threshold = self._group_threshold()
        results: list[TriageResult] = []
        for i, item in enumerate(items):
            text_urgency = URGENCY_CODE_LEVEL.get(urgency[i].label) if i in urgency else None
            svc = service[i]
            decision = prioritise(
                self.config.policy,
                severity=item.severity,
                category=category[i].label,
                service=svc.label if svc is not None else None,
                services=item.services,
                instances=item.instances,
                alert_count=item.alert_count,
                text_urgency=text_urgency,
                environment=item.labels.get("environment") or item.labels.get("env"),
            )
            group = groups[i]
            if group.decided_by == "model" and group.confidence < threshold:
                group = Prediction(
                    label=self.config.triage_queue,
                    confidence=group.confidence,
                    alternatives=group.alternatives,
                    decided_by="triage-queue",
                    model=group.model,
                    model_version=group.model_version,
                )
            results.append(
                TriageResult(
                    kind=kinds[i],
                    category=category[i],
                    service=svc,
                    priority=decision,
                    group=group,
                    model_versions=self.versions,
                    urgency=urgency[i] if decision.urgency_source == "text-model" else None,
                )
            )
        return results

    def _group_threshold(self) -> float:
        if self.config.group_threshold is not None:
            return self.config.group_threshold
        return self.models["resolver-group"].manifest.threshold

    @staticmethod
    def _given(name: str) -> Prediction:
        return Prediction(
            label=name,
            confidence=1.0,
            alternatives=(),
            decided_by="input",
            model="",
            model_version="",
        )


def _known_severity(severity: str | None) -> bool:
    return parse_severity(severity) is not Severity.UNKNOWN


def load_models(models_dir: Path, config: TriageConfig | None = None) -> Triager:
    """Every model, verified (hash, feature schema, label set); ``ModelLoadError`` otherwise."""
    return Triager(
        {spec.name: load_model(models_dir, spec.name, spec.feature) for spec in SPECS}, config
    )
