"""The common front of the JSON APIs: API credentials, content type, typed body."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from daemon.appkeys import SETTINGS
from daemon.auth import require_api
from daemon.errors import error_response
from daemon.sources.common import PayloadError, decode
from daemon.validation import FieldError

T = TypeVar("T")


async def read_api_body(request: web.Request, type_: type[T], title: str) -> T | web.Response:
    """The decoded body, or the answer refusing the request (401, 415, or 400 naming
    every bad field under ``title``)."""
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    if request.content_type != "application/json":
        return error_response(
            415, "unsupported content type", [FieldError("Content-Type", "send application/json")]
        )
    try:
        return decode(await request.read(), type_)
    except PayloadError as exc:
        return error_response(400, title, exc.errors)
