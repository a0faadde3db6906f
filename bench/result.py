"""What one load-generator run reports, as a typed JSON document.

``loadgen.py --json FILE`` writes a :class:`LoadResult`; ``run.py`` reads it back with the
same type, so the two processes agree on the schema by construction. Figures the daemon
did not export are ``null`` rather than guessed.
"""

from __future__ import annotations

import msgspec


class Settings(msgspec.Struct, frozen=True):
    """The load that was offered."""

    url: str
    batch: int
    concurrency: int
    duration_s: float
    rate: float | None  # offered alerts/s (open loop); None = closed loop
    mix: str
    services: int
    seed: int
    run_id: str
    max_alerts: int | None
    client: str = "aiohttp"  # aiohttp | raw (bench/rawhttp.py)


class Sample(msgspec.Struct, frozen=True):
    """One periodic scrape of the daemon during the run (seconds since start)."""

    t: float
    daemon_rss: float | None
    redis_rss: float | None
    pending: float | None
    processed: float | None


class LoadResult(msgspec.Struct):
    settings: Settings
    elapsed_s: float  # first send to last response
    requests: int
    responses: int  # requests that got an HTTP answer (any status)
    alerts_sent: dict[str, int]  # by kind: new / repeat / resolve
    accepted_alerts: int  # sum of the daemon's {"accepted": n}
    accepted_per_s: float
    # processed by the pipeline / (sending + catching up): the full-pipeline rate; lower than
    # accepted_per_s when ingestion outruns processing and a backlog drains afterwards
    pipeline_per_s: float | None
    requests_per_s: float
    min_window_accepted_per_s: float | None  # slowest 5 s window: is the rate sustained?
    http_p50_ms: float | None
    http_p99_ms: float | None
    http_max_ms: float | None
    statuses: dict[str, int]  # HTTP status (or "error:<Exception>") -> count
    non_2xx: int
    daemon_accepted: float | None  # delta of triaged_alerts_received_total{outcome=accepted}
    daemon_processed: float | None  # delta of triaged_pipeline_alerts_processed_total
    e2e_count: float | None  # observations in the end-to-end histogram during the run
    e2e_p50_ms: float | None  # bucket-interpolated (as PromQL histogram_quantile)
    e2e_p99_ms: float | None
    e2e_top_bucket_ms: float | None  # a quantile equal to this is really "at least this"
    drained: bool | None  # None: the daemon does not export what the check needs
    drain_s: float | None  # end of sending -> processed caught up and nothing pending
    caught_up_s: float | None  # end of sending -> processed caught up with accepted
    pending_end: float | None
    incidents_open_end: float | None
    peak_daemon_rss_mb: float | None
    peak_redis_rss_mb: float | None
    loadgen_cpu_cores: float  # CPU the generator itself used, in cores (1.0 = one core)
    accepted_timeline: list[int]  # accepted alerts per second of the run
    samples: list[Sample]
