"""The classify stage, between suppress and route: the models decide on new incidents.

Once per batch: the corrections memory is brought up to date, the new incidents go to the
models in one call (in the models' own thread, ``TriagerRef.run``, so the event loop keeps
answering requests while the models compute), and each gets its category, priority and a
trace of who decided what with which confidence. The models' resolver group becomes a
suggestion the route stage weighs against the rules. Incidents that grew get their priority
raised when their scope calls for it.
"""

from __future__ import annotations

import time

from daemon.corrections import CorrectionsFeed
from daemon.metrics import Metrics
from daemon.triage_models import TriagerRef
from routing.tree import ModelSuggestion
from triage.batch import Outcome, Snapshot
from triage.classify import PriorityPolicy, TriageResult
from triage.classify.values import Prediction
from triage.incident import TimelineEntry
from triage.incident_triage import apply_rescope, apply_triage, rescope, triage_input

SUGGESTING = frozenset({"model", "corrections-memory"})
"""Group predictions confident enough to offer the route stage; ``triage-queue`` means the
model abstained and the default route decides."""

TRACED = {"category": "category", "group": "group_suggestion", "service": "service"}
"""Metric field -> the key of its prediction in an incident's ``triage`` trace."""


class ClassifyStage:
    def __init__(
        self,
        models: TriagerRef,
        feed: CorrectionsFeed,
        policy: PriorityPolicy,
        metrics: Metrics,
    ) -> None:
        self.models = models
        self.feed = feed
        self.policy = policy
        self.metrics = metrics

    async def classify(
        self, outcome: Outcome, snapshot: Snapshot, now: float
    ) -> dict[str, ModelSuggestion]:
        """Classify the batch's new incidents in place; the group suggestions by incident."""
        self._rescope(outcome, snapshot, now)
        if not outcome.created:
            return {}
        await self.feed.poll()
        items = [triage_input(outcome.incidents[i]) for i in outcome.created]
        triager = self.models.triager
        started = time.perf_counter()
        results = await self.models.run(triager.classify_batch, items)
        self.metrics.triage_seconds.observe(time.perf_counter() - started)
        suggestions: dict[str, ModelSuggestion] = {}
        for incident_id, result in zip(outcome.created, results, strict=True):
            incident = apply_triage(outcome.incidents[incident_id], result)
            outcome.incidents[incident_id] = incident
            outcome.timeline.setdefault(incident_id, []).append(_classified(result, now))
            group = result.group
            if group.decided_by in SUGGESTING:
                suggestions[incident_id] = ModelSuggestion(
                    group=group.label,
                    confidence=group.confidence,
                    model_version=group.model_version,
                )
        return suggestions

    def _rescope(self, outcome: Outcome, snapshot: Snapshot, now: float) -> None:
        for incident_id, incident in outcome.incidents.items():
            before = snapshot.incidents.get(incident_id)
            if before is None or (
                before.alert_count == incident.alert_count
                and before.triage.get("impact") == incident.triage.get("impact")
            ):
                continue
            entry = rescope(incident, self.policy, now=now)
            if entry is not None:
                outcome.incidents[incident_id] = apply_rescope(incident, entry)
                outcome.timeline.setdefault(incident_id, []).append(entry)

    def observe(self, outcome: Outcome) -> None:
        """Count the decisions of a committed batch. A batch that conflicted is folded and
        classified again, so counting in ``classify`` would count it once per attempt."""
        predictions = self.metrics.triage_predictions
        for incident_id in outcome.created:
            trace = outcome.incidents[incident_id].triage
            for field, key in TRACED.items():
                decided = trace.get(key)
                if isinstance(decided, dict):
                    predictions.labels(field, decided["decided_by"]).inc()
        entries = [entry for timeline in outcome.timeline.values() for entry in timeline]
        raised = sum(entry.kind == "reprioritise" for entry in entries)
        self.metrics.triage_reprioritised.inc(raised)


def _classified(result: TriageResult, now: float) -> TimelineEntry:
    def said(field: str, p: Prediction) -> str:
        how = p.decided_by if p.decided_by != "model" else f"{p.model} {p.model_version}"
        return f"{field} {p.label} ({p.confidence:.2f}, {how})"

    priority = result.priority
    return TimelineEntry(
        at=now,
        kind="classify",
        actor="triaged",
        message=(
            f"{said('category', result.category)}; priority {priority.priority}"
            f" (impact {priority.impact} x urgency {priority.urgency}, {priority.rule})"
        ),
        data={"model_versions": dict(result.model_versions)},
    )
