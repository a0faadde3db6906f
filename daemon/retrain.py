"""Retraining from operators' corrections: ``POST /api/v1/models/retrain``, ``triaged retrain``.

A retrain trains a challenger per model from the base training data plus the corrections in
``triaged:stream:corrections`` and promotes it only when it learnt the held-out corrections
without losing accuracy on the base test split (``triage.classify.retrain``). It runs in a
separate process, so the daemon keeps ingesting at full speed meanwhile, one at a time across
all daemons of a Redis (a lock key), and writes into the deployment's models directory;
every daemon reading that directory swaps the promoted models in
(``daemon.triage_models.watch``), and the daemon that retrained at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import secrets
import sys
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

import msgspec
import structlog
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from daemon import keys
from daemon.appkeys import METRICS, MODELS, REDIS, SETTINGS
from daemon.auth import require_api
from daemon.corrections import read_all
from daemon.errors import error_response, json_response
from daemon.metrics import Metrics
from daemon.offline import offline_settings, open_store, store_options
from daemon.settings import Settings
from daemon.sources.common import PayloadError, decode
from daemon.triage_models import (
    TriagerRef,
    datasets_dir,
    reload_if_changed,
    seed_deployment_dir,
    triage_config,
)
from daemon.validation import FieldError
from triage.classify import Correction, RetrainResult, retrain
from triage.classify.retrain import retrainable, run_version

log = structlog.get_logger("triaged.retrain")

LOCK_TTL = 60
"""Seconds the retrain lock lasts unless renewed; the retrain renews it every third of that
while it runs, so a daemon that died mid-retrain blocks the next one for a minute at most."""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RetrainBody(msgspec.Struct, forbid_unknown_fields=True):
    """A retrain takes no parameters: no body, or an empty object."""


class RetrainRefused(Exception):
    """The retrain cannot run now; ``status`` is the HTTP answer and the message says why."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class RetrainFailed(Exception):
    """The training process raised or died; the message says how. Nothing was promoted
    by a model that had not finished, since a manifest is replaced only once complete."""


def _train(
    datasets: Path, corrections: list[Correction], target: Path, sample: float | None, config: Any
) -> RetrainResult:
    return retrain(datasets, corrections, target, config=config, sample=sample)


def _child_main(conn: Connection, args: tuple[Any, ...]) -> None:
    """The training process: one call, its result or its error sent back through ``conn``."""
    try:
        answer: tuple[bool, Any] = (True, _train(*args))
    except Exception as exc:  # reported to the parent, which answers the request with it
        answer = (False, f"{type(exc).__name__}: {exc}")
    conn.send(answer)
    conn.close()


def _answer(conn: Connection, child: BaseProcess) -> tuple[bool, Any]:
    try:
        answer: tuple[bool, Any] = conn.recv()
    except EOFError:
        child.join()
        return False, f"the training process died (exit code {child.exitcode})"
    return answer


async def train_in_child(args: tuple[Any, ...]) -> RetrainResult:
    """Run the training in a fresh process, the event loop waiting on none of it (start,
    result, exit). Cancelled (the request dropped, the daemon stopping), it kills the
    process and returns once it is gone, so no training outlives the retrain that asked."""
    spawn = multiprocessing.get_context("spawn")
    receiving, sending = spawn.Pipe(duplex=False)
    child = spawn.Process(target=_child_main, args=(sending, args), name="triaged-retrain")
    loop = asyncio.get_running_loop()
    started = loop.run_in_executor(None, child.start)
    waiting: asyncio.Future[tuple[bool, Any]] | None = None
    try:
        await asyncio.shield(started)
        sending.close()
        waiting = loop.run_in_executor(None, _answer, receiving, child)
        ok, value = await asyncio.shield(waiting)
    finally:
        with contextlib.suppress(Exception):
            await started
        if child.pid is not None:
            if waiting is None or not waiting.done():
                child.kill()
            if waiting is not None:
                with contextlib.suppress(Exception):
                    await waiting
            await loop.run_in_executor(None, child.join)
        sending.close()
        receiving.close()
    if not ok:
        raise RetrainFailed(str(value))
    return cast("RetrainResult", value)


async def _renew(redis: Redis, token: str) -> None:
    while True:
        await asyncio.sleep(LOCK_TTL / 3)
        try:
            if not await redis.eval(_RENEW, 1, keys.RETRAIN_LOCK, token, LOCK_TTL):
                log.warning("retrain_lock_lost")
        except RedisError as exc:
            log.warning("retrain_lock_not_renewed", error=str(exc))


async def run_retrain(redis: Redis, settings: Settings) -> tuple[RetrainResult, int]:
    """Train and maybe promote; the result and how many corrections it learnt from.
    With no model to retrain it answers at once, and leaves the models directory alone."""
    datasets = datasets_dir(settings)
    if datasets is None:
        raise RetrainRefused(
            409, "triage.datasets_dir", "no base training data: set triage.datasets_dir"
        )
    if not datasets.is_dir():
        raise RetrainRefused(409, "triage.datasets_dir", f"{datasets} is not a directory")
    token = secrets.token_hex(8)
    if not await redis.set(keys.RETRAIN_LOCK, token, nx=True, ex=LOCK_TTL):
        raise RetrainRefused(409, "retrain", "a retrain is already running")
    renewing = asyncio.create_task(_renew(redis, token))
    try:
        records, _ = await read_all(redis)
        corrections = [r.correction for r in records]
        config = triage_config(settings)
        if retrainable(corrections, config):
            target = await asyncio.get_running_loop().run_in_executor(
                None, seed_deployment_dir, settings
            )
            sample = settings.config.triage.retrain_sample
            result = await train_in_child((datasets, corrections, target, sample, config))
        else:
            started = datetime.fromtimestamp(settings.clock(), UTC)
            result = RetrainResult(version=run_version(started), promoted=False, metrics={})
    finally:
        renewing.cancel()
        try:
            await redis.eval(_RELEASE, 1, keys.RETRAIN_LOCK, token)
        except RedisError as exc:
            # The lock runs out by itself within LOCK_TTL; the retrain's result stands.
            log.warning("retrain_lock_not_released", error=str(exc))
    return result, len(corrections)


def result_view(result: RetrainResult, corrections: int) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(result)
    body["corrections"] = corrections
    return body


async def retrain_handler(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    raw = (await request.read()).strip() if request.can_read_body else b""
    if raw:
        try:
            decode(raw, RetrainBody)
        except PayloadError as exc:
            return error_response(400, "invalid retrain request", exc.errors)
    metrics = request.app[METRICS]
    try:
        result, count = await run_retrain(request.app[REDIS], request.app[SETTINGS])
    except RetrainRefused as exc:
        return error_response(exc.status, "retrain refused", [FieldError(exc.field, str(exc))])
    except RetrainFailed as exc:
        metrics.model_retrains.labels("failed").inc()
        log.error("retrain_failed", error=str(exc))
        return error_response(500, "retrain failed", [FieldError("retrain", str(exc))])
    await _after(result, request.app[MODELS], request.app[SETTINGS], metrics)
    return json_response(result_view(result, count))


async def _after(
    result: RetrainResult, models: TriagerRef, settings: Settings, metrics: Metrics
) -> None:
    metrics.model_retrains.labels("promoted" if result.promoted else "kept").inc()
    log.info(
        "retrained",
        version=result.version,
        promoted=result.promoted,
        models={name: o.promoted for name, o in result.metrics.items()},
    )
    if result.promoted:
        await reload_if_changed(models, settings, metrics)


async def models_handler(request: web.Request) -> web.Response:
    """The models in service with their manifests' test figures."""
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    ref = request.app[MODELS]
    body = {
        "models": [
            {
                "name": name,
                "version": model.manifest.version,
                "source": str(ref.served[name]),
                "created": model.manifest.created,
                "labels": len(model.manifest.labels),
                "threshold": model.manifest.threshold,
                "corrections": model.manifest.corrections,
                "data": model.manifest.data.dataset,
                "metrics": msgspec.to_builtins(model.manifest.test_metrics),
            }
            for name, model in ref.triager.models.items()
        ],
        "corrections_remembered": {
            field: len(memory) for field, memory in ref.triager.memories.items()
        },
    }
    return json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/models", models_handler)
    app.router.add_post("/api/v1/models/retrain", retrain_handler)


def add_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "retrain", help="train challengers from base data plus operators' corrections"
    )
    store_options(parser)
    parser.set_defaults(run=_retrain_command)


def _retrain_command(args: argparse.Namespace) -> int:
    settings = offline_settings(args)
    if settings is None:
        return 1

    async def run() -> tuple[RetrainResult, int]:
        async with open_store(settings) as redis:
            return await run_retrain(redis, settings)

    try:
        result, count = asyncio.run(run())
    except RetrainRefused as exc:
        print(f"triaged: retrain refused: {exc}", file=sys.stderr)
        return 1
    except RetrainFailed as exc:
        print(f"triaged: retrain failed: {exc}", file=sys.stderr)
        return 1
    print(f"retrain {result.version} from {count} corrections:")
    for name, outcome in result.metrics.items():
        print(
            f"  {name}: {outcome.version} {'PROMOTED' if outcome.promoted else 'kept champion'}"
            f" ({outcome.reason}); base accuracy {outcome.champion.base_accuracy:.4f} ->"
            f" {outcome.challenger.base_accuracy:.4f}, held-out corrections"
            f" {outcome.champion.corrections_accuracy:.4f} ->"
            f" {outcome.challenger.corrections_accuracy:.4f}"
            f" (n={outcome.challenger.corrections_n})"
        )
    if not result.metrics:
        print("  nothing to retrain: no model has two corrections yet")
    return 0
