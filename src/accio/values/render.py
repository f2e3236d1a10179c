"""Canonical human rendering of typed values (types.md §4 with the fixes of decisions.md §11).

Used by ``describe``, child run names and the web UI. Atomic renderings parse back with
:func:`accio.values.parse.parse_text`: exactly for every type except distance (rounded to
centimetres) and location (rounded to 7 decimals, about 1 cm).

Doubles use Python's shortest round-trip digits laid out in the JVM style, so ``1e-05`` reads
``1.0E-5`` as users of the original expect, without the original's 6-decimal rounding (which made
every |x| < 5e-7 read ``0.0``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from accio.values.parse import check_value
from accio.values.types import (
    INTEGER_TYPES,
    Dataset,
    DataType,
    Distance,
    Duration,
    Location,
    Timestamp,
)

#: Collections longer than this show only their first ``_SHOWN`` items, then ``<N more>``.
_MAX_SHOWN = 3
_SHOWN = 2


def render_double(x: float) -> str:
    """JVM ``Double.toString`` layout of the shortest digits that read back as ``x``.

    Plain with at least one fractional digit when 1e-3 <= |x| < 1e7, else ``d.dddE<exp>``.
    """
    x = float(x) + 0.0  # -0.0 renders as 0.0, like the value it equals
    if x == 0.0:
        return "0.0"
    sign, digit_tuple, exponent = Decimal(repr(x)).as_tuple()
    assert isinstance(exponent, int)  # finite: NaN and infinities are rejected upstream
    digits = "".join(map(str, digit_tuple))  # no leading zeros, as x != 0
    point = len(digits) + exponent  # where the decimal point falls within ``digits``
    digits = digits.rstrip("0")
    minus = "-" if sign else ""
    if 1e-3 <= abs(x) < 1e7:
        if point <= 0:
            body = "0." + "0" * -point + digits
        elif point >= len(digits):
            body = digits + "0" * (point - len(digits)) + ".0"
        else:
            body = digits[:point] + "." + digits[point:]
    else:
        body = f"{digits[0]}.{digits[1:] or '0'}E{point - 1}"
    return minus + body


def _render_distance(value: Distance) -> str:
    return f"{render_double(round(float(value.meters), 2))}.meters"


_DURATION_PARTS = (
    ("days", 86_400_000),
    ("hours", 3_600_000),
    ("minutes", 60_000),
    ("seconds", 1_000),
    ("milliseconds", 1),
)


def _render_duration(value: Duration) -> str:
    millis = value.millis
    if millis == 0:
        return "0.seconds"
    sign = "-" if millis < 0 else "+"
    rest = abs(millis)
    terms = []
    for unit, size in _DURATION_PARTS:
        amount, rest = divmod(rest, size)
        if amount:
            terms.append(f"{sign}{amount}.{unit}")
    text = "".join(terms)
    return text[1:] if sign == "+" else text


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _render_timestamp(value: Timestamp) -> str:
    seconds, millis = divmod(value.millis, 1000)
    dt = _EPOCH + timedelta(seconds=seconds)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
        f"T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{millis:03d}Z"
    )


def _render_degrees(x: float) -> str:
    text = f"{float(x) + 0.0:.7f}".rstrip("0")
    text = text + "0" if text.endswith(".") else text
    return "0.0" if text == "-0.0" else text


def _render_atomic(dtype: DataType, value: Any) -> str:
    base = dtype.base
    if base in INTEGER_TYPES:
        return str(int(value))
    if base == "double":
        return render_double(value)
    if base == "boolean":
        return "true" if value else "false"
    if base == "string":
        return str(value)
    if base == "distance":
        return _render_distance(value)
    if base == "duration":
        return _render_duration(value)
    if base == "timestamp":
        return _render_timestamp(value)
    if base == "location":
        assert isinstance(value, Location)
        return f"{_render_degrees(value.lat)},{_render_degrees(value.lng)}"
    if base == "dataset":
        assert isinstance(value, Dataset)
        return value.ref
    raise AssertionError(f"not an atomic type: {dtype}")


def _items(dtype: DataType, value: Any) -> list[str]:
    """Rendered elements; sets and maps in the natural order of their elements/keys."""
    if dtype.base == "list":
        return [_render_atomic(dtype.args[0], item) for item in value]
    if dtype.base == "set":
        return [_render_atomic(dtype.args[0], item) for item in sorted(value)]
    key_type, value_type = dtype.args
    return [
        f"{_render_atomic(key_type, key)}={_render_atomic(value_type, value[key])}"
        for key in sorted(value)
    ]


def render(dtype: DataType, value: Any) -> str:
    """The short rendering for humans: collections of more than 3 show 2 then ``<N more>``."""
    check_value(dtype, value)
    if not dtype.is_collection:
        return _render_atomic(dtype, value)
    items = _items(dtype, value)
    if len(items) > _MAX_SHOWN:
        items = [*items[:_SHOWN], f"<{len(items) - _SHOWN} more>"]
    return ", ".join(items)


def render_full(dtype: DataType, value: Any) -> str:
    """Like :func:`render` but never truncated (exports need every element)."""
    check_value(dtype, value)
    if not dtype.is_collection:
        return _render_atomic(dtype, value)
    return ", ".join(_items(dtype, value))


__all__ = ["render", "render_double", "render_full"]
