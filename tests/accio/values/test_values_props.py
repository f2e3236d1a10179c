"""Property tests: every type's JSON parse, text render and canonical forms round-trip.

Derandomized (a fixed example sequence) so that runs are reproducible and fast.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accio.errors import ValueParseError
from accio.values.canonical import canonical_json, from_canonical, to_canonical, typed_json
from accio.values.parse import TIMESTAMP_MAX, TIMESTAMP_MIN, check_value, parse_json, parse_text
from accio.values.render import render, render_double, render_full
from accio.values.types import (
    ATOMIC_TYPES,
    INTEGER_TYPES,
    Dataset,
    DataType,
    Distance,
    Duration,
    FrozenMap,
    Location,
    Timestamp,
    parse_type,
)

PROPS = settings(
    derandomize=True,
    max_examples=80,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

LONG_MIN, LONG_MAX = INTEGER_TYPES["long"]
FINITE = st.floats(allow_nan=False, allow_infinity=False)


def atomic_values(base: str, *, renderable: bool = False) -> st.SearchStrategy[Any]:
    """Values of an atomic type; ``renderable`` rounds the types whose rendering rounds."""
    if base in INTEGER_TYPES:
        lo, hi = INTEGER_TYPES[base]
        return st.integers(lo, hi)
    if base == "double":
        return FINITE
    if base == "string":
        return st.text(max_size=12)
    if base == "boolean":
        return st.booleans()
    if base == "distance":
        meters = FINITE.map(lambda m: round(m, 2)) if renderable else FINITE
        return meters.map(Distance)
    if base == "duration":
        return st.integers(LONG_MIN, LONG_MAX).map(Duration)
    if base == "timestamp":
        return st.integers(TIMESTAMP_MIN, TIMESTAMP_MAX).map(Timestamp)
    if base == "location":
        lat = st.floats(-90, 90)
        lng = st.floats(-180, 180)
        if renderable:
            lat, lng = lat.map(lambda x: round(x, 7)), lng.map(lambda x: round(x, 7))
        return st.builds(Location, lat, lng)
    if base == "dataset":
        return st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != "").map(Dataset)
    raise AssertionError(base)


def values_of(dtype: DataType) -> st.SearchStrategy[Any]:
    if not dtype.is_collection:
        return atomic_values(dtype.base)
    if dtype.base == "list":
        return st.lists(atomic_values(dtype.args[0].base), max_size=5).map(tuple)
    if dtype.base == "set":
        return st.frozensets(atomic_values(dtype.args[0].base), max_size=5)
    keys, items = (atomic_values(arg.base) for arg in dtype.args)
    return st.dictionaries(keys, items, max_size=4).map(FrozenMap)


ATOMIC = [DataType(base) for base in ATOMIC_TYPES]
ALL_TYPES = st.sampled_from(
    [
        *ATOMIC,
        *(DataType("list", (t,)) for t in ATOMIC),
        *(DataType("set", (t,)) for t in ATOMIC),
    ]
) | st.builds(
    lambda k, v: DataType("map", (k, v)), st.sampled_from(ATOMIC), st.sampled_from(ATOMIC)
)
TYPED_VALUES = ALL_TYPES.flatmap(lambda t: st.tuples(st.just(t), values_of(t)))


def key_text(dtype: DataType, value: Any) -> str:
    """A value written as a JSON string (map keys; every atomic type accepts strings)."""
    base = dtype.base
    if base in ("string",):
        return str(value)
    if base == "dataset":
        return str(value.ref)
    if base == "boolean":
        return "true" if value else "false"
    if base == "distance":
        return f"{value.meters!r}.meters"
    if base in ("duration", "timestamp"):
        return str(value.millis)  # digits are milliseconds for both
    if base == "location":
        return f"{value.lat!r},{value.lng!r}"
    return repr(value)


def json_form(dtype: DataType, value: Any) -> Any:
    """What a user writes in a definition file for ``value`` (the inverse of ``parse_json``)."""
    base = dtype.base
    if base == "list" or base == "set":
        return [json_form(dtype.args[0], item) for item in value]
    if base == "map":
        key_type, value_type = dtype.args
        return {key_text(key_type, k): json_form(value_type, v) for k, v in value.items()}
    if base in ("duration", "timestamp"):
        return value.millis  # JSON numbers are milliseconds
    if base in ("distance", "location", "dataset"):
        return key_text(dtype, value)
    return value


@PROPS
@given(TYPED_VALUES)
def test_parse_json_inverts_json_form(typed: tuple[DataType, Any]) -> None:
    dtype, value = typed
    written = json.loads(json.dumps(json_form(dtype, value)))
    parsed = parse_json(dtype, written)
    assert parsed == value
    check_value(dtype, parsed)


@PROPS
@given(TYPED_VALUES)
def test_canonical_round_trip(typed: tuple[DataType, Any]) -> None:
    dtype, value = typed
    check_value(dtype, value)
    data = to_canonical(dtype, value)
    assert from_canonical(dtype, data) == value
    text = canonical_json(dtype, value)
    back = from_canonical(dtype, json.loads(text))
    assert back == value
    assert canonical_json(dtype, back) == text  # stable: equal values give equal bytes
    tagged = json.loads(json.dumps(typed_json(dtype, value)))
    assert parse_type(tagged["type"]) == dtype
    assert from_canonical(dtype, tagged["value"]) == value


@PROPS
@given(
    st.sampled_from([t for t in ATOMIC if t.base != "double"]).flatmap(
        lambda t: st.tuples(st.just(t), atomic_values(t.base, renderable=True))
    )
)
def test_render_round_trip(typed: tuple[DataType, Any]) -> None:
    dtype, value = typed
    text = render(dtype, value)
    assert parse_text(dtype, text) == value
    assert render_full(dtype, value) == text


@PROPS
@given(FINITE)
def test_double_render_round_trip_is_exact(x: float) -> None:
    text = render_double(x)
    assert parse_text(DataType("double"), text) == x
    assert render(DataType("double"), x) == text
    if x == 0:
        assert text == "0.0"
    elif 1e-3 <= abs(x) < 1e7:
        assert re.fullmatch(r"-?[0-9]+\.[0-9]+", text), text
    else:
        assert re.fullmatch(r"-?[1-9]\.[0-9]+E-?[1-9][0-9]*", text), text
    mantissa = text.split("E")[0]
    assert mantissa.endswith(".0") or not mantissa.endswith("0"), text  # shortest digits


@PROPS
@given(FINITE)
def test_distance_renders_centimetres(meters: float) -> None:
    text = render(DataType("distance"), Distance(meters))
    assert text.endswith(".meters")
    back = parse_text(DataType("distance"), text)
    assert back == Distance(round(meters, 2))


@PROPS
@given(st.integers(LONG_MIN, LONG_MAX))
def test_duration_rendering_uses_plural_units_and_signs(millis: int) -> None:
    text = render(DataType("duration"), Duration(millis))
    term = r"[0-9]+\.(?:days|hours|minutes|seconds|milliseconds)"
    if millis < 0:
        assert re.fullmatch(rf"(?:-{term})+", text), text
    else:
        assert re.fullmatch(rf"{term}(?:\+{term})*", text), text


@PROPS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["+", "-"]),
            st.integers(0, 10**6),
            st.sampled_from(
                [
                    ("day", 86_400_000),
                    ("hours", 3_600_000),
                    ("h", 3_600_000),
                    ("minute", 60_000),
                    ("min", 60_000),
                    ("seconds", 1000),
                    ("s", 1000),
                    ("milliseconds", 1),
                    ("ms", 1),
                ]
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_duration_terms_add_up(terms: list[tuple[str, int, tuple[str, int], bool]]) -> None:
    text = ""
    total = 0
    for index, (sign, amount, (unit, size), dot) in enumerate(terms):
        lead = "" if index == 0 and sign == "+" else f" {sign} "
        text += f"{lead}{amount}{'.' if dot else ''}{unit}"
        total += amount * size * (-1 if sign == "-" else 1)
    assert parse_text(DataType("duration"), text) == Duration(total)


@PROPS
@given(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=8))
def test_collection_truncation(items: list[int]) -> None:
    dtype = DataType("list", (DataType("integer"),))
    value = tuple(items)
    full = render_full(dtype, value)
    assert full == ", ".join(str(i) for i in items)
    short = render(dtype, value)
    if len(items) > 3:
        assert short == f"{items[0]}, {items[1]}, <{len(items) - 2} more>"
    else:
        assert short == full


@PROPS
@given(st.frozensets(st.integers(-1000, 1000), max_size=6))
def test_sets_render_sorted(items: frozenset[int]) -> None:
    full = render_full(DataType("set", (DataType("integer"),)), items)
    assert full == ", ".join(str(i) for i in sorted(items))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | FINITE | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@PROPS
@given(ALL_TYPES, JSON_VALUES)
def test_any_json_parses_or_fails_cleanly(dtype: DataType, raw: Any) -> None:
    """Whatever a user writes, the result is a valid value or a ValueParseError, nothing else."""
    try:
        value = parse_json(dtype, raw)
    except ValueParseError as exc:
        assert str(exc)
    else:
        check_value(dtype, value)


TEXTS = st.text(max_size=20) | st.from_regex(
    r"\A[ +-]?[0-9.]{1,6}[eE]?[0-9]{0,3}\.?[a-zA-Z]{0,12}([ +-][0-9]{1,3}[.a-z]{1,8})?\Z"
)


@PROPS
@given(st.sampled_from(ATOMIC), TEXTS)
def test_any_text_parses_or_fails_cleanly(dtype: DataType, text: str) -> None:
    try:
        value = parse_text(dtype, text)
    except ValueParseError as exc:
        assert str(exc)
    else:
        check_value(dtype, value)
        if dtype.base == "double":
            assert math.isfinite(value)
