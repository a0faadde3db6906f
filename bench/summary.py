"""Condensing runs into figures, and figures into a Markdown report.

With ``--repeat K`` every figure is the median over the K runs of a scenario (so one noisy
run on a shared 2-core machine neither passes nor fails the bar alone); "drained" must
hold for every run and non-2xx answers are summed.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

import msgspec

from bench.result import LoadResult


class RunRecord(msgspec.Struct):
    """One run of one scenario, with what the runner saw around the load generator."""

    scenario: str
    result: LoadResult
    daemon_cpu_cores: float | None  # daemon process CPU during sending + drain
    redis_cpu_cores: float | None  # its redis-server's CPU over the same window
    other_cpu_cores: float | None  # everything else on the machine (noise), whole run
    daemon_exit: int | None  # exit code after SIGTERM (None: an external daemon)
    daemon_stop_s: float | None
    preload: LoadResult | None = None


class Figures(msgspec.Struct):
    runs: int
    offered_per_s: float | None
    accepted_per_s: float
    pipeline_per_s: float | None
    min_window_accepted_per_s: float | None
    requests_per_s: float
    http_p50_ms: float | None
    http_p99_ms: float | None
    e2e_p50_ms: float | None
    e2e_p99_ms: float | None
    e2e_top_bucket_ms: float | None
    drained: bool | None
    drain_s: float | None
    non_2xx: int
    peak_daemon_rss_mb: float | None
    peak_redis_rss_mb: float | None
    daemon_cpu_cores: float | None
    redis_cpu_cores: float | None
    loadgen_cpu_cores: float
    other_cpu_cores: float | None
    incidents_open_end: float | None
    clean_exit: bool | None


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def figures(records: Sequence[RunRecord]) -> Figures:
    """Median figures of the runs of one scenario."""
    results = [r.result for r in records]

    def med(get: Callable[[LoadResult], float | None]) -> float | None:
        return _median([get(r) for r in results])

    drained_flags = [r.drained for r in results]
    exits = [r.daemon_exit for r in records if r.daemon_exit is not None]
    return Figures(
        runs=len(records),
        offered_per_s=results[0].settings.rate,
        accepted_per_s=med(lambda r: r.accepted_per_s) or 0.0,
        pipeline_per_s=med(lambda r: r.pipeline_per_s),
        min_window_accepted_per_s=med(lambda r: r.min_window_accepted_per_s),
        requests_per_s=med(lambda r: r.requests_per_s) or 0.0,
        http_p50_ms=med(lambda r: r.http_p50_ms),
        http_p99_ms=med(lambda r: r.http_p99_ms),
        e2e_p50_ms=med(lambda r: r.e2e_p50_ms),
        e2e_p99_ms=med(lambda r: r.e2e_p99_ms),
        e2e_top_bucket_ms=results[0].e2e_top_bucket_ms,
        drained=None if None in drained_flags else all(drained_flags),
        drain_s=max((r.drain_s for r in results if r.drain_s is not None), default=None),
        non_2xx=sum(r.non_2xx for r in results),
        peak_daemon_rss_mb=max(
            (r.peak_daemon_rss_mb for r in results if r.peak_daemon_rss_mb is not None),
            default=None,
        ),
        peak_redis_rss_mb=max(
            (r.peak_redis_rss_mb for r in results if r.peak_redis_rss_mb is not None),
            default=None,
        ),
        daemon_cpu_cores=_median([r.daemon_cpu_cores for r in records]),
        redis_cpu_cores=_median([r.redis_cpu_cores for r in records]),
        loadgen_cpu_cores=med(lambda r: r.loadgen_cpu_cores) or 0.0,
        other_cpu_cores=_median([r.other_cpu_cores for r in records]),
        incidents_open_end=med(lambda r: r.incidents_open_end),
        clean_exit=all(code == 0 for code in exits) if exits else None,
    )


def num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _e2e(value: float | None, top: float | None) -> str:
    """A quantile past the highest finite bucket can only be given as a lower bound."""
    at_least = value is not None and top is not None and value >= top
    return (">= " if at_least else "") + num(value, 1)


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


TABLE_HEAD = (
    "| scenario | bar | pipeline/s | accepted/s (slowest 5 s) | req/s | HTTP p50 / p99 ms "
    "| e2e p50 / p99 ms | drained (s) | peak RSS daemon / redis MiB "
    "| CPU daemon / redis / loadgen / other | non-2xx | verdict |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def table_row(key: str, title: str, bar: str, f: Figures, passed: bool | None) -> str:
    if f.drained is None:
        drained = "unknown"
    else:
        drained = f"{'yes' if f.drained else 'NO'} ({num(f.drain_s, 1)})"
    cells = [
        f"({key}) {title}",
        bar,
        num(f.pipeline_per_s),
        f"{num(f.accepted_per_s)} ({num(f.min_window_accepted_per_s)})",
        num(f.requests_per_s),
        f"{num(f.http_p50_ms, 1)} / {num(f.http_p99_ms, 1)}",
        f"{_e2e(f.e2e_p50_ms, f.e2e_top_bucket_ms)} / {_e2e(f.e2e_p99_ms, f.e2e_top_bucket_ms)}",
        drained,
        f"{num(f.peak_daemon_rss_mb)} / {num(f.peak_redis_rss_mb)}",
        f"{num(f.daemon_cpu_cores, 2)} / {num(f.redis_cpu_cores, 2)} / "
        f"{num(f.loadgen_cpu_cores, 2)} / {num(f.other_cpu_cores, 2)}",
        str(f.non_2xx),
        verdict(passed),
    ]
    return "| " + " | ".join(cells) + " |"
