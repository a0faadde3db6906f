"""Hot reload of the routing file: ``POST /api/v1/routing/reload`` or SIGHUP.

A new table replaces the one in service in a single assignment, and only after it
compiled: an invalid file is reported (file, line, field) and the old rules keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import structlog
from aiohttp import web

from daemon.appkeys import METRICS, ROUTING, SETTINGS
from daemon.auth import require_api
from daemon.config_types import ConfigError
from daemon.errors import error_response, json_response
from daemon.settings import routing_table
from daemon.validation import FieldError

log = structlog.get_logger("triaged.reload")


def reload_routing(app: web.Application) -> list[str]:
    """Swap in the routing file as it is now; returns the problems (empty: reloaded)."""
    settings = app[SETTINGS]
    metrics = app[METRICS]
    try:
        table = routing_table(settings.config, Path(settings.config_path))
    except ConfigError as exc:
        metrics.reloads.labels("failed").inc()
        log.error("routing_reload_failed", problems=exc.problems)
        return exc.problems
    app[ROUTING].table = table
    metrics.reloads.labels("success").inc()
    log.info("routing_reloaded", routes=len(table.tree.route_keys))
    return []


async def reload_handler(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    problems = reload_routing(request.app)
    if problems:
        return error_response(
            400,
            "invalid routing; the rules in service are unchanged",
            [FieldError("routing", p) for p in problems],
        )
    return json_response(
        {"reloaded": True, "routes": list(request.app[ROUTING].table.tree.route_keys)}
    )


async def on_sighup(app: web.Application) -> None:
    """Installed at startup; SIGHUP reloads like the API does (problems go to the log)."""
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_routing, app)
