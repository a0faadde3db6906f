"""``triaged import`` then ``triaged report`` through the real CLI and Redis: the figures
equal an independent computation over the UCI CSV, in well under a minute."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from daemon.cli import main
from tests.integration.test_uci_kpis import DATA, expected_figures

pytestmark = [
    pytest.mark.dataset,
    pytest.mark.skipif(not DATA.exists(), reason=f"UCI incident event log not found at {DATA}"),
]


def test_import_then_report_matches_the_csv(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    began = time.monotonic()
    assert main(["import", "--uci", str(DATA), "--redis-url", redis_url]) == 0
    assert "imported 24918 incidents (141712 events)" in capsys.readouterr().out
    out = tmp_path / "kpis.json"
    code = main(["report", "--format", "json", "--output", str(out), "--redis-url", redis_url])
    took = time.monotonic() - began
    assert code == 0
    assert took < 60, f"import and report took {took:.1f}s"
    total = json.loads(out.read_text())["total"]
    expected = expected_figures()
    assert total["incidents"] == expected["incidents"]
    assert round(total["mttr"]["mean"] / 3600, 2) == round(expected["mttr_hours"], 2)
    assert round(total["reassignment_rate"], 4) == round(expected["reassignment_rate"], 4)
    assert round(total["resolve"]["rate"], 4) == round(expected["resolve_attainment"], 4)
    assert round(total["respond"]["rate"], 4) == round(expected["respond_attainment"], 4)
