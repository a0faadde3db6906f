"""Turn a failed decode into a list of every bad field.

Typed decoding (msgspec) is the fast path and stops at the first problem. When it fails,
the same type's JSON Schema is checked with jsonschema, which reports every violation
with its exact path, so a sender fixes its payload in one round instead of one field at
a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import jsonschema
import msgspec


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
    return msgspec.json.schema(type_)


@cache
def _validator(type_: Any) -> jsonschema.protocols.Validator:
    schema = schema_of(type_)
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
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
