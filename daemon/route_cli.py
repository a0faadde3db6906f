"""``triaged route test`` and ``triaged route diff``: routing dry runs for operators."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
from redis.asyncio import Redis

from daemon import store
from daemon.config import load_routing_file
from daemon.config_types import ConfigError, seconds
from daemon.settings import build_settings
from routing import RoutingTable, Subject
from routing.simulate import diff
from triage.incident import Incident


def add_commands(commands: Any) -> None:
    route = commands.add_parser("route", help="routing dry runs")
    route_commands = route.add_subparsers(dest="route_command", required=True)

    test = route_commands.add_parser("test", help="show the routing decision for an alert")
    test.add_argument("alert", help="JSON file: {labels: {...}, category, priority, source, ...}")
    test.add_argument("--rules", help="routing file (default: the one the config names)")
    test.add_argument("--config", help="triaged config file")
    test.set_defaults(run=_test)

    changes = route_commands.add_parser(
        "diff", help="which recorded incidents a new routing file would route differently"
    )
    changes.add_argument("--rules", required=True, help="the candidate routing file")
    changes.add_argument("--since", default="7d", help="incidents opened this recently (7d)")
    changes.add_argument("--config", help="triaged config file")
    changes.add_argument("--redis-url", help="the daemon's Redis (default: the data dir's socket)")
    changes.add_argument("--data-dir", help="data dir of a daemon on its embedded Redis")
    changes.add_argument("--json", action="store_true", help="print the report as JSON")
    changes.set_defaults(run=_diff)


def _table(rules: str | None, config: str | None) -> RoutingTable:
    if rules is not None:
        return load_routing_file(Path(rules))
    return build_settings(config_path=config).routing


class AlertFile(msgspec.Struct, forbid_unknown_fields=True):
    labels: dict[str, str]
    category: str = ""
    priority: str = ""
    source: str = ""
    procedure: str = ""


def _test(args: argparse.Namespace) -> int:
    try:
        table = _table(args.rules, args.config)
        alert = msgspec.json.decode(Path(args.alert).read_bytes(), type=AlertFile)
    except ConfigError as exc:
        print(f"triaged: invalid routing:\n{exc}", file=sys.stderr)
        return 1
    except (OSError, msgspec.DecodeError) as exc:
        print(f"triaged: cannot read {args.alert}: {exc}", file=sys.stderr)
        return 1
    subject = Subject(
        labels=alert.labels,
        category=alert.category,
        priority=alert.priority,
        service=alert.labels.get("service", ""),
        source=alert.source,
        procedure=alert.procedure,
    )
    decision = table.tree.route(subject, time.time())
    print(json.dumps(msgspec.to_builtins(decision), indent=2))
    return 0


def _diff(args: argparse.Namespace) -> int:
    try:
        settings = build_settings(
            config_path=args.config, data_dir=args.data_dir, redis_url=args.redis_url
        )
        candidate = load_routing_file(
            Path(args.rules), [channel.name for channel in settings.config.channels]
        )
    except ConfigError as exc:
        print(f"triaged: invalid configuration:\n{exc}", file=sys.stderr)
        return 1
    url = settings.redis_url or f"unix://{(settings.data_dir / 'redis.sock').resolve()}"
    since = time.time() - seconds(args.since)
    incidents = asyncio.run(_recent_incidents(url, since))
    report = diff(incidents, settings.routing, candidate, time.time())
    if args.json:
        print(json.dumps(msgspec.to_builtins(report), indent=2))
        return 0
    print(f"{report.compared} incidents since {args.since}; {len(report.changed)} would change")
    for move, count in report.moves.most_common():
        print(f"  {count:6d}  {move}")
    for change in report.changed[:50]:
        print(
            f"  {change.incident_id}: group {change.group[0]} -> {change.group[1]}, "
            f"channels {change.channels[0]} -> {change.channels[1]}, "
            f"policy {change.escalation_policy[0]} -> {change.escalation_policy[1]}"
        )
    return 0


async def _recent_incidents(url: str, since: float) -> list[Incident]:
    """Newest first until one opened before ``since``: no scan of older history."""
    redis = Redis.from_url(url)
    found: list[Incident] = []
    try:
        cursor: int | None = None
        while True:
            page, cursor = await store.list_incidents(redis, {}, limit=500, before=cursor)
            for incident in page:
                if incident.created_at < since:
                    return found
                found.append(incident)
            if cursor is None:
                return found
    finally:
        await redis.aclose()
