"""Shared value grammar (number syntax, bounds, "expected ..." messages) and the scalar parsers:
integers, doubles, booleans, strings and dataset references.

Kept apart from the unit-bearing quantities (:mod:`accio.values.quantities`) so that each reads
on its own; :mod:`accio.values.parse` dispatches to both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from accio.errors import ValueParseError
from accio.values.types import INTEGER_TYPES, Dataset

INT_RE = re.compile(r"[+-]?[0-9]+")
DOUBLE_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = frozenset(
    s + w for s in ("", "+", "-") for w in ("nan", "inf", "infinity")
)  # spellings float() knows; named so the message can say why they fail

LONG_MIN, LONG_MAX = INTEGER_TYPES["long"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_since_epoch(dt: datetime) -> int:
    """Whole milliseconds since 1970-01-01 UTC, exact (no float seconds)."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


#: Timestamps are limited to what ISO-8601 with a 4-digit year can show (years 1 to 9999, UTC).
TIMESTAMP_MIN = ms_since_epoch(datetime(1, 1, 1, tzinfo=UTC))
TIMESTAMP_MAX = ms_since_epoch(datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC))

EXPECTED: dict[str, str] = {
    "byte": "a byte (a whole number from -128 to 127)",
    "integer": "an integer (a whole number from -2147483648 to 2147483647)",
    "long": "a long (a whole number from -9223372036854775808 to 9223372036854775807)",
    "double": "a double (e.g. 0.5 or 1e-5)",
    "string": "a string",
    "boolean": "a boolean (true or false)",
    "distance": "a distance such as '200.meters' or '1.5.km'",
    "duration": "a duration such as '15.minutes' or '4h'",
    "timestamp": "a timestamp such as '2017-01-01T00:00:00Z' (ISO-8601) or epoch milliseconds",
    "location": "a location such as '45.7,4.8' (latitude,longitude in degrees)",
    "dataset": "a dataset reference (a digest or URI, as a string)",
}


def describe(raw: Any) -> str:
    """Describe an offending value the way the user wrote it (JSON vocabulary)."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int) and raw.bit_length() > 128:
        return "a number with too many digits"
    if isinstance(raw, int | float):
        return repr(raw)
    if isinstance(raw, str):
        return repr(raw if len(raw) <= 60 else raw[:57] + "...")
    if isinstance(raw, list | tuple | set | frozenset):
        return "an array"
    if isinstance(raw, Mapping):
        return "an object"
    return f"a {type(raw).__name__}"


def value_error(what: str, raw: Any, why: str | None = None) -> ValueParseError:
    """The one message shape of every parser: what was expected, what came, and why."""
    suffix = f" ({why})" if why else ""
    return ValueParseError(f"expected {what}, got {describe(raw)}{suffix}")


def is_number(raw: Any) -> bool:
    """A JSON number (``true`` is a bool, not a number, although Python says otherwise)."""
    return isinstance(raw, int | float) and not isinstance(raw, bool)


# --- atomic types ---


def parse_integer(base: str, raw: Any) -> int:
    what = EXPECTED[base]
    lo, hi = INTEGER_TYPES[base]
    if isinstance(raw, bool):
        raise value_error(what, raw)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            raise value_error(what, raw, "not a whole number")
        value = int(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if INT_RE.fullmatch(text):
            if len(text) > 25:  # far beyond 64 bits; avoids int()'s digit limit
                raise value_error(what, raw, "out of range")
            value = int(text)
        elif DOUBLE_RE.fullmatch(text):
            raise value_error(what, raw, "write whole numbers without a decimal point or exponent")
        else:
            raise value_error(what, raw)
    else:
        raise value_error(what, raw)
    if not lo <= value <= hi:
        raise value_error(what, raw, "out of range")
    return value


def parse_double(raw: Any) -> float:
    what = EXPECTED["double"]
    if isinstance(raw, bool):
        raise value_error(what, raw)
    if isinstance(raw, int):
        try:
            value = float(raw)
        except OverflowError:
            raise value_error(what, raw, "too large for a double") from None
    elif isinstance(raw, float):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if text.lower() in _NON_FINITE:
            raise value_error(what, raw, "NaN and infinities are not allowed")
        if not DOUBLE_RE.fullmatch(text):
            raise value_error(what, raw)
        value = float(text)
        if math.isinf(value):
            raise value_error(what, raw, "too large for a double")
    else:
        raise value_error(what, raw)
    if not math.isfinite(value):
        raise value_error(what, raw, "NaN and infinities are not allowed")
    return value + 0.0  # folds -0.0 into 0.0: equal values must encode and hash alike


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def parse_boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise value_error(EXPECTED["boolean"], raw, "accepted: true/false, yes/no, t/f, y/n, 1/0")


def parse_string(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    why = "a number; put it in quotes to make it a string" if is_number(raw) else None
    raise value_error(EXPECTED["string"], raw, why)


def parse_dataset(raw: Any) -> Dataset:
    what = EXPECTED["dataset"]
    if isinstance(raw, Dataset):
        raw = raw.ref
    if not isinstance(raw, str):
        raise value_error(what, raw)
    if not raw.strip():
        raise value_error(what, raw, "empty")
    return Dataset(raw)
