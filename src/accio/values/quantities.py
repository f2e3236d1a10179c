"""Quantities with units or structure: distances, durations, timestamps and locations.

Accepted spellings follow types.md §3 plus the aliases of the §3.7 extension (``200m``, ``4h``,
``15min``); every failure says what was expected.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

from accio.values.check import check_value
from accio.values.scalars import (
    DOUBLE_RE,
    EXPECTED,
    INT_RE,
    LONG_MAX,
    LONG_MIN,
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    is_number,
    ms_since_epoch,
    value_error,
)
from accio.values.types import DataType, Distance, Duration, Location, Timestamp

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


def parse_distance(raw: Any) -> Distance:
    what = EXPECTED["distance"]
    if isinstance(raw, Distance):
        check_value(DataType("distance"), raw)
        return Distance(float(raw.meters) + 0.0)
    if is_number(raw):
        raise value_error(what, raw, "a number; distances need a unit")
    if not isinstance(raw, str):
        raise value_error(what, raw)
    match = _DISTANCE_RE.fullmatch(raw.strip())
    if not match:
        raise value_error(what, raw)
    number, unit = match.groups()
    factor = _distance_unit(unit)
    if factor is None:
        raise value_error(what, raw, f"unknown unit {unit!r}; use meters, kilometers or miles")
    meters = float(_EXACT.multiply(Decimal(number), factor))
    if not math.isfinite(meters):
        raise value_error(what, raw, "too large")
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
            raise value_error(what, raw, "a number is whole milliseconds")
        return int(raw)
    assert isinstance(raw, int)
    return raw


def parse_duration(raw: Any) -> Duration:
    what = EXPECTED["duration"]
    if isinstance(raw, Duration):
        check_value(DataType("duration"), raw)
        return raw
    if is_number(raw):
        millis = _whole_millis(what, raw)
    elif isinstance(raw, str):
        millis = _parse_duration_text(raw)
    else:
        raise value_error(what, raw)
    if not LONG_MIN <= millis <= LONG_MAX:
        raise value_error(what, raw, "out of range")
    return Duration(millis)


def _parse_duration_text(raw: str) -> int:
    what = EXPECTED["duration"]
    text = raw.strip().lower()
    if INT_RE.fullmatch(text):  # a bare integer is milliseconds, like a JSON number
        if len(text) > 25:
            raise value_error(what, raw, "out of range")
        return int(text)
    if "duration." in text:
        raise value_error(
            what, raw, "duration.top, duration.bottom and duration.undefined are not supported"
        )
    total = Fraction(0)
    pos = 0
    while True:
        match = _DURATION_TERM_RE.match(text, pos)
        if not match or (match.group(1) is None and pos > 0):
            raise value_error(what, raw)
        sign, amount, unit = match.groups()
        nanos = _duration_unit(unit)
        if nanos is None:
            raise value_error(
                what,
                raw,
                f"unknown unit {unit!r}; use days, hours, minutes, seconds, milliseconds, "
                "microseconds or nanoseconds",
            )
        try:
            term = Fraction(amount) * nanos
        except ValueError:  # more digits than int() converts
            raise value_error(what, raw, "out of range") from None
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


def parse_timestamp(raw: Any) -> Timestamp:
    what = EXPECTED["timestamp"]
    if isinstance(raw, Timestamp):
        check_value(DataType("timestamp"), raw)
        return raw
    if is_number(raw):
        millis = _whole_millis(what, raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if INT_RE.fullmatch(text):  # all digits: epoch milliseconds
            if len(text) > 25:
                raise value_error(what, raw, "out of range")
            millis = int(text)
        else:
            millis = _parse_iso(raw, text)
    else:
        raise value_error(what, raw)
    if not TIMESTAMP_MIN <= millis <= TIMESTAMP_MAX:
        raise value_error(what, raw, "out of range: years 1 to 9999 only")
    return Timestamp(millis)


def _parse_iso(raw: str, text: str) -> int:
    what = EXPECTED["timestamp"]
    match = _ISO_RE.fullmatch(text)
    if not match:
        raise value_error(what, raw)
    g = match.groupdict()
    tz: timezone = UTC
    if g["tz"] and g["tz"] not in "Zz":
        digits = g["tz"][1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if offset >= timedelta(hours=24) or int(digits[2:] or 0) >= 60:
            raise value_error(what, raw, "invalid offset")
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
        raise value_error(what, raw, str(exc)) from None
    # Sub-millisecond digits are truncated, as an instant "in" a millisecond belongs to it.
    frac_ms = int((g["frac"] or "").ljust(9, "0")) // _NANOS_PER_MS
    return ms_since_epoch(dt) + frac_ms


def parse_location(raw: Any) -> Location:
    what = EXPECTED["location"]
    if isinstance(raw, Location):
        check_value(DataType("location"), raw)
        return Location(float(raw.lat) + 0.0, float(raw.lng) + 0.0)
    if not isinstance(raw, str):
        why = "write it as a string 'lat,lng'" if raw is not None else None
        raise value_error(what, raw, why)
    parts = raw.split(",")
    if len(parts) != 2:
        raise value_error(what, raw, "exactly one comma between latitude and longitude")
    coords: list[float] = []
    for part in parts:
        text = part.strip()
        if not DOUBLE_RE.fullmatch(text):
            raise value_error(what, raw, f"{text!r} is not a number")
        coords.append(float(text) + 0.0)
    lat, lng = coords
    if not -90.0 <= lat <= 90.0:
        raise value_error(what, raw, f"latitude {parts[0].strip()} is outside [-90, 90]")
    if not -180.0 <= lng <= 180.0:
        raise value_error(what, raw, f"longitude {parts[1].strip()} is outside [-180, 180]")
    return Location(lat, lng)
