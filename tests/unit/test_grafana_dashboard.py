"""The Grafana dashboard in docs/grafana queries only metrics triaged exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from daemon.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "triaged.json"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> set[str]:
    """Every series name the metrics registry can expose, with the type's suffixes."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
    return names


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_query_names_an_exported_metric() -> None:
    exprs = expressions()
    assert len(exprs) >= 15
    used = {name for expr in exprs for name in re.findall(r"\btriaged_[a-z_]+", expr)}
    assert used - exported() == set()
    for name in ("triaged_service_targets_total", "triaged_incident_respond_seconds_bucket"):
        assert name in used


def test_panels_do_not_overlap_and_every_panel_has_a_unique_id() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        here = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & here, p["title"]
        assert g["x"] + g["w"] <= 24
        cells |= here


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Prometheus) is not installed")
def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule, with the window variable set."""
    assert PROMTOOL is not None
    rules = [
        {"record": f"triaged:dashboard:{i}", "expr": expr.replace("$window", "7d")}
        for i, expr in enumerate(expressions())
    ]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
