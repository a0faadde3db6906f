"""Alert fingerprints: Alertmanager's FNV-1a-64 over the sorted label set.

Expected values are computed here from the algorithm's description, not by calling the
code under test: sorted label names; for each, the name's UTF-8 bytes, 0xFF, the value's
UTF-8 bytes, 0xFF; FNV-1a 64 (offset 14695981039346656037, prime 1099511628211); printed
as 16 lower-case hex digits.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage.fingerprint import fnv1a64, key_fingerprint, label_fingerprint

OFFSET = 14695981039346656037
PRIME = 1099511628211
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def reference_fnv1a64(data: bytes) -> int:
    state = OFFSET
    for byte in data:
        state ^= byte
        state = (state * PRIME) % 2**64
    return state


def reference_fingerprint(labels: dict[str, str]) -> str:
    data = b""
    for name in sorted(labels):
        data += name.encode("utf-8") + b"\xff" + labels[name].encode("utf-8") + b"\xff"
    return format(reference_fnv1a64(data), "016x")


# Text that can be encoded as UTF-8 (no lone surrogates), as JSON decoding guarantees.
utf8_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)


# --- the raw hash ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Published FNV-1a 64 test vectors (Fowler/Noll/Vo reference test suite).
        (b"", 0xCBF29CE484222325),
        (b"a", 0xAF63DC4C8601EC8C),
        (b"foobar", 0x85944171F73967E8),
    ],
)
def test_fnv1a64_matches_published_vectors(data: bytes, expected: int) -> None:
    assert fnv1a64(data) == expected


@given(st.binary(max_size=64))
def test_fnv1a64_equals_reference_implementation(data: bytes) -> None:
    assert fnv1a64(data) == reference_fnv1a64(data)


# --- label fingerprints ------------------------------------------------------------------


def test_empty_label_set_is_the_offset_basis() -> None:
    # prometheus/common: the fingerprint of an empty LabelSet is the FNV offset itself.
    assert label_fingerprint({}) == f"{OFFSET:016x}" == "cbf29ce484222325"


def test_single_label_worked_out_independently() -> None:
    expected = reference_fingerprint({"alertname": "HighLatency"})
    data = b"alertname\xffHighLatency\xff"
    assert expected == f"{reference_fnv1a64(data):016x}"
    assert label_fingerprint({"alertname": "HighLatency"}) == expected


def test_single_short_label_by_hand() -> None:
    # bytes 61 ff 62 ff folded step by step:
    #   cbf29ce484222325 ^ 61 -> af63dc4c8601ec8c
    #   af63dc4c8601ec8c ^ ff -> 089bc907b544c769
    #   089bc907b544c769 ^ 62 -> e57da31903de37b1
    #   e57da31903de37b1 ^ ff -> d2b371819297f98a
    assert label_fingerprint({"a": "b"}) == "d2b371819297f98a"


def test_prometheus_common_reference_vector() -> None:
    # prometheus/common model TestMetricToFingerprint: 5799056148416392346.
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert label_fingerprint(labels) == f"{5799056148416392346:016x}"
    assert label_fingerprint(labels) == reference_fingerprint(labels)


def test_several_labels_use_sorted_names() -> None:
    labels = {"severity": "critical", "alertname": "DiskFull", "instance": "db-1:9100"}
    ordered = b"alertname\xffDiskFull\xffinstance\xffdb-1:9100\xffseverity\xffcritical\xff"
    assert label_fingerprint(labels) == f"{reference_fnv1a64(ordered):016x}"


def test_label_order_does_not_matter() -> None:
    forward = {"a": "1", "b": "2", "c": "3"}
    backward = {"c": "3", "b": "2", "a": "1"}
    assert list(forward) != list(backward)
    assert label_fingerprint(forward) == label_fingerprint(backward)


def test_values_and_names_matter() -> None:
    base = label_fingerprint({"a": "1"})
    assert label_fingerprint({"a": "2"}) != base
    assert label_fingerprint({"b": "1"}) != base
    assert label_fingerprint({"a": "1", "b": ""}) != base  # an empty value is still a label


def test_separator_keeps_name_value_boundaries_apart() -> None:
    assert label_fingerprint({"ab": "c"}) != label_fingerprint({"a": "bc"})
    assert label_fingerprint({"a": "b", "c": "d"}) != label_fingerprint({"a": "bcd"})


def test_unicode_labels_hash_their_utf8_bytes() -> None:
    labels = {"service": "zahlungsdienst-ü", "région": "東京", "emoji": "🔥"}
    assert label_fingerprint(labels) == reference_fingerprint(labels)
    # é is two bytes in UTF-8; hashing code points or Latin-1 would differ.
    utf8 = b"r\xc3\xa9gion\xffx\xff"
    assert label_fingerprint({"région": "x"}) == f"{reference_fnv1a64(utf8):016x}"


def test_unicode_names_sort_like_go_strings() -> None:
    # Go sorts label names bytewise; UTF-8 byte order equals code point order, so
    # "Z" < "a" < "é" < "東" whatever the insertion order.
    labels = {"東": "1", "é": "2", "a": "3", "Z": "4"}
    data = b"Z\xff4\xffa\xff3\xff\xc3\xa9\xff2\xff\xe6\x9d\xb1\xff1\xff"
    assert label_fingerprint(labels) == f"{reference_fnv1a64(data):016x}"


def test_hundreds_of_labels() -> None:
    labels = {f"label_{i:03d}": f"value-{i}" for i in range(300)}
    assert label_fingerprint(labels) == reference_fingerprint(labels)


@given(st.dictionaries(utf8_text, utf8_text, max_size=8))
def test_label_fingerprint_equals_reference(labels: dict[str, str]) -> None:
    result = label_fingerprint(labels)
    assert HEX16.match(result)
    assert result == reference_fingerprint(labels)


@given(st.dictionaries(utf8_text, utf8_text, max_size=8), st.randoms())
def test_label_fingerprint_is_order_independent(labels: dict[str, str], rnd: random.Random) -> None:
    items = list(labels.items())
    rnd.shuffle(items)
    assert label_fingerprint(dict(items)) == label_fingerprint(labels)


# --- sender-named dedup keys -------------------------------------------------------------


def test_key_fingerprint_worked_out_independently() -> None:
    data = b"dedup\xffgeneric\xffdisk-full-db-1"
    expected = f"{reference_fnv1a64(data):016x}"
    assert key_fingerprint("generic", "disk-full-db-1") == expected


def test_key_fingerprint_is_scoped_by_sender() -> None:
    assert key_fingerprint("generic", "k1") != key_fingerprint("pagerduty", "k1")
    assert key_fingerprint("generic", "k1") == key_fingerprint("generic", "k1")
    assert key_fingerprint("generic", "k1") != key_fingerprint("generic", "k2")


def test_key_fingerprint_scope_and_key_boundaries_do_not_shift() -> None:
    # Without the separator, ("ab", "c") and ("a", "bc") would hash the same bytes.
    assert key_fingerprint("ab", "c") != key_fingerprint("a", "bc")


def test_key_fingerprint_differs_from_label_sets_with_the_same_words() -> None:
    assert key_fingerprint("generic", "x") != label_fingerprint({"dedup": "generic"})
    assert key_fingerprint("generic", "x") != label_fingerprint({"generic": "x"})
    assert key_fingerprint("generic", "x") != label_fingerprint({"dedup": "generic", "x": ""})


@given(utf8_text, utf8_text.filter(bool))
def test_key_fingerprint_is_16_hex_digits(scope: str, key: str) -> None:
    assert HEX16.match(key_fingerprint(scope, key))


def test_empty_dedup_key_does_not_collide_with_a_label_set() -> None:
    assert key_fingerprint("generic", "") != label_fingerprint({"dedup": "generic"})
    assert key_fingerprint("generic", "") != label_fingerprint({"dedup": "generic", "": ""})
    assert key_fingerprint("generic", "") == key_fingerprint("generic", "")
    assert key_fingerprint("generic", "") != key_fingerprint("pagerduty", "")


@given(utf8_text, utf8_text)
def test_key_fingerprints_of_any_key_never_equal_label_fingerprints_of_its_words(
    scope: str, key: str
) -> None:
    assert key_fingerprint(scope, key) != label_fingerprint({"dedup": scope})
    assert key_fingerprint(scope, key) != label_fingerprint({"dedup": scope, key: ""})
