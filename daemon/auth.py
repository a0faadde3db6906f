"""Bearer-token checks, in constant time, with the challenge header 401 requires."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from aiohttp import web

from daemon.errors import error_response
from daemon.validation import FieldError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="triaged"'}


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_matches(presented: str, accepted: Iterable[str]) -> bool:
    """Compare against every accepted token so timing says nothing about which matched."""
    matched = False
    for token in accepted:
        matched |= hmac.compare_digest(presented.encode(), token.encode())
    return matched


def unauthorized(accepted: frozenset[str], request: web.Request) -> web.Response | None:
    """None when the request may pass; else the 401 answer to send."""
    if not accepted:
        return None
    presented = bearer_token(request)
    if presented is None:
        problem = "missing bearer token (Authorization: Bearer <token>)"
    elif not token_matches(presented, accepted):
        problem = "invalid bearer token"
    else:
        return None
    return error_response(
        401, "unauthorized", [FieldError("Authorization", problem)], headers=_CHALLENGE
    )
