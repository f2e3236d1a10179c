"""Property tests: ranges include their bounds, never drift, never repeat."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from accio.definitions.model import Range
from accio.definitions.ranges import enumerate_range
from accio.values.types import T


@given(
    start=st.integers(-10_000, 10_000),
    count=st.integers(0, 500),
    step=st.integers(1, 1000),
    descending=st.booleans(),
)
def test_integer_range_inclusive_and_exact(
    start: int, count: int, step: int, descending: bool
) -> None:
    s = -step if descending else step
    stop = start + count * s
    values = enumerate_range(T("long"), Range(start, stop, s))
    assert values == tuple(range(start, stop + (1 if s > 0 else -1), s))
    assert values[0] == start and values[-1] == stop


@given(
    mantissa=st.integers(1, 999),
    exp=st.integers(-6, 3),
    count=st.integers(0, 200),
    step_digits=st.integers(1, 99),
    step_exp=st.integers(-4, 1),
)
def test_decimal_linear_ranges_land_on_decimal_values(
    mantissa: int, exp: int, count: int, step_digits: int, step_exp: int
) -> None:
    start = float(f"{mantissa}e{exp}")
    step = float(f"{step_digits}e{step_exp}")
    stop = float(f"{start + count * step:.12g}")
    values = enumerate_range(T("double"), Range(start, stop, step))
    assert values[0] == start
    assert values[-1] == stop
    assert len(values) == len(set(values))
    for k, v in enumerate(values):
        # no drift: every value is the 12-significant-digit decimal of start + k*step
        assert v == float(f"{start + k * step:.12g}")


@given(
    lo_exp=st.integers(-12, 5),
    decades=st.integers(0, 12),
    base=st.sampled_from(["e", "2", "10"]),
)
def test_log_ranges_per_decade_are_exact_powers_of_ten(
    lo_exp: int, decades: int, base: str
) -> None:
    start, stop = 10.0**lo_exp, 10.0 ** (lo_exp + decades)
    values = enumerate_range(T("double"), Range(start, stop, None, base))  # type: ignore[arg-type]
    assert values == tuple(float(f"1e{lo_exp + k}") for k in range(decades + 1))


@given(
    start=st.floats(1e-6, 1e6),
    ratio=st.floats(1.01, 100),
    count=st.integers(0, 40),
)
def test_log_ranges_include_both_bounds(start: float, ratio: float, count: int) -> None:
    stop = start * ratio**count
    values = enumerate_range(T("double"), Range(start, stop, ratio, "10"))
    assert values[0] == float(f"{start:.12g}")
    assert math.isclose(values[-1], stop, rel_tol=1e-9)
    assert len(values) == count + 1 or len(set(values)) == len(values)
    assert list(values) == sorted(values)
