"""The application factory: one ``create_app(settings)`` for the CLI and the tests.

Long-lived resources are cleanup contexts, set up in order and torn down in reverse:
Redis (embedded or external) → the stream appender → pipeline workers and scheduler.
On shutdown aiohttp first stops accepting and lets in-flight requests finish, then the
workers finish and acknowledge their current batch, the appender flushes, Redis closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import Gauge
from redis.asyncio import Redis

from daemon import (
    grouping_api,
    heartbeats,
    incidents_api,
    ops,
    process_api,
    receive,
    reload,
    retrain,
    silences_api,
    subscriptions,
    topology_api,
)
from daemon.appkeys import (
    APPENDER,
    METRICS,
    MODELS,
    RATE_LIMITER,
    REDIS,
    ROUTING,
    SETTINGS,
    TOPOLOGY,
    WORKERS,
)
from daemon.classify_stage import ClassifyStage
from daemon.config_types import seconds
from daemon.corrections import CorrectionsFeed
from daemon.correlation_stage import TopologyRef
from daemon.delivery import DeliveryWorker
from daemon.delivery import api as delivery_api
from daemon.embedded_redis import EmbeddedRedis
from daemon.enqueue import StreamAppender
from daemon.errors import Handler, json_errors
from daemon.metrics import Metrics
from daemon.pipeline import Worker, ensure_group
from daemon.routing_stage import RoutingRef
from daemon.scheduler import Scheduler
from daemon.settings import Settings
from daemon.store import connect
from daemon.triage_models import load_triager, watch

log = structlog.get_logger("triaged.app")

MIN_REDIS_VERSION = (6, 2)


class StoreError(Exception):
    """Redis cannot serve as triaged's store; the message says why."""


def create_app(settings: Settings, *, run_workers: bool = True) -> web.Application:
    """The daemon as an aiohttp application; raises ``ModelLoadError`` when a model file
    fails its checks, so a daemon never serves with a model it cannot trust."""
    app = web.Application(
        client_max_size=settings.config.server.max_body_bytes,
        middlewares=[_edge],
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[WORKERS] = []
    app[RATE_LIMITER] = settings.rate_limiter()
    app[ROUTING] = RoutingRef(settings.routing)
    app[MODELS] = load_triager(settings, app[METRICS])
    app[subscriptions.CONFIRMATIONS] = set()
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_appender_ctx)
    if run_workers:
        app.cleanup_ctx.append(_workers_ctx)
    app.on_startup.append(reload.on_sighup)
    _add_routes(app)
    return app


def _add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/alerts/{source}", receive.receive_source)
    app.router.add_post("/api/v2/alerts", receive.receive_prometheus)
    app.router.add_post("/v2/enqueue", receive.vendor_path("pagerduty"))
    app.router.add_post("/api/alert", receive.vendor_path("alerta"))
    app.router.add_get("/api/v1/sources/{source}/subscriptions", subscriptions.listing)
    app.router.add_post("/api/v1/heartbeats/{name}", heartbeats.check_in)
    # The process's actions have bodies of their own; registered first, they take
    # precedence over the generic /api/v1/incidents/{id}/{action} below.
    process_api.add_routes(app)
    app.router.add_get("/api/v1/incidents", incidents_api.list_incidents)
    app.router.add_get("/api/v1/incidents/{id}", incidents_api.get_incident)
    grouping_api.add_routes(app)  # before the generic action route: merge, split
    app.router.add_post("/api/v1/incidents/{id}/{action}", incidents_api.act)
    silences_api.add_routes(app)
    topology_api.add_routes(app)
    delivery_api.add_routes(app)
    retrain.add_routes(app)
    app.router.add_post("/api/v1/routing/reload", reload.reload_handler)
    app.router.add_get("/api/v1/openapi.json", ops.openapi_json)
    app.router.add_get("/api/v1/schemas/generic-alert.json", ops.generic_alert_schema)
    app.router.add_get("/metrics", ops.metrics)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)


@web.middleware
async def _edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request and answer every error as JSON (one middleware: each layer
    costs on every request)."""
    started = time.perf_counter()
    try:
        return await json_errors(request, handler)
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[METRICS].http_duration.labels(route, request.method).observe(
            time.perf_counter() - started
        )


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.data_dir, appendfsync=settings.config.store.appendfsync)
        url = await asyncio.get_running_loop().run_in_executor(None, embedded.start)
        log.info("embedded_redis_started", data_dir=str(embedded.data_dir), url=url)
    redis = connect(url)
    try:
        await check_store(redis)
        await ensure_group(redis)
        app[REDIS] = redis
        app[TOPOLOGY] = TopologyRef(redis, settings.fold.correlation, settings.topology)
        yield
    finally:
        await redis.aclose()
        if embedded is not None:
            await asyncio.get_running_loop().run_in_executor(None, embedded.stop)
            log.info("embedded_redis_stopped")


async def check_store(redis: Redis) -> None:
    info = await redis.info("server")
    version = tuple(int(part) for part in str(info["redis_version"]).split(".")[:2])
    if version < MIN_REDIS_VERSION:
        raise StoreError(f"Redis {info['redis_version']} is too old: triaged needs 6.2 or newer")


async def _appender_ctx(app: web.Application) -> AsyncIterator[None]:
    appender = StreamAppender(
        app[REDIS], timeout=seconds(app[SETTINGS].config.server.store_timeout)
    )
    appender.start()
    app[APPENDER] = appender
    yield
    await appender.stop()


async def _workers_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    metrics = app[METRICS]
    pipeline = settings.config.pipeline
    stop = asyncio.Event()
    feed = CorrectionsFeed(app[REDIS], app[MODELS])
    remembered = await feed.catch_up()
    log.info("corrections_remembered", count=remembered)
    classify = ClassifyStage(app[MODELS], feed, settings.config.triage.priority, metrics)
    workers = [
        Worker(
            app[REDIS],
            settings.fold,
            metrics,
            app[ROUTING],
            public_url=settings.config.server.public_url,
            batch_size=pipeline.batch_size,
            max_batch_alerts=pipeline.max_batch_alerts,
            claim_idle=seconds(pipeline.claim_idle),
            max_deliveries=pipeline.max_deliveries,
            topology=app[TOPOLOGY],
            clock=settings.clock,
            classify=classify,
            process=settings.process,
        )
        for _ in range(pipeline.workers)
    ]
    scheduler = Scheduler(
        app[REDIS],
        metrics,
        app[ROUTING],
        grouping=workers[0].grouper,
        public_url=settings.config.server.public_url,
        retain_closed=seconds(settings.config.retention.closed_incidents),
        retain_resolved_alerts=seconds(settings.config.retention.resolved_alerts),
        clock=settings.clock,
        process=settings.process,
    )
    app[WORKERS].extend(workers)
    alive = metrics.workers_alive
    tasks = [asyncio.create_task(_supervised(w.run, stop, alive), name=w.consumer) for w in workers]
    tasks.append(asyncio.create_task(_supervised(scheduler.run, stop), name="scheduler"))
    delivery = DeliveryWorker(app[REDIS], settings.config.channels, metrics, clock=settings.clock)
    tasks.append(asyncio.create_task(_supervised(delivery.run, stop), name="delivery"))
    models = functools.partial(watch, app[MODELS], settings, metrics)
    tasks.append(asyncio.create_task(_supervised(models, stop), name="models"))
    yield
    stop.set()
    await asyncio.gather(*tasks)
    app[MODELS].close()


async def _supervised(
    run: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event, alive: Gauge | None = None
) -> None:
    """Restart a loop that crashed on a bug, rather than let the daemon go quietly deaf;
    ``alive`` counts the loops running right now."""
    while not stop.is_set():
        if alive is not None:
            alive.inc()
        try:
            await run(stop)
        except Exception:
            log.exception("task_crashed_restarting")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            if alive is not None:
                alive.dec()
