"""Turn a failed decode into a list of every bad field.

Typed decoding (msgspec) is the fast path and stops at the first problem. When it fails,
the same type's JSON Schema is checked with jsonschema, which reports every violation
with its exact path, so a sender fixes its payload in one round instead of one field at
a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import cache
from typing import Any

import jsonschema
import msgspec
import msgspec.inspect as mi


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str
    path: tuple[str | int, ...] = ()


def dotted(path: Iterable[str | int]) -> str:
    """``alerts[0].labels.severity`` style, or ``(body)`` for the document itself."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(body)"


@cache
def schema_of(type_: Any) -> dict[str, Any]:
    schema = msgspec.json.schema(type_)
    mark_times([type_], schema.get("$defs", {}))
    return schema


def mark_times(types: Iterable[Any], defs: dict[str, Any]) -> None:
    """Give every datetime field of the structs in ``types`` ``format: date-time`` in
    their component schemas ``defs``.

    msgspec describes a datetime as a plain string (it also decodes times without a zone),
    so without this the schema cannot tell a bad time from any other text.
    """
    seen: set[type] = set()
    for struct in (s for t in types for s in _structs(mi.type_info(t), seen)):
        properties = defs.get(struct.cls.__name__, {}).get("properties", {})
        for field in struct.fields:
            if _is_time(field.type) and field.encode_name in properties:
                prop = properties[field.encode_name]
                for choice in prop.get("anyOf", [prop]):
                    if choice.get("type") == "string":
                        choice["format"] = "date-time"


def _structs(info: mi.Type, seen: set[type]) -> Iterator[mi.StructType]:
    if isinstance(info, mi.StructType):
        if info.cls in seen:
            return
        seen.add(info.cls)
        yield info
        for field in info.fields:
            yield from _structs(field.type, seen)
    elif isinstance(info, mi.UnionType):
        for choice in info.types:
            yield from _structs(choice, seen)
    elif isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        yield from _structs(info.item_type, seen)
    elif isinstance(info, mi.DictType):
        yield from _structs(info.value_type, seen)
    elif isinstance(info, mi.Metadata):
        yield from _structs(info.type, seen)


def _is_time(info: mi.Type) -> bool:
    if isinstance(info, mi.Metadata):
        return _is_time(info.type)
    if isinstance(info, mi.UnionType):
        return any(_is_time(choice) for choice in info.types)
    return isinstance(info, mi.DateTimeType)


# Formats are asserted by the parser the typed decoder uses, so the schema check and the
# decoder agree on every value: a bad time is named beside the other bad fields instead of
# being found only by the decoder, which stops at the first problem.
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=msgspec.ValidationError)
def _is_date_time(value: object) -> bool:
    if isinstance(value, str):
        msgspec.convert(value, datetime)
    return True


@cache
def _validator(type_: Any) -> jsonschema.protocols.Validator:
    schema = schema_of(type_)
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema, format_checker=_FORMATS)
    return validator


def explain(type_: Any, document: Any, fallback: str) -> list[FieldError]:
    """Every schema violation of ``document`` against ``type_``'s schema.

    ``fallback`` (the typed decoder's own message) is used when the schema accepts what
    the decoder refused, so an error is never reported without a reason.
    """
    errors = sorted(_validator(type_).iter_errors(document), key=lambda e: list(e.absolute_path))
    found = [field_error for error in errors for field_error in _field_errors(error)]
    if found:
        return found
    path = _path_from_msgspec(fallback)
    return [FieldError(field=dotted(path), message=fallback, path=path)]


_MAX_MESSAGE = 300


def _field_errors(error: jsonschema.ValidationError) -> list[FieldError]:
    """One error per offending field, with the message cut short: an error answer must not
    echo a 64 KiB value back. For an optional field (``X | None``) the problem inside the
    non-null alternative is reported, not "not valid under any of the given schemas"."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        inner = [e for e in error.context if e.validator != "type" or e.validator_value != "null"]
        if inner:
            return _field_errors(jsonschema.exceptions.best_match(inner))
    return [FieldError(e.field, _short(e.message), e.path) for e in _plain_field_errors(error)]


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def _plain_field_errors(error: jsonschema.ValidationError) -> list[FieldError]:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(schema.get("properties", {}))
        return [
            FieldError(field=dotted((*path, name)), message="unknown field", path=(*path, name))
            for name in error.instance
            if name not in allowed
        ]
    if error.validator == "required":
        name = str(error.message).split("'")[1]
        return [FieldError(field=dotted((*path, name)), message="is required", path=(*path, name))]
    if error.validator == "pattern" and "description" in schema:
        message = f"{error.instance!r} is not valid: {schema['description']}"
        return [FieldError(field=dotted(path), message=message, path=path)]
    return [FieldError(field=dotted(path), message=error.message, path=path)]


def _path_from_msgspec(message: str) -> tuple[str | int, ...]:
    """``Expected `int`, got `float` - at `$.server.port``` -> ("server", "port")."""
    marker = "- at `$"
    if marker not in message:
        return ()
    text = message.split(marker, 1)[1].rstrip("`")
    path: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", text.split("[...]", 1)[0]):
        path.append(int(index) if index else name)
    return tuple(path)


def _field_from_msgspec(message: str) -> str:
    return dotted(_path_from_msgspec(message))
