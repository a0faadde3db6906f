"""The traffic mix: which kind of alert each slot of a request carries.

A mix such as ``new=0.7,repeat=0.2,resolve=0.1`` is scheduled with smooth weighted
round-robin rather than by drawing random numbers: over any prefix of n slots every kind
has been chosen within one of n times its share, so even a short run carries the mix it
was asked for, and choosing costs a few additions per slot.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass


class Kind(enum.Enum):
    """What one alert slot of a request is."""

    NEW = "new"  # a label set never sent before (a new fingerprint)
    REPEAT = "repeat"  # a re-send of an alert already sent firing (Alertmanager's resend)
    RESOLVE = "resolve"  # the resolution of an alert already sent firing


@dataclass(frozen=True)
class Mix:
    """Shares of each kind, normalised to sum to 1."""

    new: float = 1.0
    repeat: float = 0.0
    resolve: float = 0.0

    def __post_init__(self) -> None:
        shares = (self.new, self.repeat, self.resolve)
        if any(share < 0 for share in shares) or sum(shares) <= 0:
            raise ValueError("mix shares must be non-negative and not all zero")

    @classmethod
    def parse(cls, text: str) -> Mix:
        """Parse ``new=0.7,repeat=0.2,resolve=0.1``; omitted kinds get 0, shares are
        normalised (so ``new=7,repeat=3`` is fine)."""
        shares = {kind.value: 0.0 for kind in Kind}
        for part in text.split(","):
            name, sep, value = part.strip().partition("=")
            if not sep or name.strip() not in shares:
                raise ValueError(f"bad mix item {part!r}: expected new=, repeat= or resolve=")
            try:
                shares[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"bad share in mix item {part!r}") from None
        total = sum(shares.values())
        if total <= 0 or any(share < 0 for share in shares.values()):
            raise ValueError("mix shares must be non-negative and not all zero")
        return cls(**{name: share / total for name, share in shares.items()})

    def share(self, kind: Kind) -> float:
        return {Kind.NEW: self.new, Kind.REPEAT: self.repeat, Kind.RESOLVE: self.resolve}[kind]

    def __str__(self) -> str:
        return ",".join(f"{kind.value}={self.share(kind):g}" for kind in Kind)


class MixScheduler:
    """Smooth weighted round-robin over the kinds of a :class:`Mix`.

    Each step adds every kind's share to its credit, picks the kind with the most credit
    and takes 1 from it. Credits stay bounded, which is what keeps the counts within one
    of their targets.
    """

    def __init__(self, mix: Mix) -> None:
        self._kinds = [kind for kind in Kind if mix.share(kind) > 0]
        self._shares = [mix.share(kind) for kind in self._kinds]
        self._credit = [0.0] * len(self._kinds)

    def next(self) -> Kind:
        best = 0
        for i, share in enumerate(self._shares):
            self._credit[i] += share
            if self._credit[i] > self._credit[best]:
                best = i
        self._credit[best] -= 1.0
        return self._kinds[best]

    def __iter__(self) -> Iterator[Kind]:
        while True:
            yield self.next()
