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

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

from accio.errors import ValueParseError
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

# --- shared grammar ---

_INT_RE = re.compile(r"[+-]?[0-9]+")
_DOUBLE_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = frozenset(
    s + w for s in ("", "+", "-") for w in ("nan", "inf", "infinity")
)  # spellings float() knows; named so the message can say why they fail

LONG_MIN, LONG_MAX = INTEGER_TYPES["long"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms_since_epoch(dt: datetime) -> int:
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


#: Timestamps are limited to what ISO-8601 with a 4-digit year can show (years 1 to 9999, UTC).
TIMESTAMP_MIN = _ms_since_epoch(datetime(1, 1, 1, tzinfo=UTC))
TIMESTAMP_MAX = _ms_since_epoch(datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC))

_EXPECTED: dict[str, str] = {
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


def _got(raw: Any) -> str:
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


def _error(what: str, raw: Any, why: str | None = None) -> ValueParseError:
    suffix = f" ({why})" if why else ""
    return ValueParseError(f"expected {what}, got {_got(raw)}{suffix}")


def _is_number(raw: Any) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


# --- atomic types ---


def _parse_integer(base: str, raw: Any) -> int:
    what = _EXPECTED[base]
    lo, hi = INTEGER_TYPES[base]
    if isinstance(raw, bool):
        raise _error(what, raw)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            raise _error(what, raw, "not a whole number")
        value = int(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if _INT_RE.fullmatch(text):
            if len(text) > 25:  # far beyond 64 bits; avoids int()'s digit limit
                raise _error(what, raw, "out of range")
            value = int(text)
        elif _DOUBLE_RE.fullmatch(text):
            raise _error(what, raw, "write whole numbers without a decimal point or exponent")
        else:
            raise _error(what, raw)
    else:
        raise _error(what, raw)
    if not lo <= value <= hi:
        raise _error(what, raw, "out of range")
    return value


def _parse_double(raw: Any) -> float:
    what = _EXPECTED["double"]
    if isinstance(raw, bool):
        raise _error(what, raw)
    if isinstance(raw, int):
        try:
            value = float(raw)
        except OverflowError:
            raise _error(what, raw, "too large for a double") from None
    elif isinstance(raw, float):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if text.lower() in _NON_FINITE:
            raise _error(what, raw, "NaN and infinities are not allowed")
        if not _DOUBLE_RE.fullmatch(text):
            raise _error(what, raw)
        value = float(text)
        if math.isinf(value):
            raise _error(what, raw, "too large for a double")
    else:
        raise _error(what, raw)
    if not math.isfinite(value):
        raise _error(what, raw, "NaN and infinities are not allowed")
    return value + 0.0  # folds -0.0 into 0.0: equal values must encode and hash alike


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def _parse_boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _error(_EXPECTED["boolean"], raw, "accepted: true/false, yes/no, t/f, y/n, 1/0")


def _parse_string(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    why = "a number; put it in quotes to make it a string" if _is_number(raw) else None
    raise _error(_EXPECTED["string"], raw, why)


def _parse_dataset(raw: Any) -> Dataset:
    what = _EXPECTED["dataset"]
    if isinstance(raw, Dataset):
        raw = raw.ref
    if not isinstance(raw, str):
        raise _error(what, raw)
    if not raw.strip():
        raise _error(what, raw, "empty")
    return Dataset(raw)


# Distance: "<number>[.]<unit>"; the original accepts only the dotted full unit names (§3.2).
_DISTANCE_RE = re.compile(
    r"([+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,5})?)\.?([A-Za-z]+)"
)
_DISTANCE_UNITS: dict[str, Decimal] = {
    "meter": Decimal(1),
    "kilometer": Decimal(1000),
    "mile": Decimal("1609.344"),
}
_DISTANCE_ALIASES = {"m": "meter", "km": "kilometer", "mi": "mile"}  # extension (§3.7)
_EXACT = Context(prec=60, Emax=999_999, Emin=-999_999)


def _distance_unit(unit: str) -> Decimal | None:
    unit = unit.lower()
    unit = _DISTANCE_ALIASES.get(unit, unit)
    if unit not in _DISTANCE_UNITS and unit.endswith("s"):
        unit = unit[:-1]
    return _DISTANCE_UNITS.get(unit)


def _parse_distance(raw: Any) -> Distance:
    what = _EXPECTED["distance"]
    if isinstance(raw, Distance):
        check_value(DataType("distance"), raw)
        return Distance(float(raw.meters) + 0.0)
    if _is_number(raw):
        raise _error(what, raw, "a number; distances need a unit")
    if not isinstance(raw, str):
        raise _error(what, raw)
    match = _DISTANCE_RE.fullmatch(raw.strip())
    if not match:
        raise _error(what, raw)
    number, unit = match.groups()
    factor = _distance_unit(unit)
    if factor is None:
        raise _error(what, raw, f"unknown unit {unit!r}; use meters, kilometers or miles")
    meters = float(_EXACT.multiply(Decimal(number), factor))
    if not math.isfinite(meters):
        raise _error(what, raw, "too large")
    return Distance(meters + 0.0)


# Duration: "[sign] AMOUNT[.]UNIT (SIGN AMOUNT[.]UNIT)*" (§3.1, plus the §3.7 extension).
_DURATION_TERM_RE = re.compile(r"\s*([+-])?\s*([0-9]+(?:\.[0-9]+)?)\.?([a-z]+)\s*")
_NANOS: dict[str, int] = {
    "nanosecond": 1,
    "microsecond": 1_000,
    "millisecond": 1_000_000,
    "second": 1_000_000_000,
    "minute": 60_000_000_000,
    "hour": 3_600_000_000_000,
    "day": 86_400_000_000_000,
}
_DURATION_ALIASES = {  # extension (§3.7)
    "ms": "millisecond",
    "s": "second",
    "sec": "second",
    "min": "minute",
    "h": "hour",
    "d": "day",
}
_NANOS_PER_MS = 1_000_000


def _duration_unit(unit: str) -> int | None:
    unit = _DURATION_ALIASES.get(unit, unit)
    if unit not in _NANOS and unit.endswith("s"):
        unit = unit[:-1]
    return _NANOS.get(unit)


def _round_half_away(value: Fraction) -> int:
    """Nearest integer, halves away from zero: symmetric for negative spans."""
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return -magnitude if value < 0 else magnitude


def _whole_millis(what: str, raw: Any) -> int:
    """A JSON number of milliseconds (durations and timestamps)."""
    if isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            raise _error(what, raw, "a number is whole milliseconds")
        return int(raw)
    assert isinstance(raw, int)
    return raw


def _parse_duration(raw: Any) -> Duration:
    what = _EXPECTED["duration"]
    if isinstance(raw, Duration):
        check_value(DataType("duration"), raw)
        return raw
    if _is_number(raw):
        millis = _whole_millis(what, raw)
    elif isinstance(raw, str):
        millis = _parse_duration_text(raw)
    else:
        raise _error(what, raw)
    if not LONG_MIN <= millis <= LONG_MAX:
        raise _error(what, raw, "out of range")
    return Duration(millis)


def _parse_duration_text(raw: str) -> int:
    what = _EXPECTED["duration"]
    text = raw.strip().lower()
    if _INT_RE.fullmatch(text):  # a bare integer is milliseconds, like a JSON number
        if len(text) > 25:
            raise _error(what, raw, "out of range")
        return int(text)
    if "duration." in text:
        raise _error(
            what, raw, "duration.top, duration.bottom and duration.undefined are not supported"
        )
    total = Fraction(0)
    pos = 0
    while True:
        match = _DURATION_TERM_RE.match(text, pos)
        if not match or (match.group(1) is None and pos > 0):
            raise _error(what, raw)
        sign, amount, unit = match.groups()
        nanos = _duration_unit(unit)
        if nanos is None:
            raise _error(
                what,
                raw,
                f"unknown unit {unit!r}; use days, hours, minutes, seconds, milliseconds, "
                "microseconds or nanoseconds",
            )
        try:
            term = Fraction(amount) * nanos
        except ValueError:  # more digits than int() converts
            raise _error(what, raw, "out of range") from None
        total += -term if sign == "-" else term
        pos = match.end()
        if pos == len(text):
            break
    return _round_half_away(total / _NANOS_PER_MS)


# Timestamp: ISO-8601 extended format, date with optional time; no offset means UTC (§3.3).
_ISO_RE = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[Tt ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})"
    r"(?::(?P<s>[0-9]{2})(?:[.,](?P<frac>[0-9]{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)


def _parse_timestamp(raw: Any) -> Timestamp:
    what = _EXPECTED["timestamp"]
    if isinstance(raw, Timestamp):
        check_value(DataType("timestamp"), raw)
        return raw
    if _is_number(raw):
        millis = _whole_millis(what, raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if _INT_RE.fullmatch(text):  # all digits: epoch milliseconds
            if len(text) > 25:
                raise _error(what, raw, "out of range")
            millis = int(text)
        else:
            millis = _parse_iso(raw, text)
    else:
        raise _error(what, raw)
    if not TIMESTAMP_MIN <= millis <= TIMESTAMP_MAX:
        raise _error(what, raw, "out of range: years 1 to 9999 only")
    return Timestamp(millis)


def _parse_iso(raw: str, text: str) -> int:
    what = _EXPECTED["timestamp"]
    match = _ISO_RE.fullmatch(text)
    if not match:
        raise _error(what, raw)
    g = match.groupdict()
    tz: timezone = UTC
    if g["tz"] and g["tz"] not in "Zz":
        digits = g["tz"][1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if offset >= timedelta(hours=24) or int(digits[2:] or 0) >= 60:
            raise _error(what, raw, "invalid offset")
        tz = timezone(-offset if g["tz"][0] == "-" else offset)
    try:
        dt = datetime(
            int(g["y"]),
            int(g["mo"]),
            int(g["d"]),
            int(g["h"] or 0),
            int(g["mi"] or 0),
            int(g["s"] or 0),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise _error(what, raw, str(exc)) from None
    # Sub-millisecond digits are truncated, as an instant "in" a millisecond belongs to it.
    frac_ms = int((g["frac"] or "").ljust(9, "0")) // _NANOS_PER_MS
    return _ms_since_epoch(dt) + frac_ms


def _parse_location(raw: Any) -> Location:
    what = _EXPECTED["location"]
    if isinstance(raw, Location):
        check_value(DataType("location"), raw)
        return Location(float(raw.lat) + 0.0, float(raw.lng) + 0.0)
    if not isinstance(raw, str):
        why = "write it as a string 'lat,lng'" if raw is not None else None
        raise _error(what, raw, why)
    parts = raw.split(",")
    if len(parts) != 2:
        raise _error(what, raw, "exactly one comma between latitude and longitude")
    coords: list[float] = []
    for part in parts:
        text = part.strip()
        if not _DOUBLE_RE.fullmatch(text):
            raise _error(what, raw, f"{text!r} is not a number")
        coords.append(float(text) + 0.0)
    lat, lng = coords
    if not -90.0 <= lat <= 90.0:
        raise _error(what, raw, f"latitude {parts[0].strip()} is outside [-90, 90]")
    if not -180.0 <= lng <= 180.0:
        raise _error(what, raw, f"longitude {parts[1].strip()} is outside [-180, 180]")
    return Location(lat, lng)


_ATOMIC: dict[str, Callable[[Any], Any]] = {
    "byte": lambda raw: _parse_integer("byte", raw),
    "integer": lambda raw: _parse_integer("integer", raw),
    "long": lambda raw: _parse_integer("long", raw),
    "double": _parse_double,
    "string": _parse_string,
    "boolean": _parse_boolean,
    "distance": _parse_distance,
    "duration": _parse_duration,
    "timestamp": _parse_timestamp,
    "location": _parse_location,
    "dataset": _parse_dataset,
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
        raise _error(f"a {dtype} (a JSON array)", raw)
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
        raise _error(f"a {dtype} (a JSON object)", raw)
    key_type, value_type = dtype.args
    data: dict[Any, Any] = {}
    for raw_key, raw_value in raw.items():
        try:
            key = parse_json(key_type, raw_key)
        except ValueParseError as exc:
            raise ValueParseError(f"key {_got(raw_key)}: {exc}") from None
        if key in data:
            raise ValueParseError(
                f"key {_got(raw_key)}: duplicate key (same {key_type} as another)"
            )
        try:
            data[key] = parse_json(value_type, raw_value)
        except ValueParseError as exc:
            raise ValueParseError(f"value of {_got(raw_key)}: {exc}") from None
    return FrozenMap(data)


def parse_text(dtype: DataType, text: str) -> Any:
    """The ``v`` of a command-line ``k=v``, read as a JSON string of that type would be."""
    if dtype.is_collection:
        raise ValueParseError(
            "collection values cannot be given on the command line; use a run definition file"
        )
    if not isinstance(text, str):
        raise ValueParseError(f"expected command-line text, got {_got(text)}")
    return parse_json(dtype, text)


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
            raise ValueParseError(f"expected {_EXPECTED[base]}, got {value!r} (out of range)")
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


__all__ = ["TIMESTAMP_MAX", "TIMESTAMP_MIN", "check_value", "parse_json", "parse_text"]
