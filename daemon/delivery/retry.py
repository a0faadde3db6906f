"""Retry decisions: is a failed send worth repeating, and when.

Pure functions with the random source injected, so tests pin the jitter. Every result
carries a reason in words, which lands on the incident timeline and in the dead-letter
entry: an operator reading "HTTP 404: retrying would not help" knows what to fix.

Backoff is exponential with full jitter (attempt n waits uniformly in
[0, min(max, initial * 2^(n-1))]): after an outage, the senders' retries spread over the
whole window instead of arriving in synchronised waves at the recovering receiver.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import msgspec


class Verdict(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one send attempt amounted to, as the channel saw it."""

    verdict: Verdict
    reason: str
    status: int | None = None
    retry_after: float | None = None


class Backoff(msgspec.Struct, frozen=True, kw_only=True):
    initial: float
    maximum: float
    max_attempts: int


class Cause(enum.StrEnum):
    """Why a notification was dead-lettered (a bounded metric label)."""

    PERMANENT = "permanent"
    EXHAUSTED = "exhausted"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNDECODABLE = "undecodable"
    CRASHED = "crashed"


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What to do after an attempt: done, retry after ``delay`` seconds, or dead-letter."""

    outcome: Verdict
    reason: str
    delay: float | None = None
    cause: Cause | None = None


def backoff_cap(attempt: int, policy: Backoff) -> float:
    """The longest wait after failed attempt ``attempt`` (1-based)."""
    exponent = min(max(attempt - 1, 0), 64)  # 2^64 * any sane initial exceeds any max
    return min(policy.maximum, policy.initial * 2.0**exponent)


def backoff_delay(attempt: int, policy: Backoff, rand: Callable[[], float]) -> float:
    """Full jitter: ``rand()`` in [0, 1) times the cap."""
    return rand() * backoff_cap(attempt, policy)


def decide(
    result: SendResult, attempt: int, policy: Backoff, rand: Callable[[], float]
) -> Decision:
    if result.verdict is Verdict.DELIVERED:
        return Decision(outcome=Verdict.DELIVERED, reason=result.reason)
    if result.verdict is Verdict.DEAD:
        return Decision(
            outcome=Verdict.DEAD, reason=f"not retryable: {result.reason}", cause=Cause.PERMANENT
        )
    if attempt >= policy.max_attempts:
        return Decision(
            outcome=Verdict.DEAD,
            reason=f"gave up after {attempt} attempts: {result.reason}",
            cause=Cause.EXHAUSTED,
        )
    delay = backoff_delay(attempt, policy, rand)
    if result.retry_after is not None:
        # Honour the receiver's Retry-After, but never beyond the channel's own maximum:
        # a receiver must not be able to park a page for a day.
        delay = max(delay, min(result.retry_after, policy.maximum))
    return Decision(outcome=Verdict.RETRY, reason=result.reason, delay=delay)


_RETRYABLE_4XX = frozenset({408, 425, 429})


def classify_http(status: int, *, detail: str = "", retry_after: float | None = None) -> SendResult:
    """2xx delivered; 408, 425, 429 and 5xx retried; every other answer is permanent.

    Redirects count as permanent because they are not followed: re-POSTing a page to
    wherever a receiver points would leak it, and a moved endpoint is a config fix.
    """
    text = f"HTTP {status}" + (f": {detail}" if detail else "")
    if 200 <= status < 300:
        return SendResult(verdict=Verdict.DELIVERED, reason=text, status=status)
    if status in _RETRYABLE_4XX or 500 <= status < 600:
        return SendResult(
            verdict=Verdict.RETRY, reason=text, status=status, retry_after=retry_after
        )
    if 300 <= status < 400:
        why = "redirects are not followed; configure the final URL"
    elif 400 <= status < 500:
        why = "the receiver refused it; retrying would not help"
    else:
        why = "not a valid HTTP status"
    return SendResult(verdict=Verdict.DEAD, reason=f"{text} ({why})", status=status)


def classify_smtp(code: int, message: str) -> SendResult:
    """SMTP's own split: 4xx is a transient failure, 5xx a permanent one."""
    text = f"SMTP {code}" + (f": {message}" if message else "")
    if 200 <= code < 300:
        return SendResult(verdict=Verdict.DELIVERED, reason=text, status=code)
    if 500 <= code < 600:
        return SendResult(verdict=Verdict.DEAD, reason=text, status=code)
    return SendResult(verdict=Verdict.RETRY, reason=text, status=code)


def transient(reason: str) -> SendResult:
    """A failure with no answer from the receiver (refused, reset, timed out)."""
    return SendResult(verdict=Verdict.RETRY, reason=reason)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
