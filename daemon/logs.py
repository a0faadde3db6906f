"""structlog setup: JSON lines in production, readable columns on a terminal.

Request- and batch-scoped ids (``source``, ``incident_id``, ``fingerprint``) are bound
through contextvars so every line of a unit of work carries them.
"""

from __future__ import annotations

import logging
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit

import structlog

HIDDEN = "***"


def configure(fmt: str = "auto", level: str = "info") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def redact_url(url: str) -> str:
    """``url`` fit for a log line: a password in it (``redis://:pw@host``, or redis-py's
    ``?password=pw``) replaced by ``***``, so a store URL can be logged where it is used."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    in_query = any(name == "password" for name, _ in query)
    if parts.password is None and not in_query:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{HIDDEN}@{netloc.rpartition('@')[2]}"
    text = f"{parts.scheme}://{netloc}{parts.path}"
    if query:
        hidden = [(name, HIDDEN if name == "password" else value) for name, value in query]
        text += "?" + urlencode(hidden, safe="*")
    return text + (f"#{parts.fragment}" if parts.fragment else "")
