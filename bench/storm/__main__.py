"""The correlation benchmark's command line.

    python -m bench.storm                         # offline, seeds 1-20, both profiles
    python -m bench.storm --seeds 1-5 --topology on --json out.json
    python -m bench.storm --micro                 # engine cost vs open incidents
    python -m bench.storm --url http://127.0.0.1:9187 --seeds 1-5   # a running daemon

Offline (the default) feeds each storm through the engine in-process (``sim.Shell``) and
scores it next to the static group_by baselines on the same storm; with ``--url`` the
storm is posted to a daemon and its incidents are read back and scored (baselines are
still computed offline). ``python bench/storm`` works as well as ``-m``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/storm``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import msgspec

from bench.storm import live, micro, report, vocab
from bench.storm.evaluate import EngineRun, SeedResult, evaluate, run_baselines
from bench.storm.generate import PROFILES, Storm, generate
from triage.correlation import CorrelationConfig, Thresholds

BENCH_CONFIG = CorrelationConfig(
    thresholds=Thresholds(min_alerts=3, min_alerts_window=60, pause=60)
)
"""The engine as the benchmark runs it: defaults, plus admission thresholds (3 alerts of
a key within 60 s, or one firing for 60 s), which a deployment opts into."""


def seeds(text: str) -> list[int]:
    """``1-5``, ``1,3,9`` or a mix: ``1-3,10``."""
    found: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        found += range(int(low), int(high or low) + 1)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storm", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seeds", type=seeds, default=seeds("1-20"), help="e.g. 1-5 or 1,4,9")
    parser.add_argument("--profile", choices=[*PROFILES, "all"], default="all")
    parser.add_argument("--topology", choices=["on", "off", "both"], default="both")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--offline", action="store_true", help="in-process engine (default)")
    where.add_argument("--url", help="a running daemon, e.g. http://127.0.0.1:9187")
    parser.add_argument("--token", help="API bearer token for --url")
    parser.add_argument(
        "--realtime", action="store_true", help="with --url: post each event at its own time"
    )
    parser.add_argument("--no-thresholds", action="store_true", help="admit every alert at once")
    parser.add_argument("--builtin-vocabulary", action="store_true", help="ignore the dataset")
    parser.add_argument("--micro", action="store_true", help="engine cost vs open incidents")
    parser.add_argument("--open", type=int, default=50_000, help="open incidents for --micro")
    parser.add_argument("--json", type=Path, help="write every figure here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = CorrelationConfig() if args.no_thresholds else BENCH_CONFIG
    words = vocab.builtin() if args.builtin_vocabulary else vocab.load()
    print(f"vocabulary: {words.source}")
    if args.micro:
        return _micro(args, config, words)
    modes = {"topology": True, "no topology": False}
    if args.topology != "both":
        modes = {k: v for k, v in modes.items() if v == (args.topology == "on")}
    profiles = list(PROFILES) if args.profile == "all" else [args.profile]
    output: dict[str, object] = {"config": msgspec.to_builtins(config), "seeds": args.seeds}
    failed = False
    for name in profiles:
        began = time.perf_counter()
        profile = PROFILES[name]
        if args.url and not args.realtime:  # see bench/storm/live.py: one episode per run
            profile = dataclasses.replace(profile, episodes=1)
        storms = [generate(seed, profile, words) for seed in args.seeds]
        if args.url:
            results = _live(args, storms, modes)
        else:
            results = [evaluate(storm, config, modes) for storm in storms]
        rows = report.summary(results)
        found = report.bars(name, rows)
        failed |= not all(b.passed for b in found)
        alerts = sum(r.alerts for r in results)
        print(
            f"\n## profile {name}: {len(storms)} seeds, {alerts} distinct alerts"
            f" ({time.perf_counter() - began:.1f} s)\n"
        )
        print(report.table(rows))
        print()
        print(report.bar_lines(found))
        output[name] = {
            "summary": rows,
            "bars": msgspec.to_builtins(found),
            "seeds": msgspec.to_builtins(results),
        }
    if args.json:
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(output)))
    return 1 if failed else 0


def _live(
    args: argparse.Namespace, storms: list[Storm], modes: dict[str, bool]
) -> list[SeedResult]:
    run_id = time.strftime("%Y%m%d%H%M%S")
    results = []
    for storm in storms:
        engine = {}
        for name, on in modes.items():
            outcome = asyncio.run(
                live.run(
                    storm,
                    args.url,
                    with_topology=on,
                    run_id=run_id,
                    token=args.token,
                    realtime=args.realtime,
                )
            )
            if on and not outcome.topology_applied:
                print(f"seed {storm.seed}: the daemon did not accept PUT /api/v1/topology")
            engine[name] = EngineRun(score=outcome.score, root_correct=None, opened=0, counts={})
        results.append(
            SeedResult(
                seed=storm.seed,
                profile=storm.profile,
                alerts=len(storm.alerts),
                events=len(storm.events),
                problems={},
                engine=engine,
                baselines=run_baselines(storm),
            )
        )
    return results


def _micro(args: argparse.Namespace, config: CorrelationConfig, words: vocab.Vocabulary) -> int:
    one_episode = dataclasses.replace(PROFILES["storm"], episodes=1)
    storm = generate(args.seeds[0], one_episode, words)
    runs = [
        ("none", 0),
        ("estate", args.open),
        ("crowded", 1000),
        ("crowded", args.open),
    ]
    results = micro.measure(storm, config, runs)
    print(f"\n## engine cost per correlated alert (seed {storm.seed}, best of 7)\n")
    print("| scenario | open incidents | alerts | engine us | + simulated reads us | candidates |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.scenario} | {r.open_incidents} | {r.alerts} | {r.engine_us} |"
            f" {r.with_reads_us} | {r.candidates_per_alert} |"
        )
    none, estate = results[0], results[1]
    growth = estate.engine_us / none.engine_us - 1
    print(f"\nengine cost, {args.open} open (estate) vs none: {growth:+.1%} (bar: within 20%)")
    if args.json:
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(results)))
    return 0 if abs(growth) <= 0.20 else 1


if __name__ == "__main__":
    sys.exit(main())
