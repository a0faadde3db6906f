"""Run issue 2's benchmark scenarios and write a Markdown table plus JSON.

    python bench/run.py                 # all scenarios at full length (about 3 minutes)
    python bench/run.py --quick         # shorter runs, same shape
    python bench/run.py --scenarios a,d --repeat 3
    python bench/run.py --url http://127.0.0.1:9187   # against a daemon already running

Without ``--url`` every run gets a fresh ``triaged serve`` (free loopback port, temporary
data dir, embedded Redis), started here and stopped with SIGTERM, so runs do not see each
other's state. The load itself always comes from ``bench/loadgen.py`` in its own process.
Results go to ``bench/results/<timestamp>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import psutil

from bench.daemon_proc import DEFAULT_COMMAND, REPO, CpuMeter, Daemon, export_revision
from bench.result import LoadResult
from bench.scenarios import REFERENCE, SCENARIOS, Scenario
from bench.summary import TABLE_HEAD, Figures, RunRecord, figures, num, table_row, verdict

LEGEND = """\
pipeline/s: alerts processed over the time until processing caught up, the figure the throughput
bars are judged on; accepted/s: alerts answered 202 over the time from the first send to
the last answer; e2e: accepted -> incident recorded, from the daemon's
`triaged_pipeline_end_to_end_seconds` histogram over the run, bucket-interpolated like
PromQL histogram_quantile (">=" when past the highest bucket); drained: processed caught
up with accepted and nothing pending after sending stopped; CPU in cores over sending +
drain, "other" being every other process on the machine."""
BENCH = Path(__file__).resolve().parent
LOADGEN = BENCH / "loadgen.py"
RATIO_BAR = 0.8  # (d) must reach at least 80% of (a)
BUSY_WARNING = 0.25  # cores used by unrelated processes that make a run suspect
QUIET_PROBE_S = 2.0
QUIET_RETRY_S = 3.0


@dataclass(frozen=True)
class Target:
    """Where a run sends its load, and how to read the daemon's CPU (own daemon only)."""

    url: str
    meter: CpuMeter | None
    daemon: Daemon | None


def loadgen(url: str, flags: list[str], json_path: Path, quiet: bool) -> LoadResult:
    """Run the load generator in its own process and read back its result."""
    argv = [sys.executable, str(LOADGEN), "--url", url, "--json", str(json_path), *flags]
    if quiet:
        argv.append("--quiet")
    subprocess.run(argv, check=True, cwd=REPO)
    return msgspec.json.decode(json_path.read_bytes(), type=LoadResult)


@contextlib.contextmanager
def target(options: argparse.Namespace, log_path: Path) -> Iterator[Target]:
    if options.url:
        yield Target(options.url, None, None)
        return
    daemon = Daemon(log_path, options.daemon_cmd, options.source)
    with daemon:
        yield Target(daemon.url, CpuMeter(daemon.pid), daemon)


def run_once(scenario: Scenario, options: argparse.Namespace, stem: str) -> RunRecord:
    work = options.results_dir / f"{stem}"
    duration = options.duration or (scenario.quick_duration if options.quick else scenario.duration)
    flags = [
        *("--batch", str(scenario.batch), "--concurrency", str(scenario.concurrency)),
        *("--duration", str(duration), "--mix", options.mix or scenario.mix),
        *("--services", str(options.services), "--seed", str(options.seed)),
        *("--drain-timeout", str(options.drain_timeout), "--client", options.client),
    ]
    if scenario.rate:
        flags += ["--rate", str(scenario.rate)]
    if options.wait_quiet > 0:
        wait_for_quiet(options.wait_quiet)
    with target(options, work.with_suffix(".daemon.log")) as t:
        preload = None
        if scenario.preload and options.preload > 0:
            print(f"-- preloading {options.preload:,} open incidents", flush=True)
            preload = loadgen(
                t.url,
                [
                    *("--batch", "100", "--concurrency", "8", "--mix", "new=1"),
                    *("--alerts", str(options.preload), "--services", str(options.preload)),
                    *("--duration", "3600", "--drain-timeout", "600"),
                ],
                work.with_suffix(".preload.json"),
                options.quiet_loadgen,
            )
        cpu_before = t.meter.read() if t.meter else None
        machine_before, children_before, began = _busy_seconds(), _children_cpu(), time.monotonic()
        result = loadgen(t.url, flags, work.with_suffix(".json"), options.quiet_loadgen)
        cpu_after = t.meter.read() if t.meter else None
        wall = time.monotonic() - began
        machine_used = _busy_seconds() - machine_before
        loadgen_used = _children_cpu() - children_before
    window = max(result.elapsed_s + (result.drain_s or 0.0), 1e-9)
    daemon_cpu = redis_cpu = other_cpu = None
    if cpu_before is not None and cpu_after is not None:
        daemon_used, redis_used = (cpu_after[i] - cpu_before[i] for i in (0, 1))
        daemon_cpu = round(daemon_used / window, 2)
        redis_cpu = round(redis_used / window, 2)
        others = machine_used - daemon_used - redis_used - loadgen_used
        other_cpu = round(max(others, 0.0) / wall, 2)
    record = RunRecord(
        scenario=scenario.key,
        result=result,
        daemon_cpu_cores=daemon_cpu,
        redis_cpu_cores=redis_cpu,
        other_cpu_cores=other_cpu,
        daemon_exit=t.daemon.exit_code if t.daemon else None,
        daemon_stop_s=(
            round(t.daemon.stop_seconds, 2) if t.daemon and t.daemon.stop_seconds else None
        ),
        preload=preload,
    )
    if other_cpu is not None and other_cpu > BUSY_WARNING:
        print(f"!! other processes used {other_cpu:.2f} cores during this run: figures understated")
    if t.daemon and t.daemon.exit_code != 0:
        print(f"!! triaged exited with {t.daemon.exit_code} after SIGTERM; see {t.daemon.log_path}")
    return record


def wait_for_quiet(max_wait: float) -> None:
    """Wait (up to ``max_wait`` s) until other processes leave the machine nearly idle.

    On a shared 2-core machine a test suite or a model training in another session takes
    a core or more, and a run made meanwhile measures the neighbour, not the daemon.
    """
    waited = 0.0
    while True:
        before = _busy_seconds()
        time.sleep(QUIET_PROBE_S)
        busy = (_busy_seconds() - before) / QUIET_PROBE_S
        if busy <= BUSY_WARNING or waited >= max_wait:
            break
        if waited == 0.0:
            print(f"-- machine busy ({busy:.2f} cores); waiting up to {max_wait:.0f} s", flush=True)
        time.sleep(QUIET_RETRY_S)
        waited += QUIET_PROBE_S + QUIET_RETRY_S
    if busy > BUSY_WARNING:
        print(f"-- still {busy:.2f} cores busy; running anyway", flush=True)


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all processes, all cores)."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq)


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children (each finished load generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(
    options: argparse.Namespace,
    chosen: list[Scenario],
    figs: dict[str, Figures],
    records: dict[str, list[RunRecord]],
    errors: dict[str, list[str]],
) -> tuple[str, dict[str, object]]:
    """The Markdown report and the JSON document of a whole invocation."""
    ratio = None
    if "a" in figs and "d" in figs:
        a_rate, d_rate = figs["a"].pipeline_per_s, figs["d"].pipeline_per_s
        if a_rate and d_rate is not None:
            ratio = d_rate / a_rate
    passed: dict[str, bool | None] = {}
    for s in chosen:
        ok: bool | None = s.check(figs[s.key])
        if s.key == "d":
            ok = None if ratio is None else (ok and ratio >= RATIO_BAR)
        passed[s.key] = ok
    lines = [
        f"# triaged benchmark, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        "",
        f"- command: `{' '.join(['python', 'bench/run.py', *sys.argv[1:]])}`",
        f"- daemon code: {options.code}",
        f"- machine: {_machine()}",
        f"- target: {options.url or 'a fresh triaged per run (embedded Redis)'}; "
        f"runs per scenario: {options.repeat} (figures are medians)"
        + ("; QUICK run (shorter than the bar's durations)" if options.quick else ""),
        "",
        TABLE_HEAD,
        *(table_row(s.key, s.title, s.bar, figs[s.key], passed[s.key]) for s in chosen),
        "",
    ]
    busy = [
        f"({s.key}) {num(figs[s.key].other_cpu_cores, 2)}"
        for s in chosen
        if (figs[s.key].other_cpu_cores or 0.0) > BUSY_WARNING
    ]
    if busy:
        lines += [
            "**Warning: other processes used CPU during these runs (cores: "
            + ", ".join(busy)
            + "); the daemon had less than the whole machine and its figures are understated.**",
            "",
        ]
    for key, messages in errors.items():
        lines += [f"**({key}): {len(messages)} run(s) failed: {'; '.join(messages)}**", ""]
    if "d" in figs:
        preload = [r.preload for r in records["d"] if r.preload is not None]
        if preload:
            p = preload[0]
            lines.append(
                f"(d) preload: {p.accepted_alerts:,} alerts over {p.settings.services:,} "
                f"services at {num(p.accepted_per_s)} alerts/s, drained: {p.drained}, "
                f"open incidents after: {num(p.incidents_open_end)}."
            )
        lines.append(
            f"(d)/(a) pipeline/s ratio: {num(ratio, 3) if ratio is not None else 'n/a'} "
            f"(bar >= {RATIO_BAR}): {verdict(passed['d'])}"
        )
        lines.append("")
    lines += [
        LEGEND,
        "",
        REFERENCE,
        "",
    ]
    document: dict[str, object] = {
        "command": sys.argv,
        "daemon_code": options.code,
        "machine": _machine(),
        "quick": options.quick,
        "repeat": options.repeat,
        "ratio_d_over_a": ratio,
        "errors": errors,
        "scenarios": {
            s.key: {
                "title": s.title,
                "bar": s.bar,
                "passed": passed[s.key],
                "median": figs[s.key],
                "runs": records[s.key],
            }
            for s in chosen
        },
    }
    return "\n".join(lines), document


def _git_describe() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def _machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run triaged's benchmark scenarios (issue 2).")
    add = parser.add_argument
    add("--scenarios", default="a,b,c,d", help="comma-separated subset of a,b,c,d")
    add("--quick", action="store_true", help="short runs (10/5/5/10 s) for a quick look")
    add("--duration", type=float, help="override every scenario's duration, seconds")
    add("--repeat", type=int, default=1, help="runs per scenario; the report shows medians")
    add("--url", help="benchmark this running daemon instead of starting fresh ones")
    add("--daemon-cmd", default=DEFAULT_COMMAND, help="command that starts the daemon")
    add("--rev", help="benchmark this git revision (exported to a temp dir), not the work tree")
    add("--preload", type=int, default=50_000, help="open incidents created before (d)")
    add("--services", type=int, default=1000, help="incident keys new alerts spread over")
    add("--mix", help="override every scenario's mix, e.g. new=0.7,repeat=0.2,resolve=0.1")
    add("--client", choices=("aiohttp", "raw"), default="aiohttp", help="loadgen HTTP client")
    add("--seed", type=int, default=1)
    add("--wait-quiet", type=float, default=60.0, help="wait up to S s for an idle machine")
    add("--drain-timeout", type=float, default=120.0)
    add("--results-dir", type=Path, default=BENCH / "results")
    add("--quiet-loadgen", action="store_true", help="hide each run's own summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    keys = [k.strip() for k in options.scenarios.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown or options.repeat < 1:
        raise SystemExit(f"unknown scenarios {unknown} (choose from a,b,c,d) or bad --repeat")
    chosen = [SCENARIOS[k] for k in keys]
    options.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    records: dict[str, list[RunRecord]] = {}
    errors: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="triaged-bench-src-") as exported:
        options.source = REPO
        options.code = f"work tree at {_git_describe()}"
        if options.url:
            options.code = f"whatever runs at {options.url}"
        elif options.rev:
            options.source = Path(exported)
            options.code = f"commit {export_revision(options.rev, options.source)}"
        for scenario in chosen:
            for i in range(options.repeat):
                print(f"\n== ({scenario.key}) {scenario.title}, run {i + 1}/{options.repeat}")
                stem = f"{stamp}-{scenario.key}{i + 1}"
                try:
                    record = run_once(scenario, options, stem)
                except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
                    traceback.print_exc()
                    errors.setdefault(scenario.key, []).append(str(error).splitlines()[0])
                    continue
                records.setdefault(scenario.key, []).append(record)
    chosen = [s for s in chosen if s.key in records]
    if not chosen:
        raise SystemExit(f"every run failed: {errors}")
    figs = {key: figures(runs) for key, runs in records.items()}
    markdown, document = report(options, chosen, figs, records, errors)
    md_path = options.results_dir / f"{stamp}.md"
    md_path.write_text(markdown)
    json_path = options.results_dir / f"{stamp}.json"
    json_path.write_bytes(msgspec.json.format(msgspec.json.encode(document)))
    print("\n" + markdown)
    print(f"written: {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
