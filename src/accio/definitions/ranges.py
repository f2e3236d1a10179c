"""Enumerating ``from``/``to``/``step`` ranges, linear and logarithmic, without drift.

Semantics (definitions.md §8 "Proposed", decisions.md §3 and §4):

* both bounds are included when the progression lands on them (within a relative 1e-9);
* value ``k`` is computed by multiplication (``from + k*step``, ``from * ratio**k``), never by
  repeated addition, then doubles are rounded to 12 significant digits, distances to 1e-6 m and
  durations to whole milliseconds, so ``0 → 1 step 0.1`` gives exactly ``0.0, 0.1, …, 1.0``;
* in log mode (``log``, ``log2`` or ``log10``; at most one) ``step`` is the **ratio** between
  consecutive values, optional, default 10: ``1e-05 → 1`` gives 6 values;
* integer types and timestamps use exact integer arithmetic; an integer step defaults to 1;
* values are returned in progression order without duplicates; an empty range is an error.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from typing import Any

from accio.definitions.model import Range
from accio.errors import Problem, ValueParseError
from accio.values.parse import parse_json
from accio.values.types import INTEGER_TYPES, DataType, Distance, Duration, Timestamp

#: A sweep axis larger than this is almost certainly a mistake (a step in the wrong unit).
MAX_RANGE_VALUES = 1_000_000
LINEAR_TYPES = frozenset({*INTEGER_TYPES, "double", "distance", "duration", "timestamp"})
LOG_TYPES = frozenset({"double", "distance", "duration"})
DEFAULT_LOG_RATIO = 10.0
_DURATION = DataType("duration")


class RangeError(Exception):
    """A range that cannot be enumerated; ``field`` is the key at fault (``from``, ``step``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def problem(self) -> Problem:
        return Problem(self.field, str(self))


def enumerate_range(dtype: DataType, spec: Range) -> tuple[Any, ...]:
    """All values of a range, as typed values of ``dtype``."""
    if dtype.base not in LINEAR_TYPES:
        raise RangeError(
            "from",
            f"cannot generate a range of type {dtype}; ranges exist for integer, long, byte, "
            'double, distance, duration and timestamp (use "values" instead)',
        )
    start = _bound(dtype, spec.start, "from")
    stop = _bound(dtype, spec.stop, "to")
    values: Sequence[float]
    if spec.log is not None:
        if dtype.base not in LOG_TYPES:
            flag = {"e": "log", "2": "log2", "10": "log10"}[spec.log]
            raise RangeError(
                flag, f"log ranges exist for double, distance and duration, not {dtype}"
            )
        values = _log_values(dtype, start, stop, spec.step)
    elif dtype.base in INTEGER_TYPES or dtype.base in ("timestamp", "duration"):
        values = _integer_values(dtype, int(start), int(stop), spec.step)
    else:
        values = _float_values(dtype, float(start), float(stop), spec.step)
    if not values:
        raise RangeError(
            "to",
            f"empty range: from {_show(spec.start)} to {_show(spec.stop)} with step "
            f"{_show(spec.step, '10' if spec.log else '1')} gives no value (check the direction "
            "of step)",
        )
    return tuple(_unique([_typed(dtype, v) for v in values]))


def _show(raw: Any, default: str = "") -> str:
    return f"{default} (the default)" if raw is None else json.dumps(raw)


def _bound(dtype: DataType, raw: Any, field: str) -> float | int:
    try:
        return _magnitude(parse_json(dtype, raw))
    except ValueParseError as exc:
        raise RangeError(field, str(exc)) from None


def _magnitude(value: Any) -> float | int:
    if isinstance(value, Distance):
        return value.meters
    if isinstance(value, Duration | Timestamp):
        return value.millis
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueParseError(f"not a number: {value!r}")
    return value


def _check_count(n: int) -> int:
    if n > MAX_RANGE_VALUES:
        raise RangeError(
            "step",
            f"range has {n:,} values, more than the limit of {MAX_RANGE_VALUES:,} per parameter "
            "(is step in the right unit?)",
        )
    return n


def _integer_values(dtype: DataType, start: int, stop: int, raw_step: Any) -> list[int]:
    if raw_step is None:
        if dtype.base not in INTEGER_TYPES:
            unit = 'a duration such as "5.minutes"'
            raise RangeError("step", f"missing step: a {dtype} range needs {unit}")
        step = 1
    else:
        step_type = dtype if dtype.base in INTEGER_TYPES else _DURATION
        try:
            step = int(_magnitude(parse_json(step_type, raw_step)))
        except ValueParseError as exc:
            raise RangeError("step", str(exc)) from None
    if step == 0:
        raise RangeError("step", "step must not be zero")
    if (stop - start) * step < 0:
        return []
    n = _check_count((stop - start) // step + 1)
    return [start + k * step for k in range(n)]


def _float_values(dtype: DataType, start: float, stop: float, raw_step: Any) -> list[float]:
    if raw_step is None:
        example = "0.1" if dtype.base == "double" else '"100.meters"'
        raise RangeError(
            "step", f'missing step: a linear {dtype} range needs one (e.g. "step": {example})'
        )
    try:
        step = float(_magnitude(parse_json(dtype, raw_step)))
    except ValueParseError as exc:
        raise RangeError("step", str(exc)) from None
    if step == 0:
        raise RangeError("step", "step must not be zero")
    n = _progression_count(start, stop, step)
    values = [start + k * step for k in range(n)]
    return _snap(values, start, stop)


def _progression_count(a: float, b: float, s: float) -> int:
    if (b - a) * s < 0:
        return 0
    # Values only carry 12 significant digits, so a bound that misses by less than that lands.
    with contextlib.suppress(OverflowError, ZeroDivisionError):
        steps = (b - a) / s
        tolerance = 1e-9 + 1e-11 * max(abs(a), abs(b)) / abs(s)
        if math.isfinite(steps) and math.isfinite(tolerance) and steps <= MAX_RANGE_VALUES:
            return _check_count(math.floor(steps + tolerance) + 1)
    raise RangeError(
        "step",
        f"range has more than the limit of {MAX_RANGE_VALUES:,} values per parameter "
        "(is step in the right unit?)",
    )


def _snap(values: list[float], start: float, stop: float) -> list[float]:
    """Exact bounds: the first value is ``from``; a last value within 1e-9 of ``to`` is ``to``."""
    if values:
        values[0] = start
        if math.isclose(values[-1], stop, rel_tol=1e-9, abs_tol=1e-12):
            values[-1] = stop
    return values


def _log_values(dtype: DataType, start: float, stop: float, raw_step: Any) -> list[float]:
    if start <= 0 or stop <= 0:
        field, got = ("from", start) if start <= 0 else ("to", stop)
        raise RangeError(field, f"log range bounds must be > 0, got {got:g}")
    if raw_step is None:
        ratio = DEFAULT_LOG_RATIO
    elif isinstance(raw_step, bool) or not isinstance(raw_step, int | float | str):
        raise RangeError("step", f"expected a number (the ratio between values), got {raw_step!r}")
    else:
        try:
            ratio = float(raw_step)
        except ValueError:
            raise RangeError(
                "step",
                f"in a log range step is the ratio between values, a number; got {raw_step!r}",
            ) from None
    if not math.isfinite(ratio) or ratio <= 0 or ratio == 1:
        raise RangeError("step", f"log step is a ratio and must be > 0 and != 1, got {raw_step!r}")
    a, b, s = math.log(start), math.log(stop), math.log(ratio)
    n = _progression_count(a, b, s)
    return _snap([_geometric(start, ratio, k) for k in range(n)], start, stop)


def _geometric(start: float, ratio: float, k: int) -> float:
    """``start * ratio**k``; when ``ratio**k`` alone overflows (``1e-5 -> 1e308``: 10**313) or
    underflows to 0 (descending ranges), the power is taken in halves, so that a value which is
    itself a finite double is still reached."""
    try:
        value = start * ratio**k
    except OverflowError:
        value = math.inf
    if value != 0.0 and math.isfinite(value):
        return value
    half = k // 2
    try:
        value = start * ratio**half * ratio ** (k - half)
    except OverflowError:
        value = math.inf
    if value == 0.0 or not math.isfinite(value):
        raise RangeError("to", f"log range value {k + 1} is outside the range of a double")
    return value


def _typed(dtype: DataType, x: float | int) -> Any:
    base = dtype.base
    if base in INTEGER_TYPES:
        return int(x)
    if base == "double":
        return float(f"{x:.12g}")
    if base == "distance":
        return Distance(round(float(x), 6) + 0.0)
    if base == "duration":
        return Duration(round(x))
    return Timestamp(int(x))


def _unique(values: Sequence[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out
