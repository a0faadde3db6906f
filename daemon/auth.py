"""Who may post and read: bearer tokens, HTTP basic, or an HMAC signature of the body.

Every comparison is constant-time and runs over all accepted values, so timing tells an
attacker neither whether nor which credential matched. A source with credentials of
its own requires one of them; otherwise the API tokens apply; with neither, it is open
(which the daemon only allows on a loopback address).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable

from aiohttp import web

from daemon.credentials import Credentials
from daemon.errors import error_response
from daemon.validation import FieldError


def _matches(presented: bytes, accepted: Iterable[bytes]) -> bool:
    matched = False
    for candidate in accepted:
        matched |= hmac.compare_digest(presented, candidate)
    return matched


def header_identity(credentials: Credentials, request: web.Request) -> str | None:
    """The identity an Authorization header proves (for per-token limits), or None."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        if _matches(value.encode(), (t.encode() for t in credentials.tokens)):
            return "token:" + hashlib.sha256(value.encode()).hexdigest()[:12]
    elif scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        pair = f"{user}\0{password}".encode()
        if _matches(pair, (f"{u}\0{p}".encode() for u, p in credentials.basic)):
            return "basic:" + user
    return None


def signature_valid(credentials: Credentials, request: web.Request, body: bytes) -> bool:
    key = credentials.hmac
    if key is None:
        return False
    presented = request.headers.get(key.header, "")
    if not presented.startswith(key.prefix):
        return False
    expected = hmac.new(key.secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(presented[len(key.prefix) :].lower().encode(), expected.encode())


def unauthorized(credentials: Credentials, problem: str) -> web.Response:
    challenges = []
    if credentials.tokens:
        challenges.append('Bearer realm="triaged"')
    if credentials.basic:
        challenges.append('Basic realm="triaged"')
    if credentials.hmac is not None:
        challenges.append(f'HMAC-SHA256 header="{credentials.hmac.header}"')
    return error_response(
        401,
        "unauthorized",
        [FieldError("Authorization", problem)],
        headers={"WWW-Authenticate": ", ".join(challenges)},
    )


def header_problem(request: web.Request) -> str:
    if "Authorization" not in request.headers:
        return "missing credentials (Authorization: Bearer <token> or Basic)"
    return "invalid credentials"


def granted_scopes(credentials: Credentials, request: web.Request) -> frozenset[str] | None:
    """The restricted scopes the request's bearer token grants, or None when the API is
    open (no credentials configured, which the daemon allows on loopback only: there is
    no identity to restrict, so nothing is hidden). Call after ``require_api``."""
    if not credentials.required:
        return None
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    presented = value.strip().encode() if scheme.lower() == "bearer" else b""
    granted: set[str] = set()
    for token, scopes in credentials.scopes.items():  # every token: constant time
        if hmac.compare_digest(presented, token.encode()):
            granted |= scopes
    return frozenset(granted)


def require_api(credentials: Credentials, request: web.Request) -> web.Response | None:
    """For the incidents API: None when the request may pass, else the 401 to send."""
    if not credentials.required or header_identity(credentials, request) is not None:
        return None
    return unauthorized(credentials, header_problem(request))
