"""Durations as operators write them in configuration: ``90s``, ``1.5h``, ``1h30m``, ``2d``.

One number-and-unit pair is what the rest of triaged's configuration accepts; several pairs,
largest unit first, is the Prometheus spelling. Both work here so that any duration an
operator copies from either place means the same thing. Values are seconds because the core
measures time in UTC epoch seconds.
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_SYNTAX = re.compile("".join(rf"(?:(?P<{unit}>\d+(?:\.\d+)?){unit})?" for unit in _UNIT_SECONDS))


def parse_duration(text: str) -> float:
    """Seconds in ``text``; each unit at most once, largest first."""
    found = _SYNTAX.fullmatch(text)
    if not text or found is None:
        raise ValueError(
            f"invalid duration {text!r}: use numbers with units w, d, h, m, s or ms, "
            "largest first, as in 90s, 1.5h or 1h30m"
        )
    return sum(float(n) * _UNIT_SECONDS[unit] for unit, n in found.groupdict().items() if n)
