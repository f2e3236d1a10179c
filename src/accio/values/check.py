"""Validation of values already in their Python form (operator defaults written in code)."""

from __future__ import annotations

import math
from typing import Any

from accio.errors import ValueParseError
from accio.values.scalars import EXPECTED, LONG_MAX, LONG_MIN, TIMESTAMP_MAX, TIMESTAMP_MIN
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


def check_value(dtype: DataType, value: Any) -> None:
    """Check that ``value`` is a valid Python form of ``dtype`` (for defaults built in code).

    Strict about shapes (a list must be a ``tuple``, so values stay hashable); lenient only where
    the values are equal anyway (an ``int`` passes as a ``double`` or as distance metres).
    """
    base = dtype.base
    what = f"a value of type {dtype}"
    if base in INTEGER_TYPES:
        lo, hi = INTEGER_TYPES[base]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueParseError(f"expected {what} (an int), got {value!r}")
        if not lo <= value <= hi:
            raise ValueParseError(f"expected {EXPECTED[base]}, got {value!r} (out of range)")
    elif base == "double":
        _check_real(what, value, value)
    elif base == "string":
        if not isinstance(value, str):
            raise ValueParseError(f"expected {what} (a str), got {value!r}")
    elif base == "boolean":
        if not isinstance(value, bool):
            raise ValueParseError(f"expected {what} (a bool), got {value!r}")
    elif base == "distance":
        if not isinstance(value, Distance):
            raise ValueParseError(f"expected {what} (a Distance), got {value!r}")
        _check_real(what, value.meters, value)
    elif base in ("duration", "timestamp"):
        cls = Duration if base == "duration" else Timestamp
        lo, hi = (LONG_MIN, LONG_MAX) if base == "duration" else (TIMESTAMP_MIN, TIMESTAMP_MAX)
        if not isinstance(value, cls):
            raise ValueParseError(f"expected {what} (a {cls.__name__}), got {value!r}")
        millis = value.millis
        if not isinstance(millis, int) or isinstance(millis, bool) or not lo <= millis <= hi:
            raise ValueParseError(f"expected {what}, got {value!r} (invalid or out of range)")
    elif base == "location":
        if not isinstance(value, Location):
            raise ValueParseError(f"expected {what} (a Location), got {value!r}")
        _check_real(what, value.lat, value)
        _check_real(what, value.lng, value)
        if not (-90 <= value.lat <= 90 and -180 <= value.lng <= 180):
            raise ValueParseError(f"expected {what}, got {value!r} (out of range)")
    elif base == "dataset":
        ref = getattr(value, "ref", None)
        if not isinstance(value, Dataset) or not isinstance(ref, str) or not ref.strip():
            raise ValueParseError(f"expected {what} (a Dataset with a reference), got {value!r}")
    elif base in ("list", "set"):
        shape = "tuple" if base == "list" else "frozenset"
        if not (isinstance(value, tuple) if base == "list" else isinstance(value, frozenset)):
            raise ValueParseError(f"expected {what} (a {shape}), got {value!r}")
        for index, item in enumerate(value):
            try:
                check_value(dtype.args[0], item)
            except ValueParseError as exc:
                raise ValueParseError(f"item [{index}]: {exc}") from None
    elif base == "map":
        if not isinstance(value, FrozenMap):
            raise ValueParseError(f"expected {what} (a FrozenMap), got {value!r}")
        for key, item in value.items():
            try:
                check_value(dtype.args[0], key)
                check_value(dtype.args[1], item)
            except ValueParseError as exc:
                raise ValueParseError(f"entry {key!r}: {exc}") from None
    else:
        raise ValueParseError(f"unknown data type {dtype}")


def _check_real(what: str, number: Any, value: Any) -> None:
    if not isinstance(number, int | float) or isinstance(number, bool):
        raise ValueParseError(f"expected {what}, got {value!r} (not a number)")
    try:
        finite = math.isfinite(number)
    except OverflowError:
        finite = False
    if not finite:
        raise ValueParseError(
            f"expected {what}, got {value!r} (NaN and infinities are not allowed)"
        )
