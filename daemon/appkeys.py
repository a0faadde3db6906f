"""Typed keys for what the aiohttp application holds."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from daemon.correlation_stage import TopologyRef
from daemon.enqueue import StreamAppender
from daemon.metrics import Metrics
from daemon.pipeline import Worker
from daemon.ratelimit import RateLimiter
from daemon.routing_stage import RoutingRef
from daemon.settings import Settings
from daemon.triage_models import TriagerRef

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
REDIS = web.AppKey("redis", Redis)
APPENDER = web.AppKey("appender", StreamAppender)
WORKERS = web.AppKey("workers", list[Worker])
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
ROUTING = web.AppKey("routing", RoutingRef)
MODELS = web.AppKey("models", TriagerRef)
TOPOLOGY = web.AppKey("topology", TopologyRef)
