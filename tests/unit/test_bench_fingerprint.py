"""The load generator's fingerprints must equal Alertmanager's, or repeats and resolves
would land on alerts the daemon never saw."""

from __future__ import annotations

import pytest

from bench.fingerprint import (
    FNV64_OFFSET,
    PrefixedHasher,
    fingerprint,
    fnv1a64,
    label_bytes,
)


def test_empty_label_set_is_the_offset_basis() -> None:
    assert fingerprint({}) == f"{FNV64_OFFSET:016x}" == "cbf29ce484222325"


def test_single_label_worked_by_hand() -> None:
    # bytes 61 ff 62 ff; each step: state = (state XOR byte) * 0x100000001b3 mod 2**64
    #   cbf29ce484222325 ^ 61 = cbf29ce484222344 -> af63dc4c8601ec8c
    #   af63dc4c8601ec8c ^ ff = af63dc4c8601ec73 -> 089bc907b544c769
    #   089bc907b544c769 ^ 62 = 089bc907b544c70b -> e57da31903de37b1
    #   e57da31903de37b1 ^ ff = e57da31903de374e -> d2b371819297f98a
    assert label_bytes({"a": "b"}) == b"a\xffb\xff"
    assert fingerprint({"a": "b"}) == "d2b371819297f98a"


def test_matches_prometheus_common_reference_vector() -> None:
    # prometheus/common model TestMetricToFingerprint: 5799056148416392346
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert fingerprint(labels) == f"{5799056148416392346:016x}" == "507a62d79ee76c9a"


def test_order_of_labels_does_not_matter_but_values_do() -> None:
    assert fingerprint({"b": "1", "a": "2"}) == fingerprint({"a": "2", "b": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "2"})
    # the separator keeps name/value boundaries apart
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})


def test_continuing_a_state_equals_hashing_the_concatenation() -> None:
    assert fnv1a64(b"world", fnv1a64(b"hello ")) == fnv1a64(b"hello world")


def test_prefixed_hasher_agrees_with_the_full_computation() -> None:
    hasher = PrefixedHasher(
        {"alertname": "BenchAlert", "environment": "bench"}, ("instance", "service", "severity")
    )
    for instance, service in [("r1-0", "svc-r1-0"), ("r1-1", "svc-r1-1"), ("x", "")]:
        full = {
            "alertname": "BenchAlert",
            "environment": "bench",
            "instance": instance,
            "service": service,
            "severity": "warning",
        }
        assert hasher.fingerprint(instance, service, "warning") == fingerprint(full)


def test_prefixed_hasher_rejects_a_prefix_sorting_after_the_tail() -> None:
    with pytest.raises(ValueError, match="sort before"):
        PrefixedHasher({"zone": "a"}, ("instance",))
    with pytest.raises(ValueError, match="sorted"):
        PrefixedHasher({}, ("b", "a"))
