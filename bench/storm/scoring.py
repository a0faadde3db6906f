"""Scores of a grouping against the ground truth.

Pairwise precision and recall over alert pairs: of the pairs of distinct alerts a grouping
puts together, the share that belong to one problem (precision), and of the pairs that
belong to one problem, the share it puts together (recall). Counted from the contingency
table, so a storm of thousands of alerts costs no more than its number of groups. Alerts
a grouping leaves out (held transients) count as alone: they form no pair.

Noise reduction is ``1 - groups / distinct alerts``: how many fewer things a person is
asked to look at than there were alerts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import msgspec


class Score(msgspec.Struct, frozen=True):
    precision: float
    recall: float
    f1: float
    noise_reduction: float
    groups: int
    alerts: int


def pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def score(
    truth: Mapping[str, str], predicted: Mapping[str, str], groups: int | None = None
) -> Score:
    """``truth`` and ``predicted`` map each alert to its problem / group; alerts missing
    from ``predicted`` are alone. ``groups`` overrides the group count for noise
    reduction (an engine's incidents, which may hold no scored alert)."""
    together = Counter((truth[a], g) for a, g in predicted.items() if a in truth)
    true_pairs = pairs(Counter(truth.values()).values())
    predicted_pairs = pairs(Counter(g for a, g in predicted.items() if a in truth).values())
    hits = pairs(together.values())
    precision = hits / predicted_pairs if predicted_pairs else 1.0
    recall = hits / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    count = len(set(predicted.values())) if groups is None else groups
    alerts = len(truth)
    return Score(
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        noise_reduction=round(1 - count / alerts, 4) if alerts else 0.0,
        groups=count,
        alerts=alerts,
    )


def mean(scores: Iterable[Score]) -> dict[str, float]:
    """Field-wise mean over seeds (and the minimum F1, which a mean can hide)."""
    listed = list(scores)
    if not listed:
        return {}
    fields = ("precision", "recall", "f1", "noise_reduction")
    out = {f: round(sum(getattr(s, f) for s in listed) / len(listed), 4) for f in fields}
    out["f1_min"] = min(s.f1 for s in listed)
    return out
