"""Evaluation of the serving models on the fixed test splits, for ``triaged eval``.

It loads models the way serving does (hash and schema checked), so what it reports is what
the daemon would do; and the alert category model is also measured on alerts written in
other words than the catalogue's, the case that matters in production.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec
import numpy as np

from triage.classify import metrics
from triage.classify.artifacts import LoadedModel, load_model
from triage.classify.estimators import SPECS
from triage.classify.values import EvalReport, TriageInput


class RewordedAlert(msgspec.Struct, frozen=True, kw_only=True):
    """One hand-written alert: how a team might word it, and the catalogue group it is."""

    category: str
    title: str = ""
    description: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)


def read_rewordings(path: Path) -> list[RewordedAlert]:
    return msgspec.json.decode(path.read_bytes(), type=list[RewordedAlert])


def evaluate_model(
    model: LoadedModel, items: list[TriageInput], truth: list[str], split: str
) -> EvalReport:
    return metrics.report(
        model=model.manifest.name,
        version=model.manifest.version,
        split=split,
        classes=model.classes,
        proba=np.asarray(model.proba(items)),
        truth=truth,
        threshold=model.manifest.threshold,
    )


def reworded_inputs(alerts: list[RewordedAlert], *, description_only: bool) -> list[TriageInput]:
    """The hand-written alerts as the model sees them; ``description_only`` drops title and
    labels, the case of a sender that passes one sentence and nothing else."""
    return [
        TriageInput(description=a.description, source="generic")
        if description_only
        else TriageInput(
            title=a.title, description=a.description, labels=a.labels, source="generic"
        )
        for a in alerts
    ]


def evaluate_all(
    datasets_dir: Path,
    models_dir: Path,
    *,
    rewordings: Path | None = None,
    sample: float | None = None,
    only: Sequence[str] | None = None,
) -> dict[str, EvalReport]:
    """Per model, figures on its dataset's fixed test split; with ``rewordings`` (a JSON list
    of ``RewordedAlert``) also ``alert-category/reworded`` (as written) and
    ``alert-category/reworded-description`` (the description alone). ``only`` names the
    models to measure (default: all)."""
    reports: dict[str, EvalReport] = {}
    for spec in SPECS:
        if only is not None and spec.name not in only:
            continue
        model = load_model(models_dir, spec.name, spec.feature)
        test = spec.load(datasets_dir, sample).test
        reports[spec.name] = evaluate_model(
            model, [e.item for e in test], [e.label for e in test], "test"
        )
        if spec.name == "alert-category" and rewordings is not None:
            alerts = read_rewordings(rewordings)
            truth = [a.category for a in alerts]
            for suffix, description_only in (("", False), ("-description", True)):
                reports[f"alert-category/reworded{suffix}"] = evaluate_model(
                    model,
                    reworded_inputs(alerts, description_only=description_only),
                    truth,
                    f"reworded{suffix}:{rewordings.name}",
                )
    return reports


def format_report(reports: Mapping[str, EvalReport]) -> str:
    return metrics.format_reports(list(reports.values()))
