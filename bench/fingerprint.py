"""Alertmanager-compatible alert fingerprints, written for the load generator.

Alertmanager names an alert by FNV-1a-64 over its label set, sorted by label name, with
every name and every value followed by the byte 0xFF (a byte that never occurs in UTF-8),
printed as 16 lower-case hex digits. The daemon keeps the fingerprint an Alertmanager sends,
so a "repeat" or "resolve" in the benchmark only lands on the right alert if the generator
computes exactly the value Alertmanager would.

The generator hashes one never-seen label set per new alert, so :class:`PrefixedHasher`
lets it hash the constant leading labels once and only the varying tail per alert (FNV-1a
is a left fold, so the state after a common prefix can be reused).
"""

from __future__ import annotations

from collections.abc import Mapping

FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF
SEPARATOR = b"\xff"


def fnv1a64(data: bytes, state: int = FNV64_OFFSET) -> int:
    """FNV-1a-64 of ``data``, continuing from ``state`` (the offset basis by default)."""
    for byte in data:
        state = ((state ^ byte) * FNV64_PRIME) & _MASK64
    return state


def label_bytes(labels: Mapping[str, str]) -> bytes:
    """The byte string Alertmanager hashes: sorted ``name 0xFF value 0xFF`` pairs."""
    parts: list[bytes] = []
    for name in sorted(labels):
        parts += (name.encode(), SEPARATOR, labels[name].encode(), SEPARATOR)
    return b"".join(parts)


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set as 16 lower-case hex digits."""
    return f"{fnv1a64(label_bytes(labels)):016x}"


class PrefixedHasher:
    """Fingerprints of label sets that share their leading (by sorted name) labels.

    ``prefix`` holds the labels that sort before every varying label; ``tail_names`` lists
    the varying label names in sorted order, each of which must sort after every prefix name.
    """

    def __init__(self, prefix: Mapping[str, str], tail_names: tuple[str, ...]) -> None:
        if list(tail_names) != sorted(tail_names):
            raise ValueError("tail_names must be sorted")
        if prefix and tail_names and max(prefix) >= tail_names[0]:
            raise ValueError("every prefix label must sort before the tail labels")
        self._state = fnv1a64(label_bytes(prefix))
        self._tail_names = [name.encode() + SEPARATOR for name in tail_names]

    def fingerprint(self, *tail_values: str) -> str:
        """Fingerprint of the prefix labels plus the tail labels with these values."""
        if len(tail_values) != len(self._tail_names):
            raise ValueError("one value per tail label is required")
        tail = b"".join(
            name + value.encode() + SEPARATOR
            for name, value in zip(self._tail_names, tail_values, strict=True)
        )
        return f"{fnv1a64(tail, self._state):016x}"
