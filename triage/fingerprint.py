"""Alert fingerprints compatible with Prometheus and Alertmanager.

Alertmanager identifies an alert by FNV-1a-64 over its sorted label names and values,
each followed by the byte 0xFF (which cannot occur in UTF-8), printed as 16 hex digits.
Computing the same value for alerts Prometheus posts directly means an alert that reaches
triaged both ways is one alert, not two.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

_OFFSET64 = 14695981039346656037
_PRIME64 = 1099511628211
_MASK64 = (1 << 64) - 1
_SEPARATOR = b"\xff"


def fnv1a64(data: bytes) -> int:
    value = _OFFSET64
    for byte in data:
        value = ((value ^ byte) * _PRIME64) & _MASK64
    return value


@lru_cache(maxsize=65536)
def _fingerprint_of(items: tuple[tuple[str, str], ...]) -> str:
    parts: list[bytes] = []
    for name, value in items:
        parts += (name.encode(), _SEPARATOR, value.encode(), _SEPARATOR)
    return f"{fnv1a64(b''.join(parts)):016x}"


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set.

    Senders repeat the same label sets every evaluation interval, so results are cached.
    """
    return _fingerprint_of(tuple(sorted(labels.items())))


def key_fingerprint(scope: str, dedup_key: str) -> str:
    """Fingerprint for senders that name their own dedup key, scoped so keys of
    different senders or routing keys never collide with each other or with label sets.

    The bytes hashed are ``dedup``, the scope and the key, the first two each followed by
    0xFF. A label set's bytes are an even number of 0xFF-terminated parts; a non-empty key
    ends in UTF-8, never 0xFF, so it cannot be one. An empty key would leave exactly the
    bytes of the label set ``{"dedup": scope}``, so it is hashed as one more 0xFF instead:
    three terminated parts, an odd number, which no label set has and no other key gives.
    """
    key = dedup_key.encode() if dedup_key else _SEPARATOR
    return f"{fnv1a64(b'dedup' + _SEPARATOR + scope.encode() + _SEPARATOR + key):016x}"
