"""Operators' corrections in the real Redis, and retraining from them in a real training
process: the corrections feed, the lock, a retrain with nothing to learn, a training that
fails, and one cancelled half-way."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon import corrections, keys
from daemon.app import create_app
from daemon.commit import Commit
from daemon.config import default_models_dir
from daemon.corrections import READ_COUNT, CorrectionRecord, CorrectionsFeed
from daemon.metrics import Metrics
from daemon.retrain import run_retrain
from daemon.settings import Settings
from daemon.triage_models import deployment_models_dir, load_triager
from tests.conftest import DATASETS, SettingsFactory
from tests.waiting import eventually
from triage.classify import Correction, TriageInput
from triage.classify.artifacts import read_manifest


async def reassigned(redis: Redis, count: int) -> None:
    """``count`` operators' reassignments of ledgerd incidents, as the API records them."""
    commit = Commit()
    for n in range(count):
        item = TriageInput(
            title=f"ledgerd settlement batches fail on node-{n}",
            labels={"alertname": "LedgerdSettlementFailed", "job": "ledgerd"},
            source="alertmanager",
            severity="warning",
        )
        corrections.queue(
            commit,
            CorrectionRecord(
                incident_id=f"INC-{n}",
                actor="dana",
                at=0.0,
                action="reassign",
                correction=Correction(item=item, group="payments-sre"),
            ),
        )
    assert await commit.apply(redis)


@pytest.fixture
def retrain_settings(make_settings: SettingsFactory, tmp_path: Path) -> Callable[..., Settings]:
    """Settings whose base data is ``datasets``, with a data directory of the test's own."""

    def factory(datasets: Path, sample: float | None = None) -> Settings:
        yaml = f"triage:\n  datasets_dir: {datasets}\n"
        if sample is not None:
            yaml += f"  retrain_sample: {sample}\n"
        return make_settings(yaml, data_dir=str(tmp_path / "state"))

    return factory


async def test_a_poll_takes_in_every_correction_waiting_however_many(
    make_settings: SettingsFactory, aredis: Redis
) -> None:
    models = load_triager(make_settings(), Metrics())
    feed = CorrectionsFeed(aredis, models)
    try:
        assert await feed.catch_up() == 0
        await reassigned(aredis, READ_COUNT + 1)
        assert await feed.poll() == READ_COUNT + 1, "all of them count for the next batch"
        assert len(models.triager.memories["group"]) == READ_COUNT + 1
        assert await feed.poll() == 0
    finally:
        models.close()


async def test_a_retrain_with_nothing_to_learn_leaves_the_models_directory_alone(
    retrain_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    settings = retrain_settings(tmp_path / "data")
    async with TestClient(TestServer(create_app(settings, run_workers=False))) as client:
        response = await client.post("/api/v1/models/retrain")
        assert response.status == 200, await response.text()
        body = await response.json()
        assert (body["promoted"], body["metrics"], body["corrections"]) == (False, {}, 0)
        # A seeded copy would outrank the shipped models from now on, upgrades included.
        assert not deployment_models_dir(settings).exists()
        listed = await (await client.get("/api/v1/models")).json()
        assert {m["source"] for m in listed["models"]} == {str(default_models_dir())}


async def test_a_training_that_fails_is_a_500_naming_why_and_frees_the_lock(
    retrain_settings: Callable[..., Settings], aredis: Redis, tmp_path: Path
) -> None:
    empty = tmp_path / "no-datasets-here"
    empty.mkdir()
    await reassigned(aredis, 2)
    settings = retrain_settings(empty)
    async with TestClient(TestServer(create_app(settings, run_workers=False))) as client:
        for _attempt in range(2):  # the second is not refused as "already running"
            response = await client.post("/api/v1/models/retrain")
            assert response.status == 500
            body = await response.json()
            assert body["error"] == "retrain failed"
            [error] = body["errors"]
            assert error["field"] == "retrain"
            assert str(empty) in error["message"], error["message"]
        assert not await aredis.exists(keys.RETRAIN_LOCK)
        metrics = await (await client.get("/metrics")).text()
        assert 'triaged_model_retrains_total{result="failed"} 2.0' in metrics
        assert (await client.get("/healthz")).status == 200


@pytest.mark.dataset
@pytest.mark.skipif(not DATASETS.is_dir(), reason=f"shared datasets not found at {DATASETS}")
async def test_a_cancelled_retrain_kills_its_training_and_frees_the_lock(
    retrain_settings: Callable[..., Settings], aredis: Redis
) -> None:
    await reassigned(aredis, 4)
    settings = retrain_settings(DATASETS, sample=0.05)
    shipped = read_manifest(default_models_dir(), "resolver-group").version
    task = asyncio.create_task(run_retrain(aredis, settings))

    async def training() -> list[multiprocessing.process.BaseProcess] | None:
        return multiprocessing.active_children() or None

    [child] = await eventually(training, what="the training process")
    ttl = await aredis.ttl(keys.RETRAIN_LOCK)
    assert 0 < ttl <= 60, "a daemon dying now must not block retrains for long"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not child.is_alive()
    assert multiprocessing.active_children() == []
    assert not await aredis.exists(keys.RETRAIN_LOCK)
    own = deployment_models_dir(settings)
    assert not (own / "challengers").exists(), "the cancelled training went on to the end"
    assert read_manifest(own, "resolver-group").version == shipped
