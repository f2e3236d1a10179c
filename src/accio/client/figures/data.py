"""A sweep's results reduced to what figures need, and the statistics drawn over repeats.

Intervals (95 %) over the repeats of a parameter combination:

* a metric with declared or implied bounds (a rate in ``[0, 1]``) gets the **percentile
  bootstrap** of the mean: every resampled mean lies between the smallest and the largest
  repeat, so the interval never leaves the metric's range. Wilson's interval would need a count
  of successes out of trials; a rate averaged over users and repeats has no such count.
  With 3 repeats the bootstrap has only 10 distinct means, enumerated exactly with their
  probabilities: the interval is what those allow, honest about how little 3 repeats say.
* any other metric gets Student's t interval, clipped to a declared bound if one exists.

Beyond 6 repeats, resampling uses a generator seeded from the values: figures are reproducible.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

#: Columns of ``Client.results`` that are neither parameters nor outputs.
META_COLUMNS = frozenset({"run_id", "name", "repeat", "seed", "state"})
BOOTSTRAP_SAMPLES = 2000
#: Repeats up to which the bootstrap distribution is enumerated rather than sampled.
EXACT_BOOTSTRAP_MAX = 6


@dataclass(frozen=True)
class SweepData:
    """A sweep's results reduced to what the plots need."""

    params: tuple[str, ...]  # swept: more than one distinct value
    constants: dict[str, str]
    metrics: tuple[str, ...]  # numeric scalar outputs, ``Node/port``
    rows: tuple[dict[str, Any], ...]  # successful children only
    numeric: frozenset[str]  # swept parameters whose values are all numbers
    children: int
    #: Units of parameters whose values are quantities (durations in ms, distances in m).
    units: dict[str, str] = field(default_factory=dict)

    def title(self, param: str) -> str:
        """A parameter's axis title: its name, with its unit when it has one."""
        unit = self.units.get(param)
        return f"{param} ({unit})" if unit else param

    @property
    def plottable(self) -> bool:
        return bool(self.params and self.metrics and self.rows)

    def values(self, param: str) -> list[Any]:
        """The distinct values of a parameter, numbers in numeric order."""
        distinct = {key(r.get(param)) for r in self.rows}
        return sorted(distinct, key=sort_key)


def key(value: Any) -> Any:
    """A hashable, orderable stand-in for a parameter value (lists, maps as JSON text)."""
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return json.dumps(value, sort_keys=True)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers first in numeric order, then anything else as text."""
    if is_number(value):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def sweep_data(table: pa.Table) -> SweepData:
    """Split a results table into swept parameters, constants and numeric metrics."""
    columns = table.column_names
    metrics = tuple(
        c
        for c in columns
        if "/" in c
        and (
            pa.types.is_integer(table.schema.field(c).type)
            or pa.types.is_floating(table.schema.field(c).type)
        )
    )
    rows_all = table.to_pylist()
    rows = tuple(r for r in rows_all if r.get("state") == "success")
    params: list[str] = []
    constants: dict[str, str] = {}
    numeric: set[str] = set()
    for c in columns:
        if c in META_COLUMNS or "/" in c:
            continue
        values = {key(r.get(c)) for r in rows_all}
        if len(values) > 1:
            params.append(c)
            if all(is_number(r.get(c)) for r in rows_all):
                numeric.add(c)
        elif values:
            constants[c] = str(next(iter(values)))
    return SweepData(tuple(params), constants, metrics, rows, frozenset(numeric), len(rows_all))


@functools.lru_cache(maxsize=256)
def _t975(dof: int) -> float:
    stats: Any = importlib.import_module("scipy.stats")  # untyped; loaded only to plot
    return float(stats.t.ppf(0.975, dof))


def student_t(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and its 95 % Student t interval (the mean thrice for one value)."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, mean, mean
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = _t975(n - 1) * math.sqrt(var / n)
    return mean, mean - half, mean + half


@functools.lru_cache(maxsize=16)
def _resamples(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct bootstrap resample of ``n`` values as counts per value, with its
    probability (multinomial): ``C(2n-1, n)`` of them, 10 for 3 repeats, 462 for 6."""
    counts, weights = [], []
    for combo in itertools.combinations_with_replacement(range(n), n):
        c = np.bincount(combo, minlength=n)
        counts.append(c)
        weights.append(math.factorial(n) / math.prod(math.factorial(int(k)) for k in c))
    w = np.asarray(weights) / n**n
    return np.asarray(counts, dtype=float), w


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> list[float]:
    order = np.argsort(x, kind="stable")
    xs, cum = x[order], np.cumsum(w[order])
    last = len(xs) - 1
    return [float(xs[min(int(np.searchsorted(cum, q - 1e-12)), last)]) for q in qs]


def bootstrap(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the 95 % percentile-bootstrap interval of the mean (reproducible).

    Up to :data:`EXACT_BOOTSTRAP_MAX` values the bootstrap distribution is enumerated exactly
    (no sampling noise, and fast); beyond, :data:`BOOTSTRAP_SAMPLES` resamples from a
    generator seeded by the values."""
    n = len(values)
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if n < 2 or float(arr.min()) == float(arr.max()):
        return mean, mean, mean
    if n <= EXACT_BOOTSTRAP_MAX:
        counts, w = _resamples(n)
        lo, hi = _weighted_quantiles(counts @ arr / n, w, (0.025, 0.975))
        return mean, lo, hi
    seed = int.from_bytes(hashlib.sha256(arr.tobytes()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n), dtype=np.int32)].mean(axis=1)
    q_lo, q_hi = np.quantile(means, [0.025, 0.975])
    return mean, float(q_lo), float(q_hi)


def interval(
    values: Sequence[float], lower: float | None = None, upper: float | None = None
) -> tuple[float, float, float]:
    """Mean and 95 % interval: bootstrap for a bounded metric, Student t otherwise (clipped)."""
    if lower is not None and upper is not None:
        return bootstrap(values)
    mean, lo, hi = student_t(values)
    if lower is not None:
        lo = max(lo, lower)
    if upper is not None:
        hi = min(hi, upper)
    return mean, lo, hi


def group(
    data: SweepData, by: Sequence[str], metrics: Sequence[str]
) -> list[tuple[dict[str, Any], dict[str, list[float]]]]:
    """Rows grouped by the values of ``by``: (first row of the group, finite metric values)."""
    groups: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, list[float]]]] = {}
    for row in data.rows:
        k = tuple(key(row.get(p)) for p in by)
        entry = groups.setdefault(k, (row, {m: [] for m in metrics}))
        for m in metrics:
            v: Any = row.get(m)
            if is_number(v) and math.isfinite(v):
                entry[1][m].append(float(v))
    return list(groups.values())


def geometric(values: Sequence[Any]) -> bool:
    """Three or more positive numbers with one ratio between neighbours: a log range.

    The sweep's parent record keeps no range definition, so ``{"log": true}`` is recognised
    by the values it produced."""
    nums = sorted({float(v) for v in values if is_number(v)})
    if len(nums) < 3 or nums[0] <= 0:
        return False
    ratios = [b / a for a, b in itertools.pairwise(nums)]
    return ratios[0] > 1 and all(math.isclose(r, ratios[0], rel_tol=1e-6) for r in ratios)


def decades(values: Sequence[Any]) -> float:
    """Decades spanned by positive values (0 when any is <= 0)."""
    nums = [float(v) for v in values if is_number(v) and math.isfinite(v)]
    if not nums or min(nums) <= 0:
        return 0.0
    return math.log10(max(nums) / min(nums))


def fmt(value: Any) -> str:
    """One number format for labels and legends: ``1e-4``, ``0.01``, ``250``, ``1.5e+06``."""
    if not is_number(value):
        return str(value)
    v = float(value)
    if v == 0:
        return "0"
    if v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    if 1e-3 <= abs(v) < 1e6:
        return f"{v:.3g}"
    mantissa, exp = f"{v:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exp)}"


__all__ = [
    "META_COLUMNS",
    "SweepData",
    "bootstrap",
    "decades",
    "fmt",
    "geometric",
    "group",
    "interval",
    "is_number",
    "key",
    "sort_key",
    "student_t",
    "sweep_data",
]
