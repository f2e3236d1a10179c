"""The lossless, type-tagged JSON form of values, for storage, the HTTP API and cache keys.

types.md §5: metres for distance, milliseconds for duration and timestamp, ``[lat, lng]`` degrees
for location, the reference string for a dataset, the natural JSON form for everything else. Sets
are arrays sorted by each element's canonical JSON text and map keys are strings, so that equal
values always give the same bytes (and therefore the same cache key).

Map keys are written as the text of their canonical scalar: ``"7"`` for an integer,
``repr(x)`` for a double or distance (``"0.5"``), ``"3600000"`` for a duration, ``"45.7,4.8"`` for
a location, ``"true"`` for a boolean.
"""

from __future__ import annotations

import json
import math
from typing import Any

from accio.errors import ValueParseError
from accio.values.parse import check_value, parse_text
from accio.values.types import (
    INTEGER_TYPES,
    Dataset,
    DataType,
    Distance,
    Duration,
    FrozenMap,
    Location,
    Timestamp,
)


def _dumps(data: Any) -> str:
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _atomic_to(base: str, value: Any) -> Any:
    if base in INTEGER_TYPES:
        return int(value)
    if base == "double":
        return float(value) + 0.0  # -0.0 == 0.0, so both must encode alike
    if base in ("string", "boolean"):
        return value
    if base == "distance":
        return float(value.meters) + 0.0
    if base in ("duration", "timestamp"):
        return int(value.millis)
    if base == "location":
        return [float(value.lat) + 0.0, float(value.lng) + 0.0]
    if base == "dataset":
        return value.ref
    raise AssertionError(f"not an atomic type: {base}")


def _key_text(base: str, key: Any) -> str:
    """A map key as a JSON object key: the text of its canonical scalar."""
    data = _atomic_to(base, key)
    if base in ("string", "dataset"):
        return str(data)
    if base == "boolean":
        return "true" if data else "false"
    if base == "location":
        return f"{data[0]!r},{data[1]!r}"
    return repr(data)  # int or float: repr is exact and what json.dumps writes


def to_canonical(dtype: DataType, value: Any) -> Any:
    """The JSON-able canonical form of a valid value of ``dtype``."""
    check_value(dtype, value)
    base = dtype.base
    if base == "list":
        return [_atomic_to(dtype.args[0].base, item) for item in value]
    if base == "set":
        items = [_atomic_to(dtype.args[0].base, item) for item in value]
        return sorted(items, key=_dumps)
    if base == "map":
        key_base, value_base = (arg.base for arg in dtype.args)
        pairs = [(_key_text(key_base, k), _atomic_to(value_base, v)) for k, v in value.items()]
        return dict(sorted(pairs))
    return _atomic_to(base, value)


def _fail(dtype: DataType, data: Any, why: str) -> ValueParseError:
    text = repr(data)
    text = text if len(text) <= 60 else text[:57] + "..."
    return ValueParseError(f"invalid canonical {dtype} value {text}: {why}")


def _is_int(data: Any) -> bool:
    return isinstance(data, int) and not isinstance(data, bool)


def _real(dtype: DataType, data: Any) -> float:
    if not (_is_int(data) or isinstance(data, float)):
        raise _fail(dtype, data, "expected a number")
    try:
        value = float(data) + 0.0
    except OverflowError:
        raise _fail(dtype, data, "out of range") from None
    if not math.isfinite(value):
        raise _fail(dtype, data, "not finite")
    return value


def _atomic_from(dtype: DataType, data: Any) -> Any:
    base = dtype.base
    if base in INTEGER_TYPES or base in ("duration", "timestamp"):
        if not _is_int(data):
            raise _fail(dtype, data, "expected an integer")
        if base == "duration":
            return Duration(data)
        return Timestamp(data) if base == "timestamp" else data
    if base == "double":
        return _real(dtype, data)
    if base == "distance":
        return Distance(_real(dtype, data))
    if base in ("string", "dataset"):
        if not isinstance(data, str):
            raise _fail(dtype, data, "expected a string")
        return Dataset(data) if base == "dataset" else data
    if base == "boolean":
        if not isinstance(data, bool):
            raise _fail(dtype, data, "expected true or false")
        return data
    if base == "location":
        if not isinstance(data, list | tuple) or len(data) != 2:
            raise _fail(dtype, data, "expected [lat, lng]")
        return Location(_real(dtype, data[0]), _real(dtype, data[1]))
    raise AssertionError(f"not an atomic type: {dtype}")


def _key_from(dtype: DataType, text: Any) -> Any:
    if not isinstance(text, str):
        raise _fail(dtype, text, "map keys are strings")
    if dtype.base == "distance":
        try:
            return Distance(_real(dtype, float(text)))
        except ValueError:
            raise _fail(dtype, text, "expected metres") from None
    if dtype.base == "dataset":
        return Dataset(text)
    # Every other key text is also valid command-line text of its type, with the same meaning.
    return parse_text(dtype, text)


def from_canonical(dtype: DataType, data: Any) -> Any:
    """The value whose canonical form is ``data``: the exact inverse of :func:`to_canonical`."""
    base = dtype.base
    if base in ("list", "set"):
        if not isinstance(data, list):
            raise _fail(dtype, data, "expected an array")
        items = [_atomic_from(dtype.args[0], item) for item in data]
        value: Any = tuple(items) if base == "list" else frozenset(items)
    elif base == "map":
        if not isinstance(data, dict):
            raise _fail(dtype, data, "expected an object")
        key_type, value_type = dtype.args
        entries = {_key_from(key_type, k): _atomic_from(value_type, v) for k, v in data.items()}
        if len(entries) != len(data):
            raise _fail(dtype, data, "duplicate keys")
        value = FrozenMap(entries)
    else:
        value = _atomic_from(dtype, data)
    check_value(dtype, value)
    return value


def canonical_json(dtype: DataType, value: Any) -> str:
    """Compact, key-sorted JSON text of the canonical form: the bytes that cache keys hash."""
    return _dumps(to_canonical(dtype, value))


def typed_json(dtype: DataType, value: Any) -> dict[str, Any]:
    """``{"type": ..., "value": ...}``, the self-describing form of storage and the HTTP API."""
    return {"type": str(dtype), "value": to_canonical(dtype, value)}


__all__ = ["canonical_json", "from_canonical", "to_canonical", "typed_json"]
