"""Flood control: token buckets per source and per credential, counted in alerts.

A sender over its rate gets 429 with the seconds until its request would fit, while
other senders' buckets are untouched. Buckets live in this process: with several
daemons behind a load balancer each enforces the configured rate on its own share.
"""

from __future__ import annotations

import math
import time

from daemon.config import RateLimit


class TokenBucket:
    def __init__(self, limit: RateLimit, now: float):
        self.rate = limit.alerts_per_second
        self.burst = float(limit.burst)
        self.tokens = self.burst
        self.updated = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, count: int, now: float) -> float:
        """Seconds until ``count`` alerts fit (0: they fit now). A request larger than the
        burst fits once the bucket is full, so a big but rare batch is never locked out."""
        self._refill(now)
        needed = min(float(count), self.burst)
        return 0.0 if self.tokens >= needed else (needed - self.tokens) / self.rate

    def take(self, count: int) -> None:
        self.tokens -= count


class RateLimiter:
    def __init__(self, limits: dict[str, RateLimit], token_limits: dict[str, RateLimit | None]):
        self._limits = limits
        self._token_limits = token_limits
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def _buckets_for(self, source: str, identity: str | None, now: float) -> list[TokenBucket]:
        buckets = [self._bucket(source, "", self._limits.get(source), now)]
        if identity is not None:
            buckets.append(self._bucket(source, identity, self._token_limits.get(source), now))
        return [b for b in buckets if b is not None]

    def _bucket(
        self, source: str, identity: str, limit: RateLimit | None, now: float
    ) -> TokenBucket | None:
        if limit is None:
            return None
        key = (source, identity)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(limit, now)
        return bucket

    def retry_after(self, source: str, identity: str | None, count: int) -> int:
        """0 and the alerts are counted, or whole seconds to wait (at least 1)."""
        now = time.monotonic()
        buckets = self._buckets_for(source, identity, now)
        wait = max((b.wait_for(max(count, 1), now) for b in buckets), default=0.0)
        if wait > 0:
            return max(1, math.ceil(wait))
        for bucket in buckets:
            bucket.take(count)
        return 0
