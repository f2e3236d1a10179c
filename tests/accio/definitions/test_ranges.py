"""Range enumeration: the worked cases of definitions.md §8 and decisions.md §3."""

from __future__ import annotations

import pytest

from accio.definitions.model import Range
from accio.definitions.ranges import RangeError, enumerate_range
from accio.values.types import Distance, Duration, T, Timestamp


@pytest.mark.parametrize(
    ("rng", "expected"),
    [
        (Range(10, 10000, 10, "10"), [10.0, 100.0, 1000.0, 10000.0]),
        (Range(1e-5, 1, 10, "10"), [1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0]),
        (Range(1e-5, 1, 10, "e"), [1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0]),
        (Range(1e-5, 1, None, "e"), [1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0]),
        (Range(1, 100, 3, "10"), [1.0, 3.0, 9.0, 27.0, 81.0]),
        (Range(1, 1024, 2, "2"), [float(2**k) for k in range(11)]),
        (Range(0.1, 0.3, 0.1), [0.1, 0.2, 0.3]),
        (Range(0, 1, 0.1), [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
        (Range(1, 0, -0.25), [1.0, 0.75, 0.5, 0.25, 0.0]),
        (Range(1, 1e-3, 0.1, "10"), [1.0, 0.1, 0.01, 0.001]),
        (Range(5, 5, 1), [5.0]),
    ],
)
def test_double_ranges(rng: Range, expected: list[float]) -> None:
    assert list(enumerate_range(T("double"), rng)) == expected


def test_seed_page_log_range_gives_six_values_not_five() -> None:
    values = enumerate_range(T("double"), Range(0.00001, 1, None, "e"))
    assert len(values) == 6
    assert values[0] == 1e-05 and values[-1] == 1.0


def test_integer_ranges_are_exact_with_default_step() -> None:
    assert enumerate_range(T("integer"), Range(10, 15)) == (10, 11, 12, 13, 14, 15)
    assert enumerate_range(T("long"), Range(10, 0, -5)) == (10, 5, 0)
    assert enumerate_range(T("integer"), Range(0, 10, 3)) == (0, 3, 6, 9)


def test_distance_duration_and_timestamp_ranges() -> None:
    assert enumerate_range(T("distance"), Range("100.meters", "1.km", "300.meters")) == (
        Distance(100.0),
        Distance(400.0),
        Distance(700.0),
        Distance(1000.0),
    )
    assert enumerate_range(T("duration"), Range("1.minutes", "3.minutes", "1.minutes")) == (
        Duration(60_000),
        Duration(120_000),
        Duration(180_000),
    )
    assert enumerate_range(T("duration"), Range("1.seconds", "100.seconds", 10, "10")) == (
        Duration(1000),
        Duration(10_000),
        Duration(100_000),
    )
    start = Timestamp(1_483_228_800_000)
    got = enumerate_range(
        T("timestamp"), Range("2017-01-01T00:00:00Z", "2017-01-01T02:00:00Z", "1.hours")
    )
    assert got == (start, Timestamp(start.millis + 3_600_000), Timestamp(start.millis + 7_200_000))


@pytest.mark.parametrize(
    ("dtype", "rng", "field", "fragment"),
    [
        ("double", Range(0, 1), "step", "missing step"),
        ("distance", Range("1.meters", "2.meters"), "step", "missing step"),
        ("timestamp", Range(0, 10), "step", "missing step"),
        ("double", Range(0, 1, 0), "step", "must not be zero"),
        ("double", Range(1, 0, 0.1), "to", "empty range"),
        ("double", Range(0, 1, 10, "e"), "from", "must be > 0"),
        ("double", Range(1, 10, 1, "10"), "step", "must be > 0 and != 1"),
        ("integer", Range(1, 10, 2, "10"), "log10", "log ranges exist"),
        ("string", Range("a", "b", 1), "from", "cannot generate a range"),
        ("integer", Range(0, 10_000_000, 1), "step", "more than the limit"),
        ("double", Range("x", 1, 0.1), "from", "expected"),
    ],
)
def test_range_errors_name_the_field(dtype: str, rng: Range, field: str, fragment: str) -> None:
    with pytest.raises(RangeError) as info:
        enumerate_range(T(dtype), rng)
    assert info.value.field == field
    assert fragment in str(info.value)


def test_astronomically_large_ranges_are_refused_not_crashed() -> None:
    with pytest.raises(RangeError) as info:
        enumerate_range(T("double"), Range(-1e308, 1e308, 1))
    assert info.value.field == "step"
