"""daemon.validation: a failed typed decode turned into every bad field, by path."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
import pytest

from daemon.validation import FieldError, dotted, explain, schema_of


class Inner(msgspec.Struct, forbid_unknown_fields=True):
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)]


class Doc(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    count: Annotated[int, msgspec.Meta(ge=1)] = 1
    every: Annotated[str, msgspec.Meta(pattern=r"^\d+s$", description="e.g. 30s")] = "1s"
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=8)] | None = None
    items: list[int] = []
    inner: Inner | None = None
    tags: dict[str, str] = {}


def errors(document: object, fallback: str = "decoder said no") -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in explain(Doc, document, fallback)]


# --- dotted ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((), "(body)"),
        (("alerts",), "alerts"),
        (("alerts", 0, "labels", "severity"), "alerts[0].labels.severity"),
        ((0, "labels"), "[0].labels"),
        ((0, 1), "[0][1]"),
        (("a", "b", 2), "a.b[2]"),
        (["x", 3], "x[3]"),
    ],
)
def test_dotted(path: tuple[str | int, ...], expected: str) -> None:
    assert dotted(path) == expected


def test_dotted_accepts_any_iterable() -> None:
    parts: list[str | int] = ["a", 0]
    assert dotted(iter(parts)) == "a[0]"


# --- explain -----------------------------------------------------------------------------


def test_valid_document_has_no_schema_errors_so_the_fallback_explains() -> None:
    assert errors({"name": "x"}, "Expected `int`, got `str` - at `$.items[0]`") == [
        ("items[0]", "Expected `int`, got `str` - at `$.items[0]`")
    ]


def test_fallback_without_a_location_names_the_body() -> None:
    assert errors({"name": "x"}, "something odd") == [("(body)", "something odd")]


def test_fallback_at_the_root_names_the_body() -> None:
    message = "Object missing required field `name` - at `$`"
    assert errors({"name": "x"}, message) == [("(body)", message)]


def test_missing_required_field() -> None:
    assert errors({}) == [("name", "is required")]


def test_unknown_fields_are_named_one_by_one() -> None:
    assert errors({"name": "x", "colour": 1, "size": 2}) == [
        ("colour", "unknown field"),
        ("size", "unknown field"),
    ]


def test_unknown_field_in_an_optional_nested_struct_is_named() -> None:
    assert errors({"name": "x", "inner": {"port": 80, "host": "h"}}) == [
        ("inner.host", "unknown field")
    ]


def test_wrong_type() -> None:
    assert errors({"name": 5}) == [("name", "5 is not of type 'string'")]


def test_minimum() -> None:
    assert errors({"name": "x", "count": 0}) == [("count", "0 is less than the minimum of 1")]


def test_pattern_with_description_says_what_is_expected() -> None:
    assert errors({"name": "x", "every": "soon"}) == [("every", "'soon' is not valid: e.g. 30s")]


def test_list_items_and_map_values_are_named_by_position_and_key() -> None:
    assert errors({"name": "x", "items": [1, "two"], "tags": {"env": 3}}) == [
        ("items[1]", "'two' is not of type 'integer'"),
        ("tags.env", "3 is not of type 'string'"),
    ]


def test_every_error_at_once_sorted_by_path() -> None:
    document = {"tags": {"b": 1}, "count": "many", "items": ["x"], "extra": True}
    assert errors(document) == [
        ("name", "is required"),  # the root object's own problems come first
        ("extra", "unknown field"),
        ("count", "'many' is not of type 'integer'"),
        ("items[0]", "'x' is not of type 'integer'"),
        ("tags.b", "1 is not of type 'string'"),
    ]


def test_document_of_the_wrong_kind() -> None:
    assert errors([1, 2]) == [("(body)", "[1, 2] is not of type 'object'")]


def test_field_errors_carry_their_path() -> None:
    [error] = explain(Doc, {"name": "x", "items": [1, 2, "3"]}, "")
    assert error == FieldError(
        field="items[2]", message="'3' is not of type 'integer'", path=("items", 2)
    )


def test_schema_is_msgspecs_and_cached() -> None:
    schema = schema_of(Doc)
    assert schema is schema_of(Doc)
    definition = schema["$defs"]["Doc"]
    assert definition["required"] == ["name"]
    assert definition["additionalProperties"] is False


def test_optional_constrained_field_says_which_constraint_failed() -> None:
    [(field, message)] = errors({"name": "x", "note": ""})
    assert field == "note"
    assert "any of the given schemas" not in message


def test_messages_do_not_echo_huge_values() -> None:
    [(field, message)] = errors({"name": "x", "note": "n" * 100_000})
    assert field == "note"
    assert len(message) < 1000


class Event(msgspec.Struct):
    at: datetime
    until: datetime | None = None


class Events(msgspec.Struct):
    events: list[Event]
    label: str = ""


def test_times_are_date_time_strings_in_every_nested_struct() -> None:
    definition = schema_of(Events)["$defs"]["Event"]["properties"]
    assert definition["at"] == {"type": "string", "format": "date-time"}
    assert {"type": "string", "format": "date-time"} in definition["until"]["anyOf"]
    assert "format" not in schema_of(Events)["$defs"]["Events"]["properties"]["label"]


def test_a_bad_time_is_named_with_the_other_bad_fields() -> None:
    document = {"events": [{"at": "yesterday"}, {"at": "2026-01-01T00:00:00Z", "until": 5}]}
    found = [(e.field, e.message) for e in explain(Events, document, "decoder said no")]
    assert [field for field, _ in found] == ["events[0].at", "events[1].until"]
    assert "date-time" in found[0][1]


@pytest.mark.parametrize(
    "text", ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00.123456789Z"]
)
def test_times_the_decoder_takes_pass_the_schema(text: str) -> None:
    assert explain(Events, {"events": [{"at": text}], "label": 1}, "")[0].field == "label"
