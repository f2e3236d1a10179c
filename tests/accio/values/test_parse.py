"""Parsing of JSON values and command-line text (types.md §2, §3, §7; decisions.md §10)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from accio.errors import ValueParseError
from accio.values.parse import TIMESTAMP_MAX, TIMESTAMP_MIN, check_value, parse_json, parse_text
from accio.values.types import (
    Dataset,
    Distance,
    Duration,
    FrozenMap,
    Location,
    T,
    Timestamp,
)


def fails(type_text: str, raw: Any, message: str) -> None:
    """``raw`` is rejected with a message containing ``message`` (a plain substring)."""
    with pytest.raises(ValueParseError, match=re.escape(message)):
        parse_json(T(type_text), raw)


# --- types.md §7: conformance examples ---


@pytest.mark.parametrize(
    ("type_text", "raw", "expected"),
    [
        ("distance", "200.meters", Distance(200.0)),
        ("distance", "1.5.miles", Distance(2414.016)),
        ("distance", "1.km", Distance(1000.0)),  # error in the original; alias extension here
        ("duration", "15.minutes", Duration(900_000)),
        ("duration", "4h", Duration(4 * 3_600_000)),  # §3.7 extension
        ("duration", 3600, Duration(3600)),  # milliseconds, not an hour
        ("timestamp", "2017-01-01T00:00:00Z", Timestamp(1483228800000)),
        ("boolean", "y", True),
        ("double", 0.00001, 1e-5),
        ("set(integer)", [3, 3, 1], frozenset({1, 3})),
        ("map(integer, double)", {"7": 0.5}, FrozenMap({7: 0.5})),
    ],
)
def test_conformance_examples(type_text: str, raw: Any, expected: Any) -> None:
    assert parse_json(T(type_text), raw) == expected


def test_definition_constants_example() -> None:
    """The ``inputs`` example of types.md §2, read from JSON text."""
    inputs = json.loads(
        """{"level": 13, "epsilon": "0.01", "complement": "yes", "lower": "45.70, 4.80",
            "startAt": "2016-05-02T00:00:00Z", "minDuration": "1.hour+15.minutes",
            "cellSize": "0.5.kilometers", "weights": {"home": 0.7, "work": 0.3}}"""
    )
    types = {
        "level": "integer",
        "epsilon": "double",
        "complement": "boolean",
        "lower": "location",
        "startAt": "timestamp",
        "minDuration": "duration",
        "cellSize": "distance",
        "weights": "map(string, double)",
    }
    got = {key: parse_json(T(types[key]), raw) for key, raw in inputs.items()}
    assert got == {
        "level": 13,
        "epsilon": 0.01,
        "complement": True,
        "lower": Location(45.7, 4.8),
        "startAt": Timestamp(1462147200000),
        "minDuration": Duration(4_500_000),
        "cellSize": Distance(500.0),
        "weights": FrozenMap({"home": 0.7, "work": 0.3}),
    }


# --- integer types ---


@pytest.mark.parametrize(
    ("type_text", "raw", "expected"),
    [
        ("byte", 12, 12),
        ("byte", -128, -128),
        ("byte", 127, 127),
        ("byte", "12", 12),
        ("integer", 42, 42),
        ("integer", 3.0, 3),
        ("integer", "12", 12),
        ("integer", " -7 ", -7),
        ("integer", "+7", 7),
        ("integer", 2**31 - 1, 2**31 - 1),
        ("long", 1234567890123, 1234567890123),
        ("long", "-9223372036854775808", -(2**63)),
        ("long", "9223372036854775807", 2**63 - 1),
        ("long", 1e18, 10**18),
    ],
)
def test_integers(type_text: str, raw: Any, expected: int) -> None:
    value = parse_json(T(type_text), raw)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(
    ("type_text", "raw", "why"),
    [
        ("byte", 300, "got 300 (out of range)"),
        ("byte", -129, "got -129 (out of range)"),
        ("byte", "128", "got '128' (out of range)"),
        ("integer", 2**31, "(out of range)"),
        ("long", 2**63, "(out of range)"),
        ("long", "9" * 40, "(out of range)"),
        ("long", 1e19, "(out of range)"),
        ("integer", 1.5, "got 1.5 (not a whole number)"),
        ("integer", 1.9, "got 1.9 (not a whole number)"),
        ("integer", float("nan"), "(not a whole number)"),
        ("integer", "1.5", "got '1.5' (write whole numbers without a decimal point or exponent)"),
        ("integer", "3.0", "(write whole numbers without a decimal point or exponent)"),
        ("integer", "1e3", "(write whole numbers without a decimal point or exponent)"),
        ("integer", "abc", "got 'abc'"),
        ("integer", "1_000", "got '1_000'"),
        ("integer", "", "got ''"),
        ("integer", True, "got true"),
        ("integer", None, "got null"),
        ("integer", [1], "got an array"),
        ("integer", {"a": 1}, "got an object"),
    ],
)
def test_integer_errors(type_text: str, raw: Any, why: str) -> None:
    fails(type_text, raw, why)


def test_integer_messages_say_what_was_expected() -> None:
    fails("byte", 300, "expected a byte (a whole number from -128 to 127), got 300")
    fails("integer", "x", "expected an integer (a whole number from -2147483648 to 2147483647)")
    fails("long", "x", "expected a long (a whole number from -9223372036854775808 to 92233720")


# --- double ---


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0.5, 0.5),
        (3, 3.0),
        (-3, -3.0),
        ("0.0001", 0.0001),
        ("1e-5", 1e-5),
        ("1.0E-5", 1e-5),
        ("-3", -3.0),
        (" 2.5 ", 2.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1E7", 1e7),
        ("1.23456789E8", 123456789.0),
    ],
)
def test_doubles(raw: Any, expected: float) -> None:
    value = parse_json(T("double"), raw)
    assert value == expected
    assert type(value) is float


def test_negative_zero_is_folded() -> None:
    assert str(parse_json(T("double"), -0.0)) == "0.0"
    assert str(parse_json(T("double"), "-0")) == "0.0"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("abc", "expected a double (e.g. 0.5 or 1e-5), got 'abc'"),
        ("NaN", "got 'NaN' (NaN and infinities are not allowed)"),
        ("Infinity", "(NaN and infinities are not allowed)"),
        ("-inf", "(NaN and infinities are not allowed)"),
        (float("nan"), "(NaN and infinities are not allowed)"),
        (float("inf"), "(NaN and infinities are not allowed)"),
        ("1e999", "(too large for a double)"),
        (10**400, "got a number with too many digits (too large for a double)"),
        ("1.5d", "got '1.5d'"),
        ("0x10", "got '0x10'"),
        ("1_0", "got '1_0'"),
        (True, "got true"),
        (None, "got null"),
    ],
)
def test_double_errors(raw: Any, why: str) -> None:
    fails("double", raw, why)


# --- string, boolean, dataset ---


def test_strings() -> None:
    assert parse_json(T("string"), "  spaced  ") == "  spaced  "
    assert parse_json(T("string"), "") == ""
    fails("string", 12, "expected a string, got 12 (a number; put it in quotes")
    fails("string", True, "expected a string, got true")
    fails("string", None, "expected a string, got null")


@pytest.mark.parametrize(
    "raw",
    [True, "true", "t", "yes", "y", "1", "True", "TRUE", "Yes", "Y", " T "],
)
def test_booleans_true(raw: Any) -> None:
    assert parse_json(T("boolean"), raw) is True


@pytest.mark.parametrize(
    "raw",
    [False, "false", "f", "no", "n", "0", "False", "NO", "N"],
)
def test_booleans_false(raw: Any) -> None:
    assert parse_json(T("boolean"), raw) is False


@pytest.mark.parametrize("raw", ["maybe", "", "on", 1, 0, None, [True]])
def test_boolean_errors(raw: Any) -> None:
    fails("boolean", raw, "expected a boolean (true or false), got")


def test_datasets() -> None:
    assert parse_json(T("dataset"), "file:///data/geolife") == Dataset("file:///data/geolife")
    assert parse_json(T("dataset"), "sha256:abc") == Dataset("sha256:abc")
    assert parse_json(T("dataset"), Dataset("x")) == Dataset("x")
    fails("dataset", "", "expected a dataset reference (a digest or URI, as a string), got ''")
    fails("dataset", "  ", "(empty)")
    fails("dataset", 3, "got 3")


# --- distance ---


@pytest.mark.parametrize(
    ("raw", "meters"),
    [
        ("200.meters", 200.0),
        ("1.meter", 1.0),
        ("1.METERS", 1.0),
        ("0.5.kilometers", 500.0),
        ("2.5.kilometer", 2500.0),
        ("1.5.miles", 2414.016),
        ("1.mile", 1609.344),
        ("1e3.meters", 1000.0),
        ("-5.meters", -5.0),
        ("1.1.km", 1100.0),
        (" 200.meters ", 200.0),
        # §3.7 extension: abbreviations, with or without the dot, and undotted full names
        ("1.km", 1000.0),
        ("200m", 200.0),
        ("200.m", 200.0),
        ("2.5.km", 2500.0),
        ("1.5km", 1500.0),
        ("3.mi", 3 * 1609.344),
        ("3MI", 3 * 1609.344),
        ("200meters", 200.0),
        ("1.0E7.meters", 1e7),
    ],
)
def test_distances(raw: str, meters: float) -> None:
    assert parse_json(T("distance"), raw) == Distance(meters)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (12, "got 12 (a number; distances need a unit)"),
        (1.5, "got 1.5 (a number; distances need a unit)"),
        ("12", "got '12'"),
        ("3 km", "got '3 km'"),
        ("1.parsecs", "got '1.parsecs' (unknown unit 'parsecs'; use meters, kilometers or miles)"),
        ("1.kms.x", "got '1.kms.x'"),
        ("1..km", "got '1..km'"),
        ("km", "got 'km'"),
        ("1.5.5.km", "got '1.5.5.km'"),
        ("1e99999.meters", "(too large)"),
        (None, "got null"),
        (True, "got true"),
    ],
)
def test_distance_errors(raw: Any, why: str) -> None:
    fails("distance", raw, why)
    fails("distance", raw, "expected a distance such as '200.meters' or '1.5.km'")


def test_distance_number_message_in_full() -> None:
    fails(
        "distance",
        12,
        "expected a distance such as '200.meters' or '1.5.km', "
        "got 12 (a number; distances need a unit)",
    )


# --- duration ---

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000


@pytest.mark.parametrize(
    ("raw", "millis"),
    [
        ("15.minutes", 15 * MIN),
        ("1.minute", MIN),
        ("1.hour+15.minutes", HOUR + 15 * MIN),
        ("1.hour+30.minutes", 90 * MIN),
        ("-5.seconds", -5000),
        ("1.days+1.hours+1.minutes+1.seconds+1.milliseconds", 90061001),
        ("3.seconds+600.milliseconds", 3600),
        ("-1.hours-30.minutes", -(HOUR + 30 * MIN)),
        (" - 1.hours - 30.minutes ", -(HOUR + 30 * MIN)),
        ("1.hours + 30.minutes", HOUR + 30 * MIN),
        ("+2.days", 2 * DAY),
        ("1.HOUR", HOUR),
        ("1.Hours-1.minute", HOUR - MIN),
        ("0.seconds", 0),
        ("1500.microseconds", 2),  # 1.5 ms, rounded to nearest (halves away from zero)
        ("1499.microseconds", 1),
        ("999999.nanoseconds", 1),
        ("1.nanosecond", 0),
        ("-1500.microseconds", -2),
        ("3600", 3600),  # a bare integer is milliseconds
        ("-3600", -3600),
        (3600, 3600),
        (3600.0, 3600),
        (-1, -1),
        # §3.7 extension: aliases with or without the dot, fractional amounts
        ("4h", 4 * HOUR),
        ("4.h", 4 * HOUR),
        ("15min", 15 * MIN),
        ("15.min", 15 * MIN),
        ("250ms", 250),
        ("30s", 30_000),
        ("30.sec", 30_000),
        ("2d", 2 * DAY),
        ("1h+30min", 90 * MIN),
        ("1.5.hours", 90 * MIN),
        ("1.5h", 90 * MIN),
        ("0.5.milliseconds", 1),
        ("-0.5.ms", -1),
        ("0.25.days", 6 * HOUR),
    ],
)
def test_durations(raw: Any, millis: int) -> None:
    assert parse_json(T("duration"), raw) == Duration(millis)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("soon", "expected a duration such as '15.minutes' or '4h', got 'soon'"),
        ("", "got ''"),
        ("1.hours 30.minutes", "got '1.hours 30.minutes'"),
        ("1.hours+", "got '1.hours+'"),
        ("+", "got '+'"),
        ("hours", "got 'hours'"),
        ("1.millis", "(unknown unit 'millis'; use days, hours, minutes, seconds, milliseconds"),
        ("1.weeks", "(unknown unit 'weeks'"),
        ("1 hour", "got '1 hour'"),
        ("1.5.5.hours", "got '1.5.5.hours'"),
        ("duration.top", "(duration.top, duration.bottom and duration.undefined are not"),
        ("duration.bottom", "are not supported"),
        ("1.hours+duration.undefined", "are not supported"),
        (1.5, "got 1.5 (a number is whole milliseconds)"),
        (2**63, "(out of range)"),
        ("106751991167301.days", "(out of range)"),
        (True, "got true"),
        (None, "got null"),
        ([1], "got an array"),
    ],
)
def test_duration_errors(raw: Any, why: str) -> None:
    fails("duration", raw, why)
    fails("duration", raw, "expected a duration such as '15.minutes' or '4h', got")


# --- timestamp ---


@pytest.mark.parametrize(
    ("raw", "millis"),
    [
        ("2017-01-01T00:00:00Z", 1483228800000),
        ("2017-01-01T00:00:00.000Z", 1483228800000),
        ("2017-01-01", 1483228800000),  # no offset means UTC
        ("2016-06-22", 1466553600000),
        ("2016-06-22T11:28", 1466594880000),
        ("2016-06-22T11:28:32", 1466594912000),
        ("2016-06-22T11:28:32.123+02:00", 1466587712123),
        ("2016-06-22T11:28:32.123-0230", 1466603912123),
        ("2016-06-22T11:28:32.123+02", 1466587712123),
        ("2016-06-22T11:28:32.1239Z", 1466594912123),  # sub-ms digits are truncated
        ("2016-06-22T11:28:32,5Z", 1466594912500),
        ("2016-06-22 11:28:32Z", 1466594912000),
        ("2016-06-22t11:28:32z", 1466594912000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
        ("0001-01-01T00:00:00Z", TIMESTAMP_MIN),
        ("9999-12-31T23:59:59.999Z", TIMESTAMP_MAX),
        (1483228800000, 1483228800000),
        (1483228800000.0, 1483228800000),
        ("1483228800000", 1483228800000),  # all digits: epoch milliseconds
        ("-1000", -1000),
        ("20160622", 20160622),  # digits are epoch ms, not ISO basic format
    ],
)
def test_timestamps(raw: Any, millis: int) -> None:
    assert parse_json(T("timestamp"), raw) == Timestamp(millis)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("yesterday", "got 'yesterday'"),
        ("2016-02-30", "got '2016-02-30' (day is out of range for month)"),
        ("2016-13-01", "month must be in 1..12"),
        ("2016-06-22T25:00", "hour must be in 0..23"),
        ("2016-06-22T11:28:32+25:00", "(invalid offset)"),
        ("2016-06-22T11:28:32+02:75", "(invalid offset)"),
        ("2016-06-22T11", "got '2016-06-22T11'"),
        ("2016-06-22Z", "got '2016-06-22Z'"),
        ("16-06-22", "got '16-06-22'"),
        ("2016-W25-3", "got '2016-W25-3'"),
        ("0001-01-01T00:00:00+01:00", "(out of range: years 1 to 9999 only)"),
        (TIMESTAMP_MAX + 1, "(out of range: years 1 to 9999 only)"),
        (1.5, "got 1.5 (a number is whole milliseconds)"),
        (True, "got true"),
        (None, "got null"),
    ],
)
def test_timestamp_errors(raw: Any, why: str) -> None:
    fails("timestamp", raw, why)
    fails("timestamp", raw, "expected a timestamp such as '2017-01-01T00:00:00Z' (ISO-8601) or")


# --- location ---


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("45.7,4.8", Location(45.7, 4.8)),
        ("45.70, 4.80", Location(45.7, 4.8)),
        (" -33.5 , 151 ", Location(-33.5, 151.0)),
        ("90,180", Location(90.0, 180.0)),
        ("-90,-180", Location(-90.0, -180.0)),
        ("1e-5,2E1", Location(1e-5, 20.0)),
    ],
)
def test_locations(raw: str, expected: Location) -> None:
    assert parse_json(T("location"), raw) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("95,3", "got '95,3' (latitude 95 is outside [-90, 90])"),
        ("45,-180.5", "(longitude -180.5 is outside [-180, 180])"),
        ("1,2,3", "(exactly one comma between latitude and longitude)"),
        ("45.7 4.8", "(exactly one comma"),
        ("a,b", "('a' is not a number)"),
        ("NaN,1", "('NaN' is not a number)"),
        ("1,", "('' is not a number)"),
        ([45.7, 4.8], "got an array (write it as a string 'lat,lng')"),
        (45.7, "got 45.7 (write it as a string 'lat,lng')"),
        (None, "got null"),
    ],
)
def test_location_errors(raw: Any, why: str) -> None:
    fails("location", raw, why)
    fails("location", raw, "expected a location such as '45.7,4.8' (latitude,longitude")


# --- collections ---


def test_lists_keep_order_and_duplicates() -> None:
    assert parse_json(T("list(integer)"), [3, "3", 1]) == (3, 3, 1)
    assert parse_json(T("list(duration)"), ["1h", 5]) == (Duration(HOUR), Duration(5))
    assert parse_json(T("list(string)"), []) == ()
    assert parse_json(T("list(double)"), (1, 2.5)) == (1.0, 2.5)


def test_sets_collapse_duplicates() -> None:
    value = parse_json(T("set(integer)"), [3, 3, 1])
    assert value == frozenset({1, 3})
    assert isinstance(value, frozenset)
    assert parse_json(T("set(distance)"), ["1.km", "1000.meters"]) == frozenset({Distance(1e3)})
    assert parse_json(T("set(string)"), frozenset({"a"})) == frozenset({"a"})


def test_maps_parse_keys_per_key_type() -> None:
    value = parse_json(T("map(integer, double)"), {"7": 0.5})
    assert value == FrozenMap({7: 0.5})
    assert isinstance(value, FrozenMap)
    assert parse_json(T("map(string, double)"), {"home": 0.7, "work": "0.3"}) == FrozenMap(
        {"home": 0.7, "work": 0.3}
    )
    assert parse_json(T("map(duration, boolean)"), {"1h": "yes", "60.minutes+1.ms": True}) == (
        FrozenMap({Duration(HOUR): True, Duration(HOUR + 1): True})
    )
    assert parse_json(T("map(integer, string)"), FrozenMap({7: "x"})) == FrozenMap({7: "x"})
    assert parse_json(T("map(string, integer)"), {}) == FrozenMap({})


@pytest.mark.parametrize(
    ("type_text", "raw", "message"),
    [
        ("list(integer)", 12, "expected a list(integer) (a JSON array), got 12"),
        ("list(integer)", "1,2", "expected a list(integer) (a JSON array), got '1,2'"),
        ("list(integer)", frozenset({1}), "got an array"),
        ("set(integer)", {"a": 1}, "expected a set(integer) (a JSON array), got an object"),
        ("map(string, double)", [1], "expected a map(string, double) (a JSON object), got an"),
        ("list(integer)", None, "got null"),
        (
            "list(integer)",
            [1, "x"],
            "item [1]: expected an integer (a whole number from -2147483648 to 2147483647), "
            "got 'x'",
        ),
        ("set(double)", [1, None], "item [1]: expected a double (e.g. 0.5 or 1e-5), got null"),
        ("map(string, double)", {"a": "b"}, "value of 'a': expected a double"),
        ("map(integer, double)", {"x": 1}, "key 'x': expected an integer"),
        ("map(integer, double)", {"7": 1, "07": 2}, "key '07': duplicate key (same integer as"),
    ],
)
def test_collection_errors(type_text: str, raw: Any, message: str) -> None:
    fails(type_text, raw, message)


# --- parse_text: command-line values ---


@pytest.mark.parametrize(
    ("type_text", "text", "expected"),
    [
        ("byte", "12", 12),
        ("integer", "-12", -12),
        ("long", "1234567890123", 1234567890123),
        ("double", "0.0001", 0.0001),
        ("double", "1.0E-5", 1e-5),
        ("double", "-3", -3.0),
        ("string", " verbatim, with spaces ", " verbatim, with spaces "),
        ("string", "12", "12"),
        ("boolean", "Yes", True),
        ("boolean", "0", False),
        ("distance", "1.5.km", Distance(1500.0)),
        ("duration", "15.minutes", Duration(15 * MIN)),
        ("duration", "3600", Duration(3600)),
        ("timestamp", "2017-01-01T00:00:00Z", Timestamp(1483228800000)),
        ("timestamp", "1483228800000", Timestamp(1483228800000)),
        ("location", "45.7, 4.8", Location(45.7, 4.8)),
        ("dataset", "/data/x.csv", Dataset("/data/x.csv")),
    ],
)
def test_parse_text(type_text: str, text: str, expected: Any) -> None:
    assert parse_text(T(type_text), text) == expected


@pytest.mark.parametrize("type_text", ["list(integer)", "set(string)", "map(string, double)"])
def test_parse_text_rejects_collections(type_text: str) -> None:
    with pytest.raises(ValueParseError) as info:
        parse_text(T(type_text), "1,2")
    assert str(info.value) == (
        "collection values cannot be given on the command line; use a run definition file"
    )


def test_parse_text_errors_match_json_strings() -> None:
    with pytest.raises(ValueParseError, match=re.escape("got 'abc'")):
        parse_text(T("double"), "abc")
    with pytest.raises(ValueParseError, match="expected command-line text, got 12"):
        parse_text(T("integer"), 12)  # type: ignore[arg-type]


def test_errors_exit_with_definition_code() -> None:
    with pytest.raises(ValueParseError) as info:
        parse_json(T("integer"), "x")
    assert info.value.exit_code == 2


# --- check_value: values already in Python form ---


@pytest.mark.parametrize(
    ("type_text", "value"),
    [
        ("byte", -128),
        ("long", 2**63 - 1),
        ("double", 0.5),
        ("double", 3),  # equal to 3.0, accepted
        ("string", ""),
        ("boolean", False),
        ("distance", Distance(2.5)),
        ("duration", Duration(-5)),
        ("timestamp", Timestamp(0)),
        ("location", Location(90.0, -180.0)),
        ("dataset", Dataset("sha256:ab")),
        ("list(integer)", (1, 2)),
        ("set(string)", frozenset({"a"})),
        ("map(string, double)", FrozenMap({"a": 1.0})),
    ],
)
def test_check_value_accepts(type_text: str, value: Any) -> None:
    check_value(T(type_text), value)


@pytest.mark.parametrize(
    ("type_text", "value", "message"),
    [
        ("byte", 128, "(out of range)"),
        ("integer", True, "expected a value of type integer (an int), got True"),
        ("integer", 1.0, "(an int)"),
        ("double", float("nan"), "(NaN and infinities are not allowed)"),
        ("double", "0.5", "(not a number)"),
        ("string", 1, "(a str)"),
        ("boolean", 1, "(a bool)"),
        ("distance", 5.0, "(a Distance)"),
        ("distance", Distance(float("inf")), "(NaN and infinities are not allowed)"),
        ("duration", 5, "(a Duration)"),
        ("duration", Duration(2**63), "(invalid or out of range)"),
        ("timestamp", Timestamp(TIMESTAMP_MAX + 1), "(invalid or out of range)"),
        ("timestamp", Duration(0), "(a Timestamp)"),
        ("location", Location(91.0, 0.0), "(out of range)"),
        ("dataset", Dataset(""), "(a Dataset with a reference)"),
        ("dataset", "x", "(a Dataset with a reference)"),
        ("list(integer)", [1], "(a tuple)"),
        ("list(integer)", (1, "2"), "item [1]: expected a value of type integer (an int)"),
        ("set(integer)", {1}, "(a frozenset)"),
        ("map(string, double)", {"a": 1.0}, "(a FrozenMap)"),
        (
            "map(string, double)",
            FrozenMap({"a": "x"}),
            "entry 'a': expected a value of type double",
        ),
    ],
)
def test_check_value_rejects(type_text: str, value: Any, message: str) -> None:
    with pytest.raises(ValueParseError, match=re.escape(message)):
        check_value(T(type_text), value)


def test_typed_values_pass_through_parse_json() -> None:
    """Operator defaults may be written in Python form as well as JSON form."""
    assert parse_json(T("duration"), Duration(5)) == Duration(5)
    assert parse_json(T("distance"), Distance(5)) == Distance(5.0)
    assert parse_json(T("timestamp"), Timestamp(5)) == Timestamp(5)
    assert parse_json(T("location"), Location(1, 2)) == Location(1.0, 2.0)
    with pytest.raises(ValueParseError):
        parse_json(T("duration"), Duration(2**64))
