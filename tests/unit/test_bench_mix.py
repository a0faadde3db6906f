"""The traffic mix and the bodies built from it."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest

from bench.fingerprint import fingerprint
from bench.mix import Kind, Mix, MixScheduler
from bench.payloads import PayloadFactory, rfc3339

NOW = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z


def test_parse_normalises_and_defaults_missing_kinds_to_zero() -> None:
    mix = Mix.parse("new=7, repeat=3")
    assert (mix.new, mix.repeat, mix.resolve) == pytest.approx((0.7, 0.3, 0.0))
    assert str(Mix.parse("new=0.7,repeat=0.2,resolve=0.1")) == "new=0.7,repeat=0.2,resolve=0.1"


@pytest.mark.parametrize("text", ["new", "old=1", "new=x", "new=0", "new=-1,repeat=2"])
def test_parse_rejects_bad_mixes(text: str) -> None:
    with pytest.raises(ValueError, match="mix"):
        Mix.parse(text)


def test_every_prefix_of_the_schedule_is_within_one_of_its_target() -> None:
    mix = Mix.parse("new=0.7,repeat=0.2,resolve=0.1")
    scheduler = MixScheduler(mix)
    counts: Counter[Kind] = Counter()
    for n in range(1, 5001):
        counts[scheduler.next()] += 1
        for kind in Kind:
            assert abs(counts[kind] - n * mix.share(kind)) <= 1.0


def test_the_schedule_interleaves_rather_than_runs_in_blocks() -> None:
    scheduler = MixScheduler(Mix.parse("new=0.5,resolve=0.5"))
    kinds = [scheduler.next() for _ in range(6)]
    assert kinds == [Kind.NEW, Kind.RESOLVE] * 3


def test_rfc3339_has_milliseconds_and_utc() -> None:
    assert rfc3339(NOW) == "2023-11-14T22:13:20.250Z"


def _alerts(body: bytes) -> list[dict[str, object]]:
    payload = msgspec.json.decode(body)
    assert payload["version"] == "4"
    alerts: list[dict[str, object]] = payload["alerts"]
    return alerts


def test_bodies_are_valid_webhooks_with_alertmanager_fingerprints() -> None:
    factory = PayloadFactory(run_id="r1", mix=Mix(), services=3, seed=7)
    batch = factory.build(4, NOW)
    alerts = _alerts(batch.body)
    assert len(alerts) == 4
    for alert in alerts:
        labels = alert["labels"]
        assert isinstance(labels, dict)
        assert alert["fingerprint"] == fingerprint(labels)
        assert alert["status"] == "firing"
        assert alert["startsAt"] == "2023-11-14T22:13:20.250Z"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    services = [a["labels"]["service"] for a in alerts]  # type: ignore[index]
    assert services == ["svc-r1-0", "svc-r1-1", "svc-r1-2", "svc-r1-0"]  # round-robin
    assert len({a["fingerprint"] for a in alerts}) == 4  # new means never seen


def test_repeats_and_resolves_only_touch_accepted_firing_alerts() -> None:
    factory = PayloadFactory(
        run_id="r2", mix=Mix.parse("new=0.5,repeat=0.25,resolve=0.25"), services=10, seed=1
    )
    first = factory.build(8, NOW)
    assert first.counts[Kind.NEW] == 8  # nothing accepted yet: all new
    factory.confirm(first)
    sent = {a["fingerprint"] for a in _alerts(first.body)}
    second = factory.build(8, NOW + 1)
    alerts = _alerts(second.body)
    repeated = [a for a in alerts if a["fingerprint"] in sent and a["status"] == "firing"]
    resolved = [a for a in alerts if a["status"] == "resolved"]
    assert len(repeated) == second.counts[Kind.REPEAT] > 0
    assert len(resolved) == second.counts[Kind.RESOLVE] > 0
    for alert in resolved:
        assert alert["fingerprint"] in sent
        assert alert["startsAt"] == "2023-11-14T22:13:20.250Z"  # the original start
        assert alert["endsAt"] == "2023-11-14T22:13:21.250Z"
    assert len({a["fingerprint"] for a in resolved}) == len(resolved)  # each resolved once
    assert factory.firing == 8 - len(resolved)


def test_a_batch_of_only_resolves_is_a_resolved_notification() -> None:
    factory = PayloadFactory(run_id="r3", mix=Mix.parse("resolve=1"), services=1, seed=1)
    factory.confirm(factory.build(2, NOW))  # nothing firing yet: sent as new
    payload = msgspec.json.decode(factory.build(2, NOW).body)
    assert payload["status"] == "resolved"
    assert factory.firing == 0


def test_same_seed_same_bodies() -> None:
    def bodies() -> list[bytes]:
        factory = PayloadFactory(
            run_id="r4", mix=Mix.parse("new=0.6,repeat=0.2,resolve=0.2"), services=5, seed=42
        )
        out = []
        for i in range(5):
            batch = factory.build(10, NOW + i)
            factory.confirm(batch)
            out.append(batch.body)
        return out

    assert bodies() == bodies()
