"""The ``process`` configuration section, and its compilation into ready-to-use settings.

The daemon embeds ``ProcessConfig`` in its own config (``process:`` in triaged.yaml) and
calls ``check_process`` from its config check, so a bad duration or an unknown time zone
is reported with its file line like every other setting, before the daemon starts.

Built-in defaults merge by name: a procedure or a priority the file leaves out keeps its
default, so an operator who only retunes the major procedure does not lose the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from routing.config import ConfigProblem, FieldPath
from triage.process.common import Problems, Section
from triage.process.kpis import KpiSettings
from triage.process.procedures import (
    DEFAULT_PROCEDURES,
    ClosureConfig,
    Name,
    ProcedureConfig,
    Procedures,
    SelectionConfig,
    compile_procedures,
)
from triage.process.recurrence import RecurrenceConfig, RecurrenceSettings, compile_recurrence
from triage.process.targets import ServiceTargets, TargetsConfig, compile_targets


class ReportsConfig(Section, frozen=True):
    stale_after: str = "7d"  # an open incident not updated this long counts as stale
    backlog_ages: list[str] = msgspec.field(default_factory=lambda: ["1d", "3d", "7d", "30d"])


class ProcessConfig(Section, frozen=True):
    procedures: dict[Name, ProcedureConfig] = {}
    selection: SelectionConfig = msgspec.field(default_factory=SelectionConfig)
    closure: ClosureConfig = msgspec.field(default_factory=ClosureConfig)
    targets: TargetsConfig = msgspec.field(default_factory=TargetsConfig)
    recurrence: RecurrenceConfig = msgspec.field(default_factory=RecurrenceConfig)
    reports: ReportsConfig = msgspec.field(default_factory=ReportsConfig)


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    procedures: Procedures
    targets: ServiceTargets
    recurrence: RecurrenceSettings
    kpis: KpiSettings


def check_process(cfg: ProcessConfig, path: FieldPath = ("process",)) -> list[ConfigProblem]:
    """Every problem the schema cannot express, each with its field path."""
    problems = Problems()
    _compile(cfg, problems, path)
    return problems.found


def compile_process(cfg: ProcessConfig, path: FieldPath = ("process",)) -> ProcessSettings:
    """Compiled settings, or ``ProcessConfigError`` listing every problem."""
    problems = Problems()
    settings = _compile(cfg, problems, path)
    problems.raise_any()
    assert settings is not None
    return settings


def default_process() -> ProcessSettings:
    return compile_process(ProcessConfig())


def _compile(cfg: ProcessConfig, problems: Problems, path: FieldPath) -> ProcessSettings | None:
    procedures = compile_procedures(
        {**DEFAULT_PROCEDURES, **cfg.procedures}, cfg.selection, cfg.closure, problems, path
    )
    targets = compile_targets(cfg.targets, problems, (*path, "targets"))
    recurrence = compile_recurrence(cfg.recurrence, problems, (*path, "recurrence"))
    kpis = _kpis(cfg.reports, problems, (*path, "reports"))
    if procedures is None or targets is None or recurrence is None or kpis is None:
        return None
    return ProcessSettings(procedures, targets, recurrence, kpis)


def _kpis(cfg: ReportsConfig, problems: Problems, path: FieldPath) -> KpiSettings | None:
    before = len(problems.found)
    stale = problems.duration((*path, "stale_after"), cfg.stale_after)
    ages = [
        problems.duration((*path, "backlog_ages", i), text)
        for i, text in enumerate(cfg.backlog_ages)
    ]
    known = [age for age in ages if age is not None]
    if known != sorted(set(known)):
        problems.add((*path, "backlog_ages"), "list the ages shortest first, each once")
    if stale is None or len(problems.found) > before:
        return None
    return KpiSettings(stale_after=stale, backlog_ages=tuple(known))
