"""Classification speed: batch throughput and single-incident latency of the shipped models.

    python bench/classify.py                         # 5 repeats, batches of 500
    python bench/classify.py --repeat 9 --batch 500 --batches 10 --singles 1000
    python bench/classify.py --models models --json bench/results/classify.json

The triager is loaded once, as ``triaged serve`` does, and then called the way the pipeline
calls it: ``classify_batch`` over a batch of incidents (throughput), and over one incident
at a time (latency). The incidents are a fixed mix (``--tickets`` of them tickets a person
wrote, the rest monitoring alerts; half of the alerts without a severity the triager
knows, so the text urgency model runs too), so every model is on the measured path.
Each repeat measures both; the figures printed are medians over the repeats, so one
repeat slowed by another process on the machine does not decide them. The bar (issue 4):
at least 2,500 incidents/s in batches, at most 10 ms p99 for one incident.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `triage` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from bench.quantiles import percentile
from triage.classify import TriageInput, Triager, load_models

REPO = Path(__file__).resolve().parent.parent
THROUGHPUT_BAR = 2500.0
P99_BAR_MS = 10.0

ALERTS = [
    ("PostgresReplicationLag", "replica {n} is {v} seconds behind the primary", "postgres"),
    ("KafkaConsumerLag", "consumer group billing lags {v} messages on topic orders", "kafka"),
    ("NodeDiskAlmostFull", "filesystem /var on node-{n} has {v}% space left", "node"),
    ("KubePodCrashLooping", "pod api-{n} restarted {v} times in 10 minutes", "kubelet"),
    ("NginxHighErrorRate", "{v}% of requests to the edge answer 5xx", "nginx"),
    ("RedisMemoryHigh", "redis-{n} uses {v}% of maxmemory", "redis"),
    ("CephOsdDown", "{v} OSDs are down in cluster storage-{n}", "ceph"),
    ("CertificateExpiring", "TLS certificate for shop-{n}.example.com expires in {v} days", "tls"),
    ("JenkinsQueueLong", "{v} builds wait for an executor", "jenkins"),
    ("LedgerdLatencyHigh", "ledgerd p99 latency {v} ms on shard {n}", "ledgerd"),
]
TICKETS = [
    "cannot connect to vpn since this morning, error {v} on laptop {n}",
    "please order a new monitor and docking station for the new starter in team {n}",
    "need access to the finance shared folder for project {n}",
    "outlook keeps asking for my password, tried {v} times",
    "printer on floor {n} jams on every print job",
    "request admin rights to install the build tools version {v}",
]


def incidents(n: int, tickets: float, seed: int) -> list[TriageInput]:
    """``n`` incidents, ``tickets`` of them tickets, reproducible from ``seed``."""
    rng = random.Random(seed)
    out: list[TriageInput] = []
    for i in range(n):
        v = rng.randint(2, 95)
        if rng.random() < tickets:
            out.append(TriageInput(description=rng.choice(TICKETS).format(n=i, v=v)))
            continue
        name, text, job = rng.choice(ALERTS)
        out.append(
            TriageInput(
                title=name,
                description=text.format(n=i % 50, v=v),
                labels={"alertname": name, "job": job, "instance": f"10.1.{i % 250}.{v}:9100"},
                source="alertmanager",
                severity=rng.choice(["critical", "warning", None]) if i % 2 else None,
                services=[f"svc-{i % 7}"],
            )
        )
    return out


class Repeat(msgspec.Struct, frozen=True):
    per_second: float
    p50_ms: float
    p99_ms: float


class Report(msgspec.Struct, frozen=True):
    models: dict[str, str]
    batch: int
    batches: int
    singles: int
    repeats: list[Repeat]
    per_second: float
    p50_ms: float
    p99_ms: float
    throughput_ok: bool
    latency_ok: bool
    cpus: int | None
    load_average: list[float]
    python: str


def measure(triager: Triager, items: list[TriageInput], batch: int, singles: int) -> Repeat:
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        triager.classify_batch(items[start : start + batch])
    per_second = len(items) / (time.perf_counter() - started)
    latencies: list[float] = []
    for item in items[:singles]:
        t0 = time.perf_counter()
        triager.classify_batch([item])
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    return Repeat(
        per_second=per_second,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
    )


def run(args: argparse.Namespace) -> Report:
    triager = load_models(Path(args.models))
    items = incidents(args.batch * args.batches, args.tickets, args.seed)
    triager.classify_batch(items[: args.batch])  # first calls allocate; not measured
    for item in items[:20]:
        triager.classify_batch([item])
    repeats = [measure(triager, items, args.batch, args.singles) for _ in range(args.repeat)]
    per_second = statistics.median(r.per_second for r in repeats)
    p99 = statistics.median(r.p99_ms for r in repeats)
    return Report(
        models=triager.versions,
        batch=args.batch,
        batches=args.batches,
        singles=args.singles,
        repeats=repeats,
        per_second=per_second,
        p50_ms=statistics.median(r.p50_ms for r in repeats),
        p99_ms=p99,
        throughput_ok=per_second >= THROUGHPUT_BAR,
        latency_ok=p99 <= P99_BAR_MS,
        cpus=os.cpu_count(),
        load_average=[round(x, 2) for x in os.getloadavg()],
        python=platform.python_version(),
    )


def format_report(r: Report) -> str:
    lines = [
        f"classify_batch, {len(r.repeats)} repeats (medians), {r.cpus} CPUs, "
        f"load average {r.load_average} at the end",
        f"  batches of {r.batch}: {r.per_second:,.0f} incidents/s "
        f"({'meets' if r.throughput_ok else 'misses'} >= {THROUGHPUT_BAR:,.0f})",
        f"  one incident: p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms over {r.singles} calls "
        f"({'meets' if r.latency_ok else 'misses'} <= {P99_BAR_MS:.0f} ms)",
        "  per repeat: "
        + ", ".join(f"{x.per_second:,.0f}/s p99 {x.p99_ms:.2f} ms" for x in r.repeats),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=str(REPO / "models"), help="models directory")
    parser.add_argument("--repeat", type=int, default=5, help="repeats; medians are printed")
    parser.add_argument("--batch", type=int, default=500, help="incidents per classify_batch")
    parser.add_argument("--batches", type=int, default=10, help="batches per repeat")
    parser.add_argument("--singles", type=int, default=1000, help="single calls per repeat")
    parser.add_argument("--tickets", type=float, default=0.2, help="share of tickets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the report as JSON to this file")
    args = parser.parse_args(argv)
    report = run(args)
    print(format_report(report))
    if args.json:
        Path(args.json).write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    return 0 if report.throughput_ok and report.latency_ok else 1


if __name__ == "__main__":
    sys.exit(main())
