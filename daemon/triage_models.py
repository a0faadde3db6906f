"""Where the daemon's models live, loading them once, and swapping in retrained ones.

Two directories: the models shipped with triaged (read-only, beside the source tree or where
pip put them) and the models directory of this deployment (``triage.models_dir``, by default
``<data_dir>/models``), where a retrain writes. Model by model, the deployment's copy is
served when it has one, so a retrained model survives upgrades of triaged; one that another
version of triaged or scikit-learn wrote (``StaleModel``) gives way to the shipped model with
a warning until the next retrain. Every load checks each artifact's hash, feature schema and
label set (``triage.classify.artifacts``); a model that fails any other way stops the daemon
from starting, since its bytes are not what this project wrote. Daemons that share a models
directory notice a promotion by another one through the manifests' modification times.
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
from triage.classify import ModelLoadError, TriageConfig, Triager
from triage.classify.artifacts import (
    LoadedModel,
    StaleModel,
    card_path,
    load_model,
    manifest_path,
    read_manifest,
)
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


def triage_config(settings: Settings) -> TriageConfig:
    section = settings.config.triage
    return TriageConfig(
        triage_queue=settings.routing.tree.root.target.group,
        group_threshold=section.group_threshold,
        ticket_sources=frozenset(section.ticket_sources),
        policy=section.priority,
        memory_similarity=section.memory_similarity,
    )


Sources = tuple[tuple[str, Path, float], ...]
"""Per model: where it is served from and that manifest's modification time."""


def _sources(settings: Settings) -> Sources:
    """Each model from the deployment's directory when it has one there, else shipped."""
    own, shipped = deployment_models_dir(settings), default_models_dir()
    found: list[tuple[str, Path, float]] = []
    for spec in SPECS:
        path = manifest_path(own, spec.name)
        source = own if path.exists() else shipped
        found.append((spec.name, source, _mtime(manifest_path(source, spec.name))))
    return tuple(found)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns / 1e9
    except FileNotFoundError:
        return 0.0


def seed_deployment_dir(settings: Settings) -> Path:
    """Give the deployment's directory every model before a retrain writes there: a copy of
    the shipped one where it has none, or one another version wrote (kept in ``stale/``
    for review). Artifact and card are copied before the manifest, which is replaced in one
    step, so a reader sees the old state or the new, never half of it."""
    own, shipped = deployment_models_dir(settings), default_models_dir()
    own.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        if manifest_path(own, spec.name).exists():
            try:
                load_model(own, spec.name, spec.feature)
                continue
            except StaleModel as exc:
                log.warning("model_stale_replaced", model=spec.name, error=str(exc))
                _set_aside(own, spec.name)
        manifest = read_manifest(shipped, spec.name)
        for file in (shipped / manifest.artifact, card_path(shipped, spec.name)):
            shutil.copyfile(file, own / file.name)
        staged = own / f".{spec.name}.manifest.json.{os.getpid()}"
        shutil.copyfile(manifest_path(shipped, spec.name), staged)
        os.replace(staged, manifest_path(own, spec.name))
    return own


def _set_aside(models_dir: Path, name: str) -> None:
    stale = models_dir / "stale"
    stale.mkdir(exist_ok=True)
    for path in models_dir.glob(f"{name}*"):
        if path.is_file():
            os.replace(path, stale / path.name)


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
    sources: Sources
    served: dict[str, Path]
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


_cache: dict[Sources, tuple[dict[str, LoadedModel], dict[str, Path]]] = {}


def _checked_models(sources: Sources) -> tuple[dict[str, LoadedModel], dict[str, Path]]:
    """The verified models as the directories hold them now, and where each came from;
    loaded once per process: they are read-only, so several apps in one process (the tests)
    share them, each with its own corrections memory."""
    cached = _cache.get(sources)
    if cached is not None:
        return cached
    shipped = default_models_dir()
    models: dict[str, LoadedModel] = {}
    served: dict[str, Path] = {}
    for spec, (name, source, _) in zip(SPECS, sources, strict=True):
        try:
            models[name] = load_model(source, name, spec.feature)
        except StaleModel as exc:
            if source == shipped:
                raise
            log.warning("model_stale_serving_shipped", model=name, error=str(exc))
            source = shipped
            models[name] = load_model(source, name, spec.feature)
        served[name] = source
    _cache.clear()
    _cache[sources] = models, served
    return models, served


def load_triager(settings: Settings, metrics: Metrics) -> TriagerRef:
    """The models to serve, checked; raises ``ModelLoadError`` naming the file that failed."""
    sources = _sources(settings)
    models, served = _checked_models(sources)
    triager = Triager(models, triage_config(settings))
    _publish(metrics, triager)
    log.info(
        "models_loaded", sources={n: str(p) for n, p in served.items()}, versions=triager.versions
    )
    return TriagerRef(triager=triager, sources=sources, served=served)


async def reload_if_changed(ref: TriagerRef, settings: Settings, metrics: Metrics) -> bool:
    """Swap in the models another daemon (or a retrain here) promoted, loaded off the event
    loop; the operators' corrections remembered so far carry over."""
    sources = _sources(settings)
    if sources == ref.sources:
        return False
    loop = asyncio.get_running_loop()
    models, served = await loop.run_in_executor(None, _checked_models, sources)
    fresh = Triager(models, triage_config(settings))
    fresh.memories = ref.triager.memories
    ref.triager, ref.sources, ref.served = fresh, sources, served
    _publish(metrics, fresh)
    log.info("models_reloaded", versions=fresh.versions)
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
