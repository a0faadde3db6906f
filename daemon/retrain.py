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
import multiprocessing
import secrets
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import structlog
from aiohttp import web
from redis.asyncio import Redis

from daemon import keys
from daemon.appkeys import METRICS, MODELS, REDIS, SETTINGS
from daemon.auth import require_api
from daemon.corrections import read_all
from daemon.errors import error_response, json_response
from daemon.metrics import Metrics
from daemon.offline import offline_settings, open_store, store_options
from daemon.settings import Settings
from daemon.triage_models import (
    TriagerRef,
    datasets_dir,
    reload_if_changed,
    seed_deployment_dir,
    triage_config,
)
from daemon.validation import FieldError
from triage.classify import Correction, RetrainResult, retrain

log = structlog.get_logger("triaged.retrain")

LOCK_TTL = 6 * 3600
"""A retrain that died holding the lock frees it after this long."""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RetrainRefused(Exception):
    """The retrain cannot run now; ``status`` is the HTTP answer and the message says why."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def _train(
    datasets: Path, corrections: list[Correction], target: Path, sample: float | None, config: Any
) -> RetrainResult:
    return retrain(datasets, corrections, target, config=config, sample=sample)


async def run_retrain(redis: Redis, settings: Settings) -> tuple[RetrainResult, int]:
    """Train and maybe promote; the result and how many corrections it learnt from."""
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
    try:
        records, _ = await read_all(redis)
        corrections = [r.correction for r in records]
        loop = asyncio.get_running_loop()
        target = await loop.run_in_executor(None, seed_deployment_dir, settings)
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            result = await loop.run_in_executor(
                pool,
                _train,
                datasets,
                corrections,
                target,
                settings.config.triage.retrain_sample,
                triage_config(settings),
            )
    finally:
        await redis.eval(_RELEASE, 1, keys.RETRAIN_LOCK, token)
    return result, len(corrections)


def result_view(result: RetrainResult, corrections: int) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(result)
    body["corrections"] = corrections
    return body


async def retrain_handler(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    if request.can_read_body and (await request.read()).strip() not in (b"", b"{}"):
        return error_response(
            400, "invalid retrain request", [FieldError("body", "retrain takes no parameters")]
        )
    metrics = request.app[METRICS]
    try:
        result, count = await run_retrain(request.app[REDIS], request.app[SETTINGS])
    except RetrainRefused as exc:
        return error_response(exc.status, "retrain refused", [FieldError(exc.field, str(exc))])
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
        "directory": str(ref.source),
        "models": [
            {
                "name": name,
                "version": model.manifest.version,
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
