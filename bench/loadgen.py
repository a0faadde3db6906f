"""Load generator: posts Alertmanager webhooks to a running triaged and measures it.

Run it as its own process (it brings its own event loop, uvloop when installed) so that
its work never shares an interpreter with the daemon:

    python bench/loadgen.py --url http://127.0.0.1:9187 --batch 100 --concurrency 8 \\
        --duration 30 --mix new=0.7,repeat=0.2,resolve=0.1 --json out.json

Without ``--rate`` it runs closed loop: ``--concurrency`` requests are always in flight
and the figure is the maximum sustained throughput. With ``--rate`` it runs open loop:
request i is due at ``start + i * batch / rate`` whatever happened to earlier requests,
and its latency is measured from that due time, so a daemon that stalls is charged for
the queue it builds (no coordinated omission).

Besides its own HTTP timings it reads the daemon's ``/metrics`` before, during (every
0.5 s, for peak RSS) and after the run: accepted and processed counters, the end-to-end
latency histogram (accepted -> incident recorded) and the stream's pending entries. After
sending stops it waits for the pipeline to drain: processed caught up with accepted and
nothing pending.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import math
import os
import sys
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import msgspec
from yarl import URL

from bench import promstats
from bench.mix import Kind, Mix
from bench.payloads import Batch, PayloadFactory
from bench.quantiles import histogram_quantile, percentile
from bench.rawhttp import RawPool
from bench.result import LoadResult, Sample, Settings

INGEST_PATH = "/api/v1/alerts/alertmanager"
SAMPLE_INTERVAL_S = 0.5
DRAIN_POLL_S = 0.2
WINDOW_S = 5
MAX_RETRY_AFTER_S = 1.0
JSON_HEADERS = {"Content-Type": "application/json"}
UNPARSED = "note:2xx-without-accepted-count"


class Accepted(msgspec.Struct):
    accepted: int


class Recorder:
    """Per-request outcomes. Latencies are kept individually (8 bytes each) so HTTP
    percentiles are exact."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.latencies = array("d")
        self.statuses: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.requests = 0
        self.accepted = 0
        self.per_second: Counter[int] = Counter()
        self._decode = msgspec.json.Decoder(Accepted).decode

    def sending(self, batch: Batch) -> None:
        self.requests += 1
        for kind, count in batch.counts.items():
            self.sent[kind.value] += count

    def answered(self, status: int, body: bytes, latency: float, done: float, alerts: int) -> int:
        """Record an HTTP answer; return how many alerts the daemon accepted."""
        self.latencies.append(latency)
        self.statuses[str(status)] += 1
        if not 200 <= status < 300:
            return 0
        try:
            accepted = self._decode(body).accepted
        except msgspec.DecodeError:
            accepted = alerts
            self.statuses[UNPARSED] += 1  # counted as accepted; visible in the JSON
        self.accepted += accepted
        self.per_second[int(done - self.start)] += accepted
        return accepted

    def failed(self, error: BaseException) -> None:
        self.statuses[f"error:{type(error).__name__}"] += 1


PostResult = tuple[int, bytes, str | None]  # status, body, Retry-After
Post = Callable[[bytes], Awaitable[PostResult]]


def aiohttp_post(session: aiohttp.ClientSession, url: URL) -> Post:
    """POST through aiohttp's pooled keep-alive client (the default)."""

    async def post(body: bytes) -> PostResult:
        async with session.post(url, data=body, headers=JSON_HEADERS) as response:
            return response.status, await response.read(), response.headers.get("Retry-After")

    return post


def raw_post(pool: RawPool) -> Post:
    """POST through the minimal client of :mod:`bench.rawhttp` (``--client raw``)."""

    async def post(body: bytes) -> PostResult:
        response = await pool.post(body)
        return response.status, response.body, response.retry_after

    return post


class Sender:
    """Posts bodies and records the outcome."""

    def __init__(self, post: Post, factory: PayloadFactory, recorder: Recorder) -> None:
        self._post = post
        self._factory = factory
        self._recorder = recorder

    async def send(self, batch: Batch, alerts: int, since: float) -> float:
        """Post one batch; latency runs from ``since``. Returns the Retry-After asked
        for (seconds, 0 when none)."""
        self._recorder.sending(batch)
        try:
            status, body, retry_after = await self._post(batch.body)
        except Exception as error:  # every failure is a counted outcome, never a lost task
            self._recorder.failed(error)
            return 0.0
        done = time.perf_counter()
        if self._recorder.answered(status, body, done - since, done, alerts):
            self._factory.confirm(batch)
        return _seconds(retry_after)


def _seconds(header: str | None) -> float:
    if not header:
        return 0.0
    try:
        return max(0.0, float(header))
    except ValueError:
        return MAX_RETRY_AFTER_S  # an HTTP date: back off a little, don't parse it


class Budget:
    """How many alerts may still be sent (unbounded unless ``--alerts`` was given)."""

    def __init__(self, limit: int | None) -> None:
        self.left = math.inf if limit is None else float(limit)

    def take(self, want: int) -> int:
        granted = int(min(want, self.left))
        self.left -= granted
        return granted


async def closed_loop(
    sender: Sender, factory: PayloadFactory, args: argparse.Namespace, budget: Budget
) -> None:
    """``concurrency`` workers, each posting its next batch as soon as the last answered."""
    deadline = time.perf_counter() + args.duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            size = budget.take(args.batch)
            if size == 0:
                return
            batch = factory.build(size, time.time())
            backoff = await sender.send(batch, size, time.perf_counter())
            if backoff:
                await asyncio.sleep(min(backoff, MAX_RETRY_AFTER_S))

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))


async def open_loop(
    sender: Sender, factory: PayloadFactory, args: argparse.Namespace, budget: Budget
) -> None:
    """Requests on a fixed timeline; a late request is sent at once and charged its delay.

    The connection pool caps in-flight requests at ``concurrency``; requests beyond that
    wait inside the client, and that wait is part of their measured latency.
    """
    interval = args.batch / args.rate
    start = time.perf_counter()
    end = start + args.duration
    in_flight: set[asyncio.Task[float]] = set()
    for i in range(sys.maxsize):
        due = start + i * interval
        if due >= end:
            break
        size = budget.take(args.batch)
        if size == 0:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= args.max_outstanding:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(sender.send(factory.build(size, time.time()), size, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight)


class Scraper:
    """Reads ``/metrics`` on its own small session, so scrapes never queue behind the
    load's connection pool."""

    def __init__(self, session: aiohttp.ClientSession, base: URL) -> None:
        self._session = session
        self._url = base / "metrics"
        self.failures = 0

    async def scrape(self, only: tuple[str, ...] | None = None) -> promstats.Snapshot | None:
        try:
            async with self._session.get(self._url) as response:
                if response.status != 200:
                    self.failures += 1
                    return None
                text = await response.text()
        except (aiohttp.ClientError, OSError, TimeoutError):
            self.failures += 1
            return None
        return promstats.parse(text, only)


class Sampler:
    """Scrapes every 0.5 s while the run and the drain last: peak RSS and a timeline."""

    def __init__(self, scraper: Scraper, start: float) -> None:
        self._scraper = scraper
        self._start = start
        self.samples: list[Sample] = []

    async def run(self) -> None:
        while True:
            snap = await self._scraper.scrape(promstats.SAMPLED)
            if snap is not None:
                self.samples.append(
                    Sample(
                        t=round(time.perf_counter() - self._start, 3),
                        daemon_rss=snap.total(promstats.DAEMON_RSS),
                        redis_rss=snap.total(promstats.REDIS_RSS),
                        pending=snap.total(promstats.PENDING),
                        processed=snap.total(promstats.PROCESSED),
                    )
                )
            await asyncio.sleep(SAMPLE_INTERVAL_S)

    def peak_mb(self, field: str) -> float | None:
        values = [getattr(s, field) for s in self.samples if getattr(s, field) is not None]
        return round(max(values) / 2**20, 1) if values else None


class Drain(msgspec.Struct):
    """How the backlog ended. ``drained`` is None when the daemon lacks the metrics."""

    drained: bool | None = None
    seconds: float | None = None  # until processed caught up and nothing was pending
    caught_up_s: float | None = None  # until processed caught up (a live counter, so
    # sharper than ``seconds``, which waits for the periodically refreshed pending gauge)


async def drain(scraper: Scraper, before: promstats.Snapshot, give_up_after: float) -> Drain:
    """Wait until the daemon processed everything it accepted since ``before`` and has
    nothing pending."""
    began = time.perf_counter()
    caught_up: float | None = None
    while True:
        snap = await scraper.scrape(promstats.SAMPLED)
        waited = time.perf_counter() - began
        if snap is not None:
            accepted = promstats.delta(before, snap, promstats.RECEIVED, outcome="accepted")
            processed = promstats.delta(before, snap, promstats.PROCESSED)
            pending = snap.total(promstats.PENDING)
            if accepted is None or processed is None or pending is None:
                return Drain()
            if caught_up is None and processed >= accepted:
                caught_up = waited
            if caught_up is not None and pending == 0:
                return Drain(True, waited, caught_up)
        if waited > give_up_after:
            return Drain(False, waited, caught_up)
        # poll briskly at first: a daemon that keeps up catches up within milliseconds
        await asyncio.sleep(DRAIN_POLL_S if waited > 1.0 else DRAIN_POLL_S / 4)


def slowest_window(per_second: Counter[int], seconds: int) -> float | None:
    """Lowest accepted rate over any ``WINDOW_S`` consecutive whole seconds of the run."""
    if seconds <= 0:
        return None
    width = min(WINDOW_S, seconds)
    counts = [per_second.get(s, 0) for s in range(seconds)]
    sums = [sum(counts[i : i + width]) for i in range(seconds - width + 1)]
    return min(sums) / width


def _is_failure(status: str) -> bool:
    """A non-2xx status or a client error (``error:...``), not a note."""
    return not status.startswith(("2", "note:"))


def _ms(seconds: float) -> float | None:
    value = promstats.finite_or_none(seconds)
    return None if value is None else round(value * 1000, 2)


async def run(args: argparse.Namespace) -> LoadResult:
    base = URL(args.url)
    factory = PayloadFactory(
        run_id=args.run_id, mix=Mix.parse(args.mix), services=args.services, seed=args.seed
    )
    ingest = base / INGEST_PATH.lstrip("/")
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    load_session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=args.concurrency, keepalive_timeout=60),
        timeout=timeout,
        skip_auto_headers=("User-Agent",),
    )
    metrics_session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=2), timeout=aiohttp.ClientTimeout(total=10)
    )
    raw_pool = RawPool(ingest, args.concurrency, args.request_timeout)
    post = raw_post(raw_pool) if args.client == "raw" else aiohttp_post(load_session, ingest)
    async with load_session, metrics_session:
        scraper = Scraper(metrics_session, base)
        before = await scraper.scrape()
        if before is None:
            print("warning: no /metrics before the run; daemon-side figures unavailable")
        cpu_before = time.process_time()
        start = time.perf_counter()
        recorder = Recorder(start)
        sender = Sender(post, factory, recorder)
        sampler = Sampler(scraper, start)
        sampling = asyncio.create_task(sampler.run())
        budget = Budget(args.alerts)
        drive = open_loop if args.rate else closed_loop
        await drive(sender, factory, args, budget)
        cpu_used = time.process_time() - cpu_before
        raw_pool.close()
        elapsed = max(time.perf_counter() - start, 1e-9)
        drained = Drain()
        if before is not None and args.drain_timeout > 0:
            drained = await drain(scraper, before, args.drain_timeout)
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        after = await scraper.scrape()
    return summarise(args, recorder, sampler, before, after, elapsed, cpu_used, drained)


def summarise(
    args: argparse.Namespace,
    recorder: Recorder,
    sampler: Sampler,
    before: promstats.Snapshot | None,
    after: promstats.Snapshot | None,
    elapsed: float,
    cpu_used: float,
    drained: Drain,
) -> LoadResult:
    latencies = sorted(recorder.latencies)
    non_2xx = sum(n for status, n in recorder.statuses.items() if _is_failure(status))
    e2e: list[tuple[float, float]] = []
    daemon_accepted = daemon_processed = None
    pending_end = open_end = None
    if before is not None and after is not None:
        e2e = promstats.bucket_delta(before, after, promstats.END_TO_END)
        daemon_accepted = promstats.delta(before, after, promstats.RECEIVED, outcome="accepted")
        daemon_processed = promstats.delta(before, after, promstats.PROCESSED)
        pending_end = after.total(promstats.PENDING)
        open_end = after.total(promstats.INCIDENTS_OPEN)
    settings = Settings(
        url=args.url,
        batch=args.batch,
        concurrency=args.concurrency,
        duration_s=args.duration,
        rate=args.rate,
        mix=str(Mix.parse(args.mix)),
        services=args.services,
        seed=args.seed,
        run_id=args.run_id,
        max_alerts=args.alerts,
        client=args.client,
    )
    whole_seconds = int(elapsed)
    finite = [bound for bound, _ in e2e if math.isfinite(bound)]
    pipeline_per_s = None
    if daemon_processed is not None and drained.caught_up_s is not None:
        pipeline_per_s = round(daemon_processed / (elapsed + drained.caught_up_s), 1)
    return LoadResult(
        settings=settings,
        elapsed_s=round(elapsed, 3),
        requests=recorder.requests,
        responses=len(latencies),
        alerts_sent={kind.value: recorder.sent[kind.value] for kind in Kind},
        accepted_alerts=recorder.accepted,
        accepted_per_s=round(recorder.accepted / elapsed, 1),
        pipeline_per_s=pipeline_per_s,
        requests_per_s=round(recorder.requests / elapsed, 1),
        min_window_accepted_per_s=slowest_window(recorder.per_second, whole_seconds),
        http_p50_ms=_ms(percentile(latencies, 0.50)),
        http_p99_ms=_ms(percentile(latencies, 0.99)),
        http_max_ms=_ms(latencies[-1]) if latencies else None,
        statuses=dict(sorted(recorder.statuses.items())),
        non_2xx=non_2xx,
        daemon_accepted=daemon_accepted,
        daemon_processed=daemon_processed,
        e2e_count=e2e[-1][1] if e2e else None,
        e2e_p50_ms=_ms(histogram_quantile(0.50, e2e)) if e2e else None,
        e2e_p99_ms=_ms(histogram_quantile(0.99, e2e)) if e2e else None,
        e2e_top_bucket_ms=_ms(max(finite)) if finite else None,
        drained=drained.drained,
        drain_s=None if drained.seconds is None else round(drained.seconds, 2),
        caught_up_s=None if drained.caught_up_s is None else round(drained.caught_up_s, 2),
        pending_end=pending_end,
        incidents_open_end=open_end,
        peak_daemon_rss_mb=sampler.peak_mb("daemon_rss"),
        peak_redis_rss_mb=sampler.peak_mb("redis_rss"),
        loadgen_cpu_cores=round(cpu_used / elapsed, 2),
        accepted_timeline=[recorder.per_second.get(s, 0) for s in range(whole_seconds + 1)],
        samples=sampler.samples,
    )


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def _e2e(value: float | None, top: float | None) -> str:
    """A quantile in the +Inf bucket comes back as the highest bound: say "at least"."""
    at_least = value is not None and top is not None and value >= top
    return (">= " if at_least else "") + _fmt(value, " ms", 2)


def format_summary(result: LoadResult) -> str:
    """A human summary of one run."""
    s = result.settings
    mode = f"open loop at {s.rate:,.0f} alerts/s" if s.rate else "closed loop"
    if result.drained is None:
        drained = "unknown (daemon lacks the metrics)"
    elif result.drained:
        drained = f"yes, {_fmt(result.drain_s, ' s')} after sending stopped"
    else:
        drained = f"NO (gave up after {_fmt(result.drain_s, ' s')}, pending {result.pending_end})"
    non_2xx = ", ".join(f"{k}: {v}" for k, v in result.statuses.items() if _is_failure(k))
    lines = [
        f"{mode}, batch {s.batch}, concurrency {s.concurrency}, mix {s.mix}, "
        f"{s.services} services, {s.client} client, {result.elapsed_s:.1f} s",
        f"  accepted        {result.accepted_alerts:,} alerts = "
        f"{result.accepted_per_s:,.0f} alerts/s (slowest {WINDOW_S} s window: "
        f"{_fmt(result.min_window_accepted_per_s, '/s', 0)})",
        f"  requests        {result.requests:,} = {result.requests_per_s:,.0f} req/s; "
        f"non-2xx: {result.non_2xx}" + (f" ({non_2xx})" if non_2xx else ""),
        f"  HTTP latency    p50 {_fmt(result.http_p50_ms, ' ms', 2)}, "
        f"p99 {_fmt(result.http_p99_ms, ' ms', 2)}, max {_fmt(result.http_max_ms, ' ms', 2)}",
        f"  pipeline        {_fmt(result.pipeline_per_s, ' alerts/s', 0)} processed over "
        f"sending + catching up ({_fmt(result.caught_up_s, ' s')})",
        f"  end-to-end      p50 {_e2e(result.e2e_p50_ms, result.e2e_top_bucket_ms)}, "
        f"p99 {_e2e(result.e2e_p99_ms, result.e2e_top_bucket_ms)} "
        f"(daemon histogram, bucket-interpolated, {_fmt(result.e2e_count, '', 0)} observations)",
        f"  daemon counters accepted {_fmt(result.daemon_accepted, '', 0)}, "
        f"processed {_fmt(result.daemon_processed, '', 0)}",
        f"  drained         {drained}",
        f"  peak RSS        daemon {_fmt(result.peak_daemon_rss_mb, ' MiB')}, "
        f"redis {_fmt(result.peak_redis_rss_mb, ' MiB')}; "
        f"open incidents {_fmt(result.incidents_open_end, '', 0)}",
        f"  loadgen CPU     {result.loadgen_cpu_cores:.2f} cores",
    ]
    return "\n".join(lines)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _mix(text: str) -> str:
    try:
        Mix.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Post Alertmanager webhooks to triaged and report throughput and latency."
    )
    add = parser.add_argument
    add("--url", default="http://127.0.0.1:9187", help="daemon base URL (loopback only)")
    add("--batch", type=_positive_int, default=100, help="alerts per request")
    add("--concurrency", type=_positive_int, default=8, help="max requests in flight")
    add("--duration", type=_positive_float, default=10.0, help="seconds of sending")
    add("--rate", type=_positive_float, help="offered alerts/s (open loop); omit: closed loop")
    add("--mix", type=_mix, default="new=1", help="e.g. new=0.7,repeat=0.2,resolve=0.1")
    add("--services", type=_positive_int, default=1000, help="incident keys new alerts spread over")
    add("--seed", type=int, default=1, help="seed for choosing repeated/resolved alerts")
    add("--alerts", type=_positive_int, help="stop after sending this many alerts")
    add("--run-id", default=None, help="label prefix making this run's alerts unique")
    add("--drain-timeout", type=float, default=120.0, help="seconds to wait for the drain")
    add("--request-timeout", type=_positive_float, default=30.0, help="per request, seconds")
    add("--client", choices=("aiohttp", "raw"), default="aiohttp", help="HTTP client for load")
    add("--max-outstanding", type=_positive_int, default=10_000, help="open-loop task cap")
    add("--json", type=Path, help="also write the result as JSON here")
    add("--quiet", action="store_true", help="no human summary on stdout")
    return parser


def _check_loopback(url: str) -> None:
    host = URL(url).host or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing to load {host!r}: the benchmark only targets loopback")


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, LoadResult]], LoadResult]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _check_loopback(args.url)
    if args.run_id is None:
        args.run_id = f"{os.getpid():x}{int(time.time()) % 0x100000:05x}"
    result = _event_loop_runner()(run(args))
    if not args.quiet:
        print(format_summary(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
