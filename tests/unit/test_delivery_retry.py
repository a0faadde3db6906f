"""daemon.delivery.retry: backoff bounds, what is worth retrying, and the decision."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from daemon.delivery.retry import (
    Backoff,
    Cause,
    SendResult,
    Verdict,
    backoff_cap,
    backoff_delay,
    classify_http,
    classify_smtp,
    decide,
    parse_retry_after,
    transient,
)

POLICY = Backoff(initial=1.0, maximum=60.0, max_attempts=8)


# --- backoff ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "cap"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (8, 60.0), (500, 60.0)],
)
def test_cap_doubles_per_attempt_up_to_the_maximum(attempt: int, cap: float) -> None:
    assert backoff_cap(attempt, POLICY) == cap


def test_full_jitter_spans_zero_to_the_cap() -> None:
    assert backoff_delay(3, POLICY, lambda: 0.0) == 0.0
    assert backoff_delay(3, POLICY, lambda: 0.5) == 2.0
    assert backoff_delay(3, POLICY, lambda: 0.999999) == pytest.approx(4.0, abs=1e-5)


@pytest.mark.parametrize("attempt", [1, 2, 4, 7, 20])
def test_random_delays_stay_within_bounds_and_spread(attempt: int) -> None:
    rng = random.Random(attempt)
    cap = backoff_cap(attempt, POLICY)
    delays = [backoff_delay(attempt, POLICY, rng.random) for _ in range(2000)]
    assert all(0.0 <= d < cap for d in delays)
    # Full jitter, not "cap plus a little": the draws cover the low and the high end.
    assert min(delays) < cap * 0.05
    assert max(delays) > cap * 0.95
    assert sum(delays) / len(delays) == pytest.approx(cap / 2, rel=0.1)


# --- classification ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    result = classify_http(status)
    assert result.verdict is Verdict.DELIVERED
    assert result.status == status


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_timeouts_throttling_and_server_errors_are_retried(status: int) -> None:
    assert classify_http(status).verdict is Verdict.RETRY


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 422])
def test_other_4xx_are_permanent(status: int) -> None:
    result = classify_http(status, detail="invalid_payload")
    assert result.verdict is Verdict.DEAD
    assert result.reason == (
        f"HTTP {status}: invalid_payload (the receiver refused it; retrying would not help)"
    )


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_permanent_because_they_are_not_followed(status: int) -> None:
    result = classify_http(status)
    assert result.verdict is Verdict.DEAD
    assert "redirects are not followed" in result.reason


def test_retry_after_travels_with_a_retryable_answer() -> None:
    assert classify_http(429, retry_after=7.0).retry_after == 7.0


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (250, Verdict.DELIVERED),
        *[(code, Verdict.RETRY) for code in (421, 451, 452)],
        *[(code, Verdict.DEAD) for code in (535, 550, 554)],
    ],
)
def test_smtp_4xx_is_transient_and_5xx_permanent(code: int, verdict: Verdict) -> None:
    result = classify_smtp(code, "text")
    assert result.verdict is verdict
    assert result.reason == f"SMTP {code}: text"


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    later = format_datetime(datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(later, now=now) == 30.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


# --- the decision ----------------------------------------------------------------------


def test_delivered_is_done() -> None:
    decision = decide(classify_http(200), 1, POLICY, lambda: 0.5)
    assert decision.outcome is Verdict.DELIVERED
    assert decision.cause is None


def test_a_permanent_failure_dead_letters_at_the_first_attempt() -> None:
    decision = decide(classify_http(400), 1, POLICY, lambda: 0.5)
    assert decision.outcome is Verdict.DEAD
    assert decision.cause is Cause.PERMANENT
    assert decision.reason.startswith("not retryable: HTTP 400")


def test_a_transient_failure_retries_with_jittered_backoff() -> None:
    decision = decide(transient("refused"), 3, POLICY, lambda: 0.25)
    assert decision.outcome is Verdict.RETRY
    assert decision.delay == 1.0  # 0.25 of the cap 4 s
    assert decision.reason == "refused"


def test_the_last_attempt_gives_up_with_the_last_reason() -> None:
    decision = decide(classify_http(503), 8, POLICY, lambda: 0.5)
    assert decision.outcome is Verdict.DEAD
    assert decision.cause is Cause.EXHAUSTED
    assert decision.reason == "gave up after 8 attempts: HTTP 503"


def test_retry_after_lengthens_the_wait_but_never_beyond_the_maximum() -> None:
    throttled = SendResult(verdict=Verdict.RETRY, reason="HTTP 429", retry_after=30.0)
    assert decide(throttled, 1, POLICY, lambda: 0.1).delay == 30.0
    flooded = SendResult(verdict=Verdict.RETRY, reason="HTTP 429", retry_after=86400.0)
    assert decide(flooded, 1, POLICY, lambda: 0.1).delay == 60.0
