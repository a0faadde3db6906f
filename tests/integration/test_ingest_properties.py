"""Property tests through the real receive handler and the real Redis, per source.

tests/unit/test_source_properties.py drives the adapters directly with tens of thousands
of bodies; this file posts the same kinds of bodies (random JSON documents, mutated
valid vendor payloads, raw bytes) over HTTP to the real aiohttp app and checks what the
issue asks of the whole path: never a 5xx, every refusal a 4xx JSON error naming its
fields, and nothing stored of a refused request (the keyspace and the ingest stream's
last id are unchanged). The app runs without workers while bodies are posted, so nothing
else writes to Redis; afterwards workers process everything that was accepted and the
dead-letter stream must stay empty: no accepted body poisons the pipeline.

About 200 requests per source (2,000 in all, beside the 20,000 parses of the unit file),
sized to keep this file under 20 seconds: CI runs the integration tests twice.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon import keys
from daemon.app import create_app
from daemon.settings import Settings
from tests.conftest import SettingsFactory
from tests.e2e.daemon_process import free_port
from tests.unit.source_support import adapter
from tests.unit.test_source_properties import (
    SEEDS,
    SOURCES,
    _encode,
    _mutate,
    field_names,
    json_documents,
    mutations,
)

UNLIMITED = "ingest:\n  rate: {alerts_per_second: 1000000000, burst: 1000000000}\n"
PROPERTY = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
ALLOWED = {200, 202, 400, 413}


class LiveApp:
    """The app served on a loopback port by an event loop in a thread, so hypothesis's
    synchronous tests can post to it over a real socket."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner = web.AppRunner(app)

    def __enter__(self) -> LiveApp:
        self.thread.start()
        self._run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)


class Poster:
    """One keep-alive connection; a connection the server closed is reopened."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.connection.request(
                    "POST", path, body=body, headers={"Content-Type": content_type}
                )
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


def path_of(source: str) -> str:
    return "/api/v2/alerts" if source == "prometheus" else f"/api/v1/alerts/{source}"


def content_types(source: str) -> list[str]:
    types = sorted(adapter(source).content_types)
    return [f"{t}; charset=utf-8" if t == "text/plain" else t for t in types]


class Ingest:
    """Posts bodies for one source and checks every answer against Redis."""

    def __init__(self, live: LiveApp, store: redis.Redis, source: str) -> None:
        self.poster = Poster(live.port)
        self.store = store
        self.source = source
        self.accepted = 0
        self.refused = 0

    def snapshot(self) -> tuple[int, str]:
        try:
            last = self.store.xinfo_stream(keys.INGEST_STREAM)["last-generated-id"]
        except redis.ResponseError:
            last = b"0-0"
        return int(self.store.dbsize()), last.decode() if isinstance(last, bytes) else str(last)

    def check(self, body: bytes, content_type: str) -> None:
        before = self.snapshot()
        status, raw = self.poster.post(path_of(self.source), body, content_type)
        assert status in ALLOWED, (status, raw[:500], body[:500])
        answer = json.loads(raw)
        if status >= 400:
            self.refused += 1
            assert answer["status"] == status, answer
            assert answer["errors"], answer
            assert all(e["field"] and e["message"] for e in answer["errors"]), answer
            assert self.snapshot() == before, f"a refused request left data: {body[:300]!r}"
        else:
            self.accepted += 1


@pytest.fixture
def ingest_settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(UNLIMITED)


@pytest.fixture
def live(ingest_settings: Settings) -> Iterator[LiveApp]:
    with LiveApp(create_app(ingest_settings, run_workers=False)) as app:
        yield app


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def drained(store: redis.Redis) -> bool:
    last = store.xinfo_stream(keys.INGEST_STREAM)["last-generated-id"]
    groups = store.xinfo_groups(keys.INGEST_STREAM)
    return bool(groups) and all(
        g["pending"] == 0 and g["last-delivered-id"] == last for g in groups
    )


def process_everything_accepted(ingest_settings: Settings, store: redis.Redis) -> None:
    """Workers take every accepted entry; none may end in the dead-letter stream."""
    if not store.exists(keys.INGEST_STREAM):
        return
    with LiveApp(create_app(ingest_settings)):
        deadline = time.monotonic() + 30
        while not drained(store):
            assert time.monotonic() < deadline, "the pipeline did not drain the stream"
            time.sleep(0.05)
    assert store.xlen(keys.DEAD_STREAM) == 0, store.xrange(keys.DEAD_STREAM, count=3)


@pytest.mark.parametrize("source", SOURCES)
def test_mutated_payloads_and_random_documents_through_the_handler(
    source: str, live: LiveApp, store: redis.Redis, ingest_settings: Settings
) -> None:
    ingest = Ingest(live, store, source)
    types = st.sampled_from(content_types(source))

    @settings(PROPERTY, max_examples=150)
    @given(seed=st.integers(0, 2**16), changes=mutations, content_type=types)
    def mutated(seed: int, changes: list[tuple[list[int], int, Any]], content_type: str) -> None:
        document = SEEDS[source][seed % len(SEEDS[source])]
        for steps, op, replacement in changes:
            document = _mutate(document, steps, op, replacement)
        ingest.check(_encode(document), content_type)

    @settings(PROPERTY, max_examples=50)
    @given(
        body=json_documents(field_names, 12).map(_encode) | st.binary(max_size=300),
        content_type=types,
    )
    def random_bodies(body: bytes, content_type: str) -> None:
        ingest.check(body, content_type)

    mutated()
    random_bodies()
    assert ingest.refused > 0, "the bodies include malformed ones"
    assert ingest.accepted > 0, "the mutations leave some bodies valid"
    process_everything_accepted(ingest_settings, store)
