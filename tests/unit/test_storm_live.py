"""What the live runner posts: Alertmanager webhooks in a run-private environment."""

from __future__ import annotations

import dataclasses
import math

import msgspec

from bench.fingerprint import fingerprint
from bench.storm import vocab
from bench.storm.generate import PROFILES, generate
from bench.storm.live import relabel, webhooks


def test_webhooks_carry_every_event_in_order_with_private_fingerprints() -> None:
    one = dataclasses.replace(PROFILES["storm"], episodes=1)
    storm = generate(5, one, vocab.builtin())
    bodies = webhooks(storm.events, "storm-x", 1000.0, 50, spread=math.inf)
    decoded = [msgspec.json.decode(b) for _, b in bodies]
    alerts = [a for body in decoded for a in body["alerts"]]
    assert len(alerts) == len(storm.events)
    assert all(body["version"] == "4" and len(body["alerts"]) <= 50 for body in decoded)
    mapping = relabel(storm, "storm-x")
    for posted, event in zip(alerts, storm.events, strict=True):
        assert posted["labels"]["environment"] == "storm-x"
        assert posted["fingerprint"] == fingerprint(posted["labels"])
        assert mapping[posted["fingerprint"]] == event.alert.fingerprint
        assert posted["status"] == ("firing" if event.firing else "resolved")
        if event.firing:
            assert posted["endsAt"] == "0001-01-01T00:00:00Z"


def test_paced_bodies_hold_events_a_second_apart_at_most() -> None:
    one = dataclasses.replace(PROFILES["storm"], episodes=1)
    storm = generate(5, one, vocab.builtin())
    position = 0
    for at, body in webhooks(storm.events, "e", 0.0, 1000, spread=1.0):
        count = len(msgspec.json.decode(body)["alerts"])
        held = storm.events[position : position + count]
        assert held[0].at == at
        assert held[-1].at - at <= 1.0
        position += count
    assert position == len(storm.events)
