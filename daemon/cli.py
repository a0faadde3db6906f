"""The ``triaged`` command: ``serve`` runs the daemon, ``config check`` validates config."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Sequence

import structlog
from aiohttp import web

from daemon import history_cli, logs, models_cli, retrain, route_cli
from daemon.config_types import ConfigError, seconds
from daemon.settings import Settings, build_settings, exposure_problem

log = structlog.get_logger("triaged")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    code: int = args.run(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triaged", description=__doc__)
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the daemon")
    serve.add_argument("--config", help="YAML file (default: the shipped config/triaged.yaml)")
    serve.add_argument("--host", help="address to listen on (default from config: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default from config: 9187)")
    serve.add_argument("--data-dir", help="embedded Redis data directory (default: ./triaged-data)")
    serve.add_argument("--redis-url", help="use this Redis instead of the embedded one")
    serve.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback address without auth tokens"
    )
    serve.set_defaults(run=_serve)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a configuration file and exit")
    check.add_argument("--config", help="YAML file (default: the shipped config/triaged.yaml)")
    check.set_defaults(run=_config_check)
    route_cli.add_commands(commands)
    models_cli.add_commands(commands)
    history_cli.add_commands(commands)
    retrain.add_commands(commands)
    return parser


def _settings(args: argparse.Namespace) -> Settings | None:
    try:
        return build_settings(
            config_path=args.config,
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            data_dir=getattr(args, "data_dir", None),
            redis_url=getattr(args, "redis_url", None),
            insecure=getattr(args, "insecure", False),
        )
    except ConfigError as exc:
        print(f"triaged: invalid configuration:\n{exc}", file=sys.stderr)
        return None


def _config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings is None:
        return 1
    print(f"{settings.config_path}: ok")
    return 0


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings is None:
        return 2
    logs.configure(settings.config.logging.format, settings.config.logging.level)
    problem = exposure_problem(settings)
    if problem is not None:
        print(f"triaged: {problem}", file=sys.stderr)
        return 2
    from daemon.app import create_app  # imported late: `config check` stays light
    from triage.classify import ModelLoadError

    try:
        app = create_app(settings)
    except ModelLoadError as exc:
        print(f"triaged: refusing to start: {exc}", file=sys.stderr)
        return 2
    loop = _new_loop()
    log.info(
        "starting",
        host=settings.host,
        port=settings.port,
        config=settings.config_path,
        store=logs.redact_url(settings.redis_url)
        if settings.redis_url
        else f"embedded ({settings.data_dir})",
    )
    _tune_gc()
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_timeout=seconds(settings.config.server.shutdown_timeout),
        print=None,
        access_log=None,
        loop=loop,
    )
    log.info("stopped")
    return 0


GC_YOUNG_THRESHOLD = 10_000


def _tune_gc() -> None:
    """The pipeline folds thousands of short-lived values per batch; with the default
    thresholds the cycle collector ran every few hundred allocations and, through full
    collections over the whole heap, took close to half the daemon's CPU under load.
    Everything allocated at start-up (modules, the app, compiled rules) is frozen out of
    the collector, and young collections run every 10,000 allocations instead of 700
    (refcounting still frees nearly everything at once; only cycles wait longer)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
