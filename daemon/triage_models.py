"""Where the daemon's models live, loading them once, and swapping in a retrained set.

Two directories: the models shipped with triaged (read-only, beside the source tree or where
pip put them) and the models directory of this deployment (``triage.models_dir``, by default
``<data_dir>/models``), where a retrain writes. The deployment's directory is used once it
holds a complete set, so a retrained model survives upgrades of triaged; delete it to go
back to the shipped models. Every load checks each artifact's hash and feature schema
(``triage.classify.artifacts``), and a daemon refuses to start on a model that fails.
Daemons that share a models directory notice a promotion by another one through the
manifests' modification times and reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog

from daemon.config import default_models_dir
from daemon.metrics import Metrics
from daemon.settings import Settings
from triage.classify import ModelLoadError, TriageConfig, Triager, load_models
from triage.classify.artifacts import LoadedModel, manifest_path
from triage.classify.estimators import SPECS

log = structlog.get_logger("triaged.models")

T = TypeVar("T")

CATEGORY_MODELS = {"alert": "alert-category", "ticket": "ticket-category"}
"""The category model of each kind of incident (``TriageResult.kind``)."""


def deployment_models_dir(settings: Settings) -> Path:
    configured = settings.config.triage.models_dir
    if configured is None:
        return settings.data_dir / "models"
    return Path(settings.config_path).parent / configured


def datasets_dir(settings: Settings) -> Path | None:
    configured = settings.config.triage.datasets_dir
    return None if configured is None else Path(settings.config_path).parent / configured


def is_complete(models_dir: Path) -> bool:
    return all(manifest_path(models_dir, spec.name).exists() for spec in SPECS)


def triage_config(settings: Settings) -> TriageConfig:
    section = settings.config.triage
    return TriageConfig(
        triage_queue=settings.routing.tree.root.target.group,
        group_threshold=section.group_threshold,
        ticket_sources=frozenset(section.ticket_sources),
        policy=section.priority,
        memory_similarity=section.memory_similarity,
    )


def active_models_dir(settings: Settings) -> Path:
    own = deployment_models_dir(settings)
    return own if is_complete(own) else default_models_dir()


def seed_deployment_dir(settings: Settings) -> Path:
    """Make the deployment's directory a complete set (copying the shipped models into it)
    before a retrain writes there; the copy is renamed into place, never left half-done.
    Only a retrain seeds, under the retrain lock, so a staging copy found here was left by
    one that died, and goes."""
    own = deployment_models_dir(settings)
    if is_complete(own):
        return own
    own.parent.mkdir(parents=True, exist_ok=True)
    for leftover in own.parent.glob(f".{own.name}.seeding-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = own.with_name(f".{own.name}.seeding-{os.getpid()}")
    shutil.copytree(default_models_dir(), staging)
    if own.exists():
        shutil.rmtree(own)
    staging.rename(own)
    return own


def _stamp(models_dir: Path) -> tuple[float, ...]:
    return tuple(_mtime(manifest_path(models_dir, spec.name)) for spec in SPECS)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns / 1e9
    except FileNotFoundError:
        return 0.0


def _triage_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage")


@dataclass
class TriagerRef:
    """The models in service; a reload replaces ``triager`` in one assignment, so a batch
    classifies with one consistent set.

    Work on the models (classifying, remembering corrections) goes through ``run``: one
    thread, one call at a time, so the event loop never computes and a batch is never
    classified while the corrections memory it reads is being changed."""

    triager: Triager
    source: Path
    stamp: tuple[float, ...]
    _thread: ThreadPoolExecutor = field(default_factory=_triage_thread, repr=False)

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call, *args)

    def close(self) -> None:
        """Wait for the call in progress; the workers have stopped."""
        self._thread.shutdown(wait=True)

    def categories(self, kind: str | None = None) -> frozenset[str]:
        """The categories an operator may give an incident of ``kind``: what that kind's
        model knows; both kinds' when the kind is not known."""
        models = self.triager.models
        names = [CATEGORY_MODELS[kind]] if kind in CATEGORY_MODELS else CATEGORY_MODELS.values()
        return frozenset(
            label for name in names if name in models for label in models[name].classes
        )


_cache: dict[tuple[Path, tuple[float, ...]], dict[str, LoadedModel]] = {}


def _checked_models(source: Path, stamp: tuple[float, ...]) -> dict[str, LoadedModel]:
    """The verified models of a directory as it is now, loaded once per process: they are
    read-only, so several apps in one process (the tests) share them; each app still has
    its own corrections memory."""
    key = (source, stamp)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    loaded = load_models(source).models
    _cache.clear()
    _cache[key] = loaded
    return loaded


def load_triager(settings: Settings, metrics: Metrics) -> TriagerRef:
    """The active models, checked; raises ``ModelLoadError`` naming the file that failed."""
    source = active_models_dir(settings)
    stamp = _stamp(source)
    triager = Triager(_checked_models(source, stamp), triage_config(settings))
    _publish(metrics, triager)
    log.info("models_loaded", directory=str(source), versions=triager.versions)
    return TriagerRef(triager=triager, source=source, stamp=stamp)


async def reload_if_changed(ref: TriagerRef, settings: Settings, metrics: Metrics) -> bool:
    """Swap in the models another daemon (or a retrain here) promoted, loaded off the event
    loop; the operators' corrections remembered so far carry over."""
    source = active_models_dir(settings)
    stamp = _stamp(source)
    if source == ref.source and stamp == ref.stamp:
        return False
    loop = asyncio.get_running_loop()
    models = await loop.run_in_executor(None, _checked_models, source, stamp)
    fresh = Triager(models, triage_config(settings))
    fresh.memories = ref.triager.memories
    ref.triager, ref.source, ref.stamp = fresh, source, stamp
    _publish(metrics, fresh)
    log.info("models_reloaded", directory=str(source), versions=fresh.versions)
    return True


async def watch(ref: TriagerRef, settings: Settings, metrics: Metrics, stop: asyncio.Event) -> None:
    """Look for promoted models every few seconds; a set that fails its checks is logged
    and the models in service stay."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)
        try:
            await reload_if_changed(ref, settings, metrics)
        except ModelLoadError as exc:
            log.error("models_reload_refused", error=str(exc))


def _publish(metrics: Metrics, triager: Triager) -> None:
    metrics.model_info.clear()
    for name, version in triager.versions.items():
        metrics.model_info.labels(name, version).set(1)
