"""Turn JSON values and command-line text into typed values (types.md §2-§3, decisions.md §10).

Three entry points:

- :func:`parse_json` reads a value as written in a definition file (the output of ``json.loads``);
- :func:`parse_text` reads the ``v`` of a command-line ``k=v``;
- :func:`check_value` validates a value that is already in its Python form.

Beyond the original (types.md §3.7, marked *extension* below): the duration aliases
``ms s sec min h d`` with or without a dot (``15min``, ``4.h``), the distance aliases ``m km mi``
(``200m``, ``1.km``), fractional amounts (``1.5.hours``). Always rendered in the canonical forms.

Every failure is a :class:`~accio.errors.ValueParseError` whose message says what was expected, so
that a user can fix a definition from the message alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from accio.errors import ValueParseError
from accio.values.check import check_value
from accio.values.quantities import (
    parse_distance,
    parse_duration,
    parse_location,
    parse_timestamp,
)
from accio.values.scalars import (
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    describe,
    parse_boolean,
    parse_dataset,
    parse_double,
    parse_integer,
    parse_string,
    value_error,
)
from accio.values.types import DataType, FrozenMap

_ATOMIC: dict[str, Callable[[Any], Any]] = {
    "byte": lambda raw: parse_integer("byte", raw),
    "integer": lambda raw: parse_integer("integer", raw),
    "long": lambda raw: parse_integer("long", raw),
    "double": parse_double,
    "string": parse_string,
    "boolean": parse_boolean,
    "distance": parse_distance,
    "duration": parse_duration,
    "timestamp": parse_timestamp,
    "location": parse_location,
    "dataset": parse_dataset,
}


# --- public API ---


def parse_json(dtype: DataType, raw: Any) -> Any:
    """A JSON value (as from ``json.loads``) as a typed value of ``dtype``.

    Values already in their Python form (``Duration``, ``tuple``, ``FrozenMap``...) are accepted
    too, so operator defaults may be written either way.
    """
    base = dtype.base
    if base in _ATOMIC:
        return _ATOMIC[base](raw)
    if base in ("list", "set"):
        return _parse_sequence(dtype, raw)
    if base == "map":
        return _parse_map(dtype, raw)
    raise ValueParseError(f"unknown data type {dtype}")


def _parse_sequence(dtype: DataType, raw: Any) -> tuple[Any, ...] | frozenset[Any]:
    unordered = isinstance(raw, set | frozenset)
    if not isinstance(raw, list | tuple | set | frozenset) or (unordered and dtype.base == "list"):
        raise value_error(f"a {dtype} (a JSON array)", raw)
    (elem,) = dtype.args
    items: list[Any] = []
    for index, item in enumerate(raw):
        try:
            items.append(parse_json(elem, item))
        except ValueParseError as exc:
            raise ValueParseError(f"item [{index}]: {exc}") from None
    return tuple(items) if dtype.base == "list" else frozenset(items)


def _parse_map(dtype: DataType, raw: Any) -> FrozenMap:
    if not isinstance(raw, Mapping):
        raise value_error(f"a {dtype} (a JSON object)", raw)
    key_type, value_type = dtype.args
    data: dict[Any, Any] = {}
    for raw_key, raw_value in raw.items():
        try:
            key = parse_json(key_type, raw_key)
        except ValueParseError as exc:
            raise ValueParseError(f"key {describe(raw_key)}: {exc}") from None
        if key in data:
            raise ValueParseError(
                f"key {describe(raw_key)}: duplicate key (same {key_type} as another)"
            )
        try:
            data[key] = parse_json(value_type, raw_value)
        except ValueParseError as exc:
            raise ValueParseError(f"value of {describe(raw_key)}: {exc}") from None
    return FrozenMap(data)


def parse_text(dtype: DataType, text: str) -> Any:
    """The ``v`` of a command-line ``k=v``, read as a JSON string of that type would be."""
    if dtype.is_collection:
        raise ValueParseError(
            "collection values cannot be given on the command line; use a run definition file"
        )
    if not isinstance(text, str):
        raise ValueParseError(f"expected command-line text, got {describe(text)}")
    return parse_json(dtype, text)


__all__ = ["TIMESTAMP_MAX", "TIMESTAMP_MIN", "check_value", "parse_json", "parse_text"]
