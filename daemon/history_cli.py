"""``triaged import`` and ``triaged report``: incident history in, KPIs out.

Imported history (today: the UCI incident event log format) is stored as incident facts
beside the live incidents, so ``triaged report`` measures both with one definition of
every KPI (docs/process.md).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from daemon import keys
from daemon.incident_facts import all_facts
from daemon.offline import offline_settings, open_store, store_options
from daemon.settings import Settings
from triage.process.config import compile_process
from triage.process.kpis import IncidentFacts, compute_kpis, render_table, to_csv, to_json
from triage.process.uci_import import import_uci

_encode = msgspec.msgpack.Encoder()
_FORMATS = {"table": render_table, "csv": to_csv, "json": to_json}


def add_commands(commands: Any) -> None:
    importer = commands.add_parser("import", help="import incident history for reports")
    importer.add_argument("--uci", required=True, help="the UCI incident_event_log.csv.gz")
    store_options(importer)
    importer.set_defaults(run=_import)

    report = commands.add_parser("report", help="incident KPIs: MTTA, MTTR, targets, rates")
    report.add_argument("--from", dest="start", help="ISO date or time (default: all)")
    report.add_argument("--to", dest="end", help="ISO date or time (default: now)")
    report.add_argument(
        "--group-by", choices=["group", "priority", "category", "service", "procedure"]
    )
    report.add_argument("--format", choices=sorted(_FORMATS), default="table")
    report.add_argument("--output", help="write to this file instead of the terminal")
    store_options(report)
    report.set_defaults(run=_report)


def _import(args: argparse.Namespace) -> int:
    settings = offline_settings(args)
    if settings is None:
        return 1
    started = time.perf_counter()
    procedures = compile_process(settings.config.process).procedures
    imported = import_uci(Path(args.uci), procedures=procedures)
    asyncio.run(_store_facts(settings, imported.facts))
    print(
        f"imported {len(imported.facts)} incidents ({imported.events} events) "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return 0


async def _store_facts(settings: Settings, facts: list[IncidentFacts]) -> None:
    async with open_store(settings) as redis:
        for start in range(0, len(facts), 5000):
            chunk = facts[start : start + 5000]
            await redis.hset(keys.HISTORY, mapping={f.id: _encode.encode(f) for f in chunk})


def _when(text: str | None, default: float) -> float:
    if text is None:
        return default
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _report(args: argparse.Namespace) -> int:
    settings = offline_settings(args)
    if settings is None:
        return 1
    process = compile_process(settings.config.process)
    now = time.time()
    facts = asyncio.run(_all_facts(settings))
    report = compute_kpis(
        facts,
        start=_when(args.start, 0.0),
        end=_when(args.end, now),
        now=now,
        targets=process.targets,
        group_by=args.group_by,
        settings=process.kpis,
    )
    text = _FORMATS[args.format](report)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0


async def _all_facts(settings: Settings) -> list[IncidentFacts]:
    async with open_store(settings) as redis:
        return await all_facts(redis)
