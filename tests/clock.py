"""A clock the test moves by hand, injected as ``Settings.clock``."""

from __future__ import annotations


class ManualClock:
    """Epoch seconds that only change when the test says so."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now
