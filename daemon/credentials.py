"""Resolved credentials of a source or of the API: plain values, no HTTP, so settings can
hold them without importing the web layer."""

from __future__ import annotations

import msgspec


class HmacKey(msgspec.Struct, frozen=True):
    secret: bytes
    header: str
    prefix: str


class Credentials(msgspec.Struct, frozen=True):
    tokens: frozenset[str] = frozenset()
    basic: frozenset[tuple[str, str]] = frozenset()
    hmac: HmacKey | None = None
    scopes: dict[str, frozenset[str]] = {}  # token -> restricted scopes it may read

    @property
    def required(self) -> bool:
        return bool(self.tokens or self.basic or self.hmac)
