"""Human rendering (types.md §4, decisions.md §11) and the canonical JSON form (types.md §5)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from accio.errors import ValueParseError
from accio.values.canonical import canonical_json, from_canonical, to_canonical, typed_json
from accio.values.parse import TIMESTAMP_MAX, TIMESTAMP_MIN, parse_json, parse_text
from accio.values.render import render, render_double, render_full
from accio.values.types import (
    Dataset,
    Distance,
    Duration,
    FrozenMap,
    Location,
    T,
    Timestamp,
)

# --- doubles ---


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.0, "0.0"),
        (-0.0, "0.0"),
        (1.0, "1.0"),
        (-1.0, "-1.0"),
        (0.5, "0.5"),
        (0.001, "0.001"),
        (-0.001, "-0.001"),
        (9999999.0, "9999999.0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (100.0, "100.0"),
        (12345.678, "12345.678"),
        (1e-5, "1.0E-5"),
        (0.00001, "1.0E-5"),
        (1e7, "1.0E7"),
        (-1e7, "-1.0E7"),
        (123456789.0, "1.23456789E8"),
        (-2.5e-4, "-2.5E-4"),
        (0.00099, "9.9E-4"),
        (1.234e-7, "1.234E-7"),  # the original rounded this to 0.0
        (4e-7, "4.0E-7"),
        (1e300, "1.0E300"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
        (5e-324, "5.0E-324"),  # shortest digits; the JVM writes 4.9E-324
        (1e16, "1.0E16"),
        (123456789012345680.0, "1.2345678901234568E17"),
        (3, "3.0"),  # an int where a double is expected
    ],
)
def test_render_double(x: float, text: str) -> None:
    assert render_double(x) == text
    assert render(T("double"), x) == text


@pytest.mark.parametrize(
    "x", [1e-5, 0.001, 1.0, 9999999.0, 1e7, 0.1 + 0.2, -2.5e-4, 5e-324, 2.0**-1074 * 3, 1 / 3]
)
def test_render_double_reads_back_exactly(x: float) -> None:
    assert parse_text(T("double"), render_double(x)) == x
    assert float(render_double(x)) == x


# --- other atomic types ---


@pytest.mark.parametrize(
    ("type_text", "value", "text"),
    [
        ("byte", -128, "-128"),
        ("integer", 42, "42"),
        ("long", 1234567890123, "1234567890123"),
        ("boolean", True, "true"),
        ("boolean", False, "false"),
        ("string", "a/b, c", "a/b, c"),
        ("string", "", ""),
        ("dataset", Dataset("file:///data/geolife"), "file:///data/geolife"),
        ("distance", Distance(200.0), "200.0.meters"),
        ("distance", Distance(2414.016), "2414.02.meters"),
        ("distance", Distance(2500), "2500.0.meters"),
        ("distance", Distance(1234.5678), "1234.57.meters"),
        ("distance", Distance(0.004), "0.0.meters"),
        ("distance", Distance(-5.5), "-5.5.meters"),
        ("distance", Distance(1.5e7), "1.5E7.meters"),
        ("duration", Duration(90061001), "1.days+1.hours+1.minutes+1.seconds+1.milliseconds"),
        ("duration", Duration(3600), "3.seconds+600.milliseconds"),
        ("duration", Duration(0), "0.seconds"),
        ("duration", Duration(-5_400_000), "-1.hours-30.minutes"),
        ("duration", Duration(900_000), "15.minutes"),
        ("duration", Duration(4_500_000), "1.hours+15.minutes"),
        ("duration", Duration(2 * 86_400_000 + 5), "2.days+5.milliseconds"),
        ("duration", Duration(-1), "-1.milliseconds"),
        ("timestamp", Timestamp(1483228800000), "2017-01-01T00:00:00.000Z"),
        ("timestamp", Timestamp(1466587712123), "2016-06-22T09:28:32.123Z"),
        ("timestamp", Timestamp(0), "1970-01-01T00:00:00.000Z"),
        ("timestamp", Timestamp(-1), "1969-12-31T23:59:59.999Z"),
        ("timestamp", Timestamp(TIMESTAMP_MIN), "0001-01-01T00:00:00.000Z"),
        ("timestamp", Timestamp(TIMESTAMP_MAX), "9999-12-31T23:59:59.999Z"),
        ("location", Location(45.7, 4.8), "45.7,4.8"),
        ("location", Location(45.70000001, 4.0), "45.7,4.0"),
        ("location", Location(-33.8688197, 151.2092955), "-33.8688197,151.2092955"),
        ("location", Location(-0.0, 0.0), "0.0,0.0"),
        ("location", Location(-0.00000001, 1e-7), "0.0,0.0000001"),
        ("location", Location(90.0, -180.0), "90.0,-180.0"),
    ],
)
def test_render_atomic(type_text: str, value: Any, text: str) -> None:
    assert render(T(type_text), value) == text
    assert render_full(T(type_text), value) == text


@pytest.mark.parametrize(
    ("type_text", "text"),
    [
        ("distance", "200.meters"),
        ("distance", "1.5.miles"),
        ("duration", "15.minutes"),
        ("duration", "4h"),
        ("duration", "1.5.hours"),
        ("timestamp", "2017-01-01T00:00:00Z"),
        ("double", "0.00001"),
        ("boolean", "y"),
        ("location", "45.70, 4.80"),
    ],
)
def test_rendering_is_stable_under_reparsing(type_text: str, text: str) -> None:
    """Rendered text parses back to a value that renders the same (the canonical form)."""
    dtype = T(type_text)
    once = render(dtype, parse_text(dtype, text))
    assert render(dtype, parse_text(dtype, once)) == once


def test_conformance_renderings() -> None:
    """The rendered column of types.md §7."""
    assert render(T("distance"), parse_json(T("distance"), "200.meters")) == "200.0.meters"
    assert render(T("distance"), parse_json(T("distance"), "1.5.miles")) == "2414.02.meters"
    assert render(T("duration"), parse_json(T("duration"), "15.minutes")) == "15.minutes"
    ts = parse_json(T("timestamp"), "2017-01-01T00:00:00Z")
    assert render(T("timestamp"), ts) == "2017-01-01T00:00:00.000Z"
    assert render(T("double"), parse_json(T("double"), 0.00001)) == "1.0E-5"
    assert render(T("set(integer)"), parse_json(T("set(integer)"), [3, 3, 1])) == "1, 3"
    assert render(T("map(integer, double)"), FrozenMap({7: 0.5})) == "7=0.5"


# --- collections ---


@pytest.mark.parametrize(
    ("type_text", "value", "short", "full"),
    [
        ("list(integer)", (1, 2, 3, 4, 5), "1, 2, <3 more>", "1, 2, 3, 4, 5"),
        ("list(integer)", (1, 2, 3), "1, 2, 3", "1, 2, 3"),
        ("list(integer)", (1, 2, 3, 4), "1, 2, <2 more>", "1, 2, 3, 4"),
        ("list(integer)", (), "", ""),
        ("list(integer)", (3, 1, 3), "3, 1, 3", "3, 1, 3"),
        ("list(double)", (1e-5, 0.5), "1.0E-5, 0.5", "1.0E-5, 0.5"),
        (
            "list(duration)",
            (Duration(3_600_000), Duration(0)),
            "1.hours, 0.seconds",  # scalar rules inside collections, not PT3600S
            "1.hours, 0.seconds",
        ),
        ("set(integer)", frozenset({10, 2, 1}), "1, 2, 10", "1, 2, 10"),
        ("set(string)", frozenset({"b", "a", "c", "d"}), "a, b, <2 more>", "a, b, c, d"),
        (
            "set(distance)",
            frozenset({Distance(1000.0), Distance(5.0)}),
            "5.0.meters, 1000.0.meters",
            "5.0.meters, 1000.0.meters",
        ),
        (
            "map(string, double)",
            FrozenMap({"work": 0.3, "home": 0.7}),
            "home=0.7, work=0.3",
            "home=0.7, work=0.3",
        ),
        (
            "map(integer, boolean)",
            FrozenMap({4: True, 3: False, 2: True, 1: False}),
            "1=false, 2=true, <2 more>",
            "1=false, 2=true, 3=false, 4=true",
        ),
        ("map(string, string)", FrozenMap({}), "", ""),
    ],
)
def test_render_collections(type_text: str, value: Any, short: str, full: str) -> None:
    assert render(T(type_text), value) == short
    assert render_full(T(type_text), value) == full


def test_render_rejects_invalid_values() -> None:
    with pytest.raises(ValueParseError):
        render(T("list(integer)"), [1, 2])
    with pytest.raises(ValueParseError):
        render(T("double"), float("nan"))
    with pytest.raises(ValueParseError):
        render_full(T("duration"), 5)


# --- canonical form ---

CANONICAL_CASES: list[tuple[str, Any, Any]] = [
    ("byte", -3, -3),
    ("integer", 42, 42),
    ("long", 2**63 - 1, 2**63 - 1),
    ("double", 0.5, 0.5),
    ("double", -0.0, 0.0),
    ("string", "héllo", "héllo"),
    ("boolean", True, True),
    ("distance", Distance(2500.0), 2500.0),
    ("duration", Duration(5_400_000), 5_400_000),
    ("timestamp", Timestamp(1462147200000), 1462147200000),
    ("location", Location(45.7, 4.8), [45.7, 4.8]),
    ("dataset", Dataset("sha256:abc"), "sha256:abc"),
    ("list(integer)", (3, 1, 3), [3, 1, 3]),
    ("set(integer)", frozenset({10, 2, 1}), [1, 10, 2]),  # sorted by canonical JSON text
    ("set(string)", frozenset({"b", "a"}), ["a", "b"]),
    ("set(location)", frozenset({Location(2, 1), Location(1, 2)}), [[1.0, 2.0], [2.0, 1.0]]),
    ("map(string, double)", FrozenMap({"home": 0.7, "work": 0.3}), {"home": 0.7, "work": 0.3}),
    ("map(integer, double)", FrozenMap({7: 0.5, -1: 1.0}), {"7": 0.5, "-1": 1.0}),
    ("map(double, string)", FrozenMap({1e-5: "x", 0.5: "y"}), {"1e-05": "x", "0.5": "y"}),
    ("map(boolean, integer)", FrozenMap({True: 1, False: 0}), {"true": 1, "false": 0}),
    ("map(distance, integer)", FrozenMap({Distance(2.5): 1}), {"2.5": 1}),
    ("map(duration, integer)", FrozenMap({Duration(-5): 1}), {"-5": 1}),
    ("map(timestamp, integer)", FrozenMap({Timestamp(7): 1}), {"7": 1}),
    ("map(location, integer)", FrozenMap({Location(45.7, 4.8): 1}), {"45.7,4.8": 1}),
    ("map(dataset, location)", FrozenMap({Dataset("d"): Location(1, 2)}), {"d": [1.0, 2.0]}),
    ("map(string, duration)", FrozenMap({"a": Duration(3)}), {"a": 3}),
]


@pytest.mark.parametrize(("type_text", "value", "data"), CANONICAL_CASES)
def test_canonical_form(type_text: str, value: Any, data: Any) -> None:
    dtype = T(type_text)
    got = to_canonical(dtype, value)
    assert got == data
    # Same JSON types, not only equal numbers: 2500.0 stays a float.
    assert json.dumps(got, sort_keys=True) == json.dumps(data, sort_keys=True)
    assert from_canonical(dtype, got) == value
    assert from_canonical(dtype, json.loads(canonical_json(dtype, value))) == value


def test_canonical_json_is_compact_and_sorted() -> None:
    value = FrozenMap({"work": 0.3, "home": 0.7, "ü": 1.0})
    text = canonical_json(T("map(string, double)"), value)
    assert text == '{"home":0.7,"work":0.3,"ü":1.0}'
    assert canonical_json(T("distance"), Distance(2500)) == "2500.0"
    assert canonical_json(T("double"), 3) == "3.0"
    assert canonical_json(T("set(integer)"), frozenset({3, 1})) == "[1,3]"


def test_equal_values_give_equal_canonical_json() -> None:
    dtype = T("map(double, double)")
    a = FrozenMap({0.0: 1.0, -1.0: 2.0})
    b = FrozenMap({-0.0: 1.0, -1.0: 2.0})
    assert a == b
    assert canonical_json(dtype, a) == canonical_json(dtype, b)
    dtype = T("set(double)")
    assert canonical_json(dtype, frozenset({0.0})) == canonical_json(dtype, frozenset({-0.0}))


def test_typed_json() -> None:
    """The examples of types.md §5."""
    assert typed_json(T("distance"), Distance(2500.0)) == {"type": "distance", "value": 2500.0}
    assert typed_json(T("duration"), Duration(5400000)) == {"type": "duration", "value": 5400000}
    assert typed_json(T("timestamp"), Timestamp(1462147200000)) == {
        "type": "timestamp",
        "value": 1462147200000,
    }
    assert typed_json(T("location"), Location(45.7, 4.8)) == {
        "type": "location",
        "value": [45.7, 4.8],
    }
    assert typed_json(T("Map ( String , Double )"), FrozenMap({"home": 0.7, "work": 0.3})) == {
        "type": "map(string, double)",
        "value": {"home": 0.7, "work": 0.3},
    }


@pytest.mark.parametrize(
    ("type_text", "data", "message"),
    [
        ("integer", "7", "invalid canonical integer value '7': expected an integer"),
        ("integer", True, "expected an integer"),
        ("byte", 300, "(out of range)"),
        ("double", "0.5", "expected a number"),
        ("double", 10**400, "out of range"),
        ("distance", None, "expected a number"),
        ("duration", 1.0, "expected an integer"),
        ("timestamp", TIMESTAMP_MAX + 1, "(invalid or out of range)"),
        ("location", [1.0], "expected [lat, lng]"),
        ("location", [91.0, 0.0], "(out of range)"),
        ("location", "45.7,4.8", "expected [lat, lng]"),
        ("string", 3, "expected a string"),
        ("dataset", 3, "expected a string"),
        ("boolean", "true", "expected true or false"),
        ("list(integer)", {"a": 1}, "expected an array"),
        ("set(integer)", "x", "expected an array"),
        ("map(string, integer)", [], "expected an object"),
        ("map(integer, integer)", {"x": 1}, "expected an integer"),
        ("map(integer, integer)", {"7": 1, "07": 2}, "duplicate keys"),
        ("map(distance, integer)", {"near": 1}, "expected metres"),
        ("map(distance, integer)", {"nan": 1}, "not finite"),
    ],
)
def test_from_canonical_rejects(type_text: str, data: Any, message: str) -> None:
    with pytest.raises(ValueParseError, match=re.escape(message)):
        from_canonical(T(type_text), data)


def test_to_canonical_rejects_invalid_values() -> None:
    with pytest.raises(ValueParseError):
        to_canonical(T("list(integer)"), [1])
    with pytest.raises(ValueParseError):
        canonical_json(T("double"), float("inf"))
