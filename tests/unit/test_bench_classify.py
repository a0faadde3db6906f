"""The classification benchmark's inputs cover every path of ``classify_batch``."""

from __future__ import annotations

from bench.classify import incidents
from triage.classify import TriageConfig
from triage.severity import Severity, parse_severity


def test_mix_is_reproducible_and_covers_every_model_path() -> None:
    items = incidents(400, 0.2, seed=3)
    assert items == incidents(400, 0.2, seed=3)
    assert items != incidents(400, 0.2, seed=4)
    kinds = [TriageConfig().kind_of(item) for item in items]
    assert 0.15 < kinds.count("ticket") / len(items) < 0.25
    alerts = [item for item, kind in zip(items, kinds, strict=True) if kind == "alert"]
    unknown = [a for a in alerts if parse_severity(a.severity) is Severity.UNKNOWN]
    assert 0.3 < len(unknown) / len(alerts) < 0.8  # the text urgency model runs on these
    assert len({a.title for a in alerts}) >= 8  # several alert kinds, not one repeated
