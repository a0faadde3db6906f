"""What commands that work on the daemon's store share, whether the daemon runs or not."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from daemon.config_types import ConfigError
from daemon.embedded_redis import EmbeddedRedis
from daemon.settings import Settings, build_settings
from daemon.store import connect


def store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="triaged config file")
    parser.add_argument("--redis-url", help="the daemon's Redis (default: its embedded one)")
    parser.add_argument("--data-dir", help="data dir of the embedded Redis")


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Redis]:
    """The daemon's Redis: its URL, the running embedded server's socket, or (when no
    daemon runs) the embedded server started on the data dir for this command."""
    embedded = None
    url = settings.redis_url or f"unix://{(settings.data_dir / 'redis.sock').resolve()}"
    redis = connect(url)
    try:
        await redis.ping()
    except (RedisConnectionError, OSError):
        await redis.aclose()
        if settings.redis_url:
            raise
        embedded = EmbeddedRedis(settings.data_dir, appendfsync=settings.config.store.appendfsync)
        redis = connect(embedded.start())
    try:
        yield redis
    finally:
        await redis.aclose()
        if embedded is not None:
            embedded.stop()


def offline_settings(args: argparse.Namespace) -> Settings | None:
    try:
        return build_settings(
            config_path=args.config, data_dir=args.data_dir, redis_url=args.redis_url
        )
    except ConfigError as exc:
        print(f"triaged: invalid configuration:\n{exc}", file=sys.stderr)
        return None
