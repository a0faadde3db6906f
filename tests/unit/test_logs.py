"""daemon.logs.redact_url: a store URL is logged without its password."""

from __future__ import annotations

import pytest

from daemon.logs import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@db:6379/0", "redis://:***@db:6379/0"),
        ("redis://app:s3cret@db:6379/0", "redis://app:***@db:6379/0"),
        ("rediss://app:p%40ss@db:6380/1", "rediss://app:***@db:6380/1"),
        ("unix:///run/redis.sock?db=0&password=s3cret", "unix:///run/redis.sock?db=0&password=***"),
        ("unix://:s3cret@/run/redis.sock", "unix://:***@/run/redis.sock"),
    ],
)
def test_passwords_are_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url", ["redis://db:6379/0", "unix:///run/redis.sock", "redis://app@db:6379/0?db=2"]
)
def test_urls_without_a_password_are_unchanged(url: str) -> None:
    assert redact_url(url) == url
