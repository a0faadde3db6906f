"""The ``process`` config section: defaults, merging by name, and problems with paths."""

from __future__ import annotations

import msgspec
import pytest
import yaml

from triage.process.common import ProcessConfigError
from triage.process.config import ProcessConfig, check_process, compile_process, default_process

YAML = """
procedures:
  major:
    steps:
      - {id: declare, title: Declare it}
    engage: [incident-manager]
    update_every: 15m
    review_required: true
selection:
  major_services: [checkout]
targets:
  at_risk: 0.8
  calendar: {time_zone: Europe/Berlin, holidays: [2024-12-25]}
  priorities:
    P3: {respond: 8h, resolve: 5d, business_hours: true}
recurrence: {window: 14d, threshold: 4}
reports: {stale_after: 3d, backlog_ages: [4h, 1d]}
"""


def test_defaults_compile() -> None:
    settings = default_process()
    assert set(settings.procedures.by_name) == {"major", "security", "standard", "low-impact"}
    assert settings.targets.for_priority("P1").resolve == 4 * 3600
    assert settings.recurrence.window == 30 * 86400
    assert settings.kpis.stale_after == 7 * 86400


def test_a_file_overrides_by_name_and_keeps_the_rest() -> None:
    settings = compile_process(msgspec.convert(yaml.safe_load(YAML), ProcessConfig))
    major = settings.procedures.by_name["major"]
    assert [s.id for s in major.steps] == ["declare"]
    assert major.update_every == 900
    assert not major.notify_subscribers  # the file's definition replaces the default whole
    assert settings.procedures.by_name["security"].restricted_scope == "security"
    assert settings.procedures.selection.major_services == frozenset({"checkout"})
    p3 = settings.targets.for_priority("P3")
    assert (p3.respond, p3.resolve) == (8 * 3600, 5 * 86400)
    assert p3.calendar is not None
    assert settings.targets.for_priority("P1").calendar is None
    assert settings.targets.at_risk == 0.8
    assert (settings.recurrence.window, settings.recurrence.threshold) == (14 * 86400, 4)
    assert settings.kpis.backlog_ages == (4 * 3600, 86400)


def test_every_problem_is_listed_with_its_path() -> None:
    data = yaml.safe_load(
        """
procedures: {major: {update_every: often}}
targets:
  calendar: {time_zone: Nowhere/City}
  priorities: {P2: {respond: 9h, resolve: 8h}}
recurrence: {window: forever}
reports: {backlog_ages: [1d, 1h]}
"""
    )
    config = msgspec.convert(data, ProcessConfig)
    problems = {p.path: p.message for p in check_process(config)}
    assert set(problems) == {
        ("process", "procedures", "major", "update_every"),
        ("process", "targets", "calendar", "time_zone"),
        ("process", "targets", "priorities", "P2"),
        ("process", "recurrence", "window"),
        ("process", "reports", "backlog_ages"),
    }
    with pytest.raises(ProcessConfigError) as raised:
        compile_process(config)
    assert len(raised.value.problems) == 5
    assert "process.targets.calendar.time_zone: unknown time zone" in str(raised.value)


@pytest.mark.parametrize(
    "data",
    [
        {"procedures": {"major": {"reviw_required": True}}},
        {"targets": {"priorities": {"P6": {}}}},
        {"targets": {"at_risk": 1.5}},
        {"selection": {"major_priorities": ["critical"]}},
        {"procedures": {"Major Incidents": {}}},
    ],
)
def test_the_schema_refuses_typos_and_bad_values(data: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(data, ProcessConfig)
