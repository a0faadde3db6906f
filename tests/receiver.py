"""A local HTTP receiver for notifications: the webhook end of delivery tests, no mocks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import Counter

import msgspec
from aiohttp import web
from aiohttp.test_utils import unused_port


class Request(msgspec.Struct, frozen=True):
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    at: float

    @property
    def event(self) -> str:
        return self.headers.get("X-Triaged-Event", "")

    def signed_with(self, secret: bytes) -> bool:
        expected = "sha256=" + hmac.new(secret, self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Triaged-Signature", ""), expected)


class Receiver:
    """An HTTP server on a loopback port that records every request and answers with
    ``status``; ``stop`` and ``start`` again on the same port model an outage."""

    def __init__(self) -> None:
        self.port = unused_port()
        self.status = 200
        self.delay: dict[str, float] = {}  # X-Triaged-Event -> seconds to wait first
        self.requests: list[Request] = []
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        body = await request.read()
        await asyncio.sleep(self.delay.get(request.headers.get("X-Triaged-Event", ""), 0.0))
        status = self.status
        self.requests.append(Request(request.path, dict(request.headers), body, status, arrived))
        return web.Response(status=status, text="ok" if status < 300 else "no_service")

    def delivered(self) -> Counter[str]:
        """Successful deliveries per idempotency key."""
        return Counter(
            r.headers["Idempotency-Key"] for r in self.requests if 200 <= r.answered < 300
        )

    def events(self) -> Counter[str]:
        """Successful deliveries per event (``opened``, ``escalated:2``, ...)."""
        return Counter(r.event for r in self.requests if 200 <= r.answered < 300)
