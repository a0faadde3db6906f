"""Property tests for every source adapter: whatever a sender posts, the adapter either
returns events the pipeline can fold, or rejects the body with a 400/413 that names at
least one field. No other outcome is allowed: an exception escaping an adapter would be a
500 in the receive handler.

Every adapter gets: random JSON documents and random objects (object keys drawn partly
from the adapters' own field names, so documents get past the first checks often enough
to reach deeper code; each document goes to all adapters); valid vendor payloads with a
few random mutations (a field dropped, a list item repeated, a value replaced by random
JSON, text, a numeric string, null or an empty container); and raw bytes (random, a valid
body cut short, or one with bytes that are not UTF-8 slipped in). About 3,000 generated
bodies and 20,000 parses, sized to keep this file under 20 seconds. Limits are either
the defaults or tiny ones, so the 413 and size checks are exercised too.
tests/integration/test_ingest_properties.py posts the same kinds of bodies through the
real HTTP handler and checks that nothing of a refused request reaches Redis.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.sources import Limits, PayloadError
from tests.payloads import am_alert, am_webhook, prom_alert
from tests.unit import (
    test_source_alerta,
    test_source_cloudwatch,
    test_source_datadog,
    test_source_grafana,
    test_source_opsgenie,
    test_source_pagerduty,
    test_source_zabbix,
)
from tests.unit.source_support import NOW, adapter, assert_named, assert_well_formed

PROPERTY = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

SMALL = Limits(max_alerts=2, max_labels=6, max_name_bytes=16, max_value_bytes=48)
LIMITS = st.sampled_from([Limits(), SMALL])


def _seeds() -> dict[str, list[Any]]:
    """Valid payloads per source, written from each vendor's documentation (the contract
    tests' builders). CloudWatch's alarm stays an object here so mutations reach inside
    it; ``_encode`` turns it into the string SNS sends."""
    grafana = test_source_grafana
    pagerduty = test_source_pagerduty
    opsgenie = test_source_opsgenie
    datadog = test_source_datadog
    cloudwatch = test_source_cloudwatch
    zabbix = test_source_zabbix
    alerta = test_source_alerta
    labels = {"alertname": "HighLatency", "service": "checkout", "severity": "page"}
    return {
        "alertmanager": [
            am_webhook([am_alert(labels), am_alert(labels | {"pod": "b"}, status="resolved")]),
        ],
        "prometheus": [
            [prom_alert(labels, starts_at=NOW - 60, ends_at=NOW + 240)],
        ],
        "generic": [
            {"labels": labels, "summary": "p99 above 2 s", "severity": "critical"},
            {"alerts": [{"dedup_key": "job-42", "status": "resolved"}]},
        ],
        "grafana": [grafana.grafana_webhook([grafana.grafana_alert()])],
        "pagerduty": [
            pagerduty.pd_trigger(),
            pagerduty.pd_follow_up("acknowledge"),
            pagerduty.pd_follow_up("resolve"),
        ],
        "opsgenie": [
            opsgenie.og_create(),
            opsgenie.og_action("close"),
            opsgenie.og_action("acknowledge", user="alice"),
        ],
        "datadog": [
            datadog.dd_default("[P1] [Triggered on {host:web-1}] CPU high"),
            datadog.dd_monitor("Recovered"),
        ],
        "cloudwatch": [
            cloudwatch.notification(cloudwatch.alarm()) | {"Message": cloudwatch.alarm()},
            cloudwatch.confirmation(),
        ],
        "zabbix": [zabbix.zbx_problem(), zabbix.zbx_recovery(), zabbix.zbx_update("acknowledged")],
        "alerta": [alerta.alerta(), alerta.alerta(event="QueueDepthOK", severity="ok")],
    }


SEEDS = _seeds()
SOURCES = sorted(SEEDS)


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _encode(value: Any) -> bytes:
    """JSON as a sender would post it; a CloudWatch alarm object becomes SNS's string."""
    if isinstance(value, dict) and isinstance(value.get("Message"), dict | list):
        value = value | {"Message": json.dumps(value["Message"])}
    return json.dumps(value).encode()


def check(source: str, body: bytes, limits: Limits) -> None:
    """Parse as the receive handler does; only the two allowed outcomes may happen."""
    try:
        received = adapter(source).parse(body, NOW, limits)
    except PayloadError as exc:
        assert_named(exc)
        return
    assert_well_formed(received)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["", "firing", "resolved", "trigger", "ALARM", "OK", "PROBLEM", "4", "1749999600000"]
    )
    | st.sampled_from(["2025-06-15T15:00:00Z", "2025-06-15T15:00:00.000+0000", "P1", "normal"])
)


def json_documents(keys: st.SearchStrategy[str], leaves: int = 20) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
        max_leaves=leaves,
    )


FIELD_NAMES = sorted(set().union(*(_keys(seed) for seeds in SEEDS.values() for seed in seeds)))
field_names = st.sampled_from(FIELD_NAMES) | st.text(max_size=8)


@settings(PROPERTY, max_examples=700)
@given(document=json_documents(field_names, 12), limits=LIMITS)
def test_random_json_documents(document: Any, limits: Limits) -> None:
    """Each document goes to every adapter: its keys are drawn from all adapters' field
    names, so one document exercises each of them (700 documents, 7,000 parses)."""
    body = _encode(document)
    for source in SOURCES:
        check(source, body, limits)


@settings(PROPERTY, max_examples=250)
@given(document=st.dictionaries(field_names, json_documents(field_names, 3), max_size=10))
def test_random_objects(document: dict[str, Any]) -> None:
    """Objects, as every vendor body is one, so more of them reach field validation."""
    body = _encode(document)
    for source in SOURCES:
        check(source, body, Limits())


_DROP, _NULL, _EMPTY_OBJECT, _EMPTY_LIST, _AS_TEXT, _REPEAT = range(6)

mutations = st.lists(
    st.tuples(
        st.lists(st.integers(0, 2**16), max_size=6),  # which child to descend into, per level
        st.integers(0, 9),  # what to do there (_DROP ... _REPEAT, else replace)
        scalars | json_documents(field_names, 4) | st.integers().map(str),
    ),
    min_size=1,
    max_size=3,
)


def _mutate(value: Any, steps: list[int], op: int, replacement: Any) -> Any:
    """Walk down ``steps`` (each picks a child), then change what is there: drop it from
    its parent, null it, empty it, turn it into text, repeat a list item, or replace it
    with random JSON, text or a numeric string."""
    if steps and isinstance(value, dict) and value:
        key = sorted(value)[steps[0] % len(value)]
        if len(steps) == 1 and op == _DROP:
            return {k: v for k, v in value.items() if k != key}
        return value | {key: _mutate(value[key], steps[1:], op, replacement)}
    if steps and isinstance(value, list) and value:
        index = steps[0] % len(value)
        if len(steps) == 1 and op == _DROP:
            return value[:index] + value[index + 1 :]
        if len(steps) == 1 and op == _REPEAT:
            return value + [value[index]] * (1 + steps[0] % 3)
        return [
            *value[:index],
            _mutate(value[index], steps[1:], op, replacement),
            *value[index + 1 :],
        ]
    return {
        _NULL: None,
        _EMPTY_OBJECT: {},
        _EMPTY_LIST: [],
        _AS_TEXT: json.dumps(value)[:300],
    }.get(op, replacement)


@pytest.mark.parametrize("source", SOURCES)
@settings(PROPERTY, max_examples=150)
@given(seed=st.integers(0, 2**16), changes=mutations, limits=LIMITS)
def test_mutated_valid_payloads(
    source: str, seed: int, changes: list[tuple[list[int], int, Any]], limits: Limits
) -> None:
    document = SEEDS[source][seed % len(SEEDS[source])]
    for steps, op, replacement in changes:
        document = _mutate(document, steps, op, replacement)
    check(source, _encode(document), limits)


@settings(PROPERTY, max_examples=250)
@given(
    seed=st.integers(0, 2**16),
    cut=st.floats(0, 1),
    tail=st.sampled_from([b"", b"1e999", b"\xff", b"}", b'"\\ud800"', b"]]"]),
    stray=st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\\"]),
    noise=st.binary(max_size=200),
)
def test_raw_bytes(seed: int, cut: float, tail: bytes, stray: bytes, noise: bytes) -> None:
    """Bodies cut short or with broken endings, valid bodies with bytes that are not
    UTF-8 (or not JSON) slipped in, mostly inside strings, and random bytes; to every
    adapter."""
    for source in SOURCES:
        body = _encode(SEEDS[source][seed % len(SEEDS[source])])
        at = int(len(body) * cut)
        check(source, body[:at] + tail, Limits())
        check(source, body[:at] + stray + body[at:], Limits())
        check(source, noise, Limits())


@pytest.mark.parametrize("source", SOURCES)
def test_every_seed_is_accepted(source: str) -> None:
    """The mutations start from payloads the adapter accepts (or the property tests
    would be testing rejections only)."""
    for seed in SEEDS[source]:
        received = adapter(source).parse(_encode(seed), NOW, Limits())
        assert_well_formed(received)


@pytest.mark.parametrize(
    "body",
    [
        b'{"version": 1e999, "alerts": []}',  # a number no float holds
        b'{"a": 1e999}',
        b'{"version": 4, "alerts": [{"labels": {"a": "\xff"}}], "title": 5, "b": "\xc3\x28"}',
        b'[{"labels": 5, "a": "\xff"}]',  # not UTF-8 after an earlier type error
    ],
)
def test_bodies_msgspec_refuses_late_are_payload_errors(body: bytes) -> None:
    for source in SOURCES:
        check(source, body, Limits())
        with pytest.raises(PayloadError):
            adapter(source).parse(body, NOW, Limits())
