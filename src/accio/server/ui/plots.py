"""Sweep plots: Vega-Lite specifications computed server-side from ``Client.results``.

The browser only draws: means and 95 % confidence intervals (Student's t over the repeats of a
combination) are computed here, so a spec carries one point per combination rather than one per
child, and the numbers on screen are the ones the CSV export lets anyone recompute.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

#: Columns of ``Client.results`` that are neither parameters nor outputs.
META_COLUMNS = frozenset({"run_id", "name", "repeat", "seed", "state"})
#: Series coloured separately at most; beyond, the other parameters are averaged over.
MAX_SERIES = 8
#: Charts in the grid of outputs against parameters at most.
MAX_CHARTS = 24
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


@dataclass(frozen=True)
class SweepData:
    """A sweep's results reduced to what the plots need."""

    params: tuple[str, ...]  # swept: more than one distinct value
    constants: dict[str, str]
    metrics: tuple[str, ...]  # numeric scalar outputs, ``Node/port``
    rows: tuple[dict[str, Any], ...]  # successful children only
    numeric: frozenset[str]  # swept parameters whose values are all numbers
    children: int

    @property
    def plottable(self) -> bool:
        return bool(self.params and self.metrics and self.rows)


def _key(value: Any) -> Any:
    """A hashable, orderable stand-in for a parameter value (lists, maps as JSON text)."""
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return json.dumps(value, sort_keys=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
        values = {_key(r.get(c)) for r in rows_all}
        if len(values) > 1:
            params.append(c)
            if all(_is_number(r.get(c)) for r in rows_all):
                numeric.add(c)
        elif values:
            constants[c] = str(next(iter(values)))
    return SweepData(tuple(params), constants, metrics, rows, frozenset(numeric), len(rows_all))


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the bounds of its 95 % confidence interval (the mean twice for one value)."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, mean, mean
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    # scipy ships no type stubs: import it untyped (and only when a plot is drawn).
    stats: Any = importlib.import_module("scipy.stats")
    half = float(stats.t.ppf(0.975, n - 1)) * math.sqrt(var / n)
    return mean, mean - half, mean + half


def _series_label(row: dict[str, Any], others: Sequence[str]) -> str:
    return ", ".join(f"{p}={_key(row.get(p))}" for p in others)


def _group(
    data: SweepData, by: Sequence[str], metrics: Sequence[str]
) -> list[tuple[dict[str, Any], dict[str, list[float]]]]:
    """Rows grouped by the values of ``by``: (first row of the group, metric values)."""
    groups: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, list[float]]]] = {}
    for row in data.rows:
        key = tuple(_key(row.get(p)) for p in by)
        entry = groups.setdefault(key, (row, {m: [] for m in metrics}))
        for m in metrics:
            v = row.get(m)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                entry[1][m].append(float(v))
    return list(groups.values())


def _log_scale(values: Sequence[Any]) -> bool:
    """More than two decades between the smallest and the largest positive value."""
    nums = [float(v) for v in values if _is_number(v)]
    return bool(nums) and min(nums) > 0 and max(nums) / min(nums) > 100


def _scale(values: Sequence[Any]) -> dict[str, Any]:
    return {"type": "log"} if _log_scale(values) else {"zero": False}


def _x_encoding(data: SweepData, param: str, field: str = "x") -> dict[str, Any]:
    if param in data.numeric:
        enc: dict[str, Any] = {"field": field, "type": "quantitative", "title": param}
        enc["scale"] = _scale([r.get(param) for r in data.rows])
        return enc
    return {"field": field, "type": "ordinal", "title": param}


def metric_vs_param(data: SweepData, metric: str, param: str) -> dict[str, Any]:
    """Mean of ``metric`` against ``param`` with 95 % CI bars, a series per other combination
    (or averaged over the other parameters when they make more than ``MAX_SERIES`` series)."""
    others = [p for p in data.params if p != param]
    combos = {tuple(_key(r.get(p)) for p in others) for r in data.rows}
    split = bool(others) and len(combos) <= MAX_SERIES
    by = [param, *others] if split else [param]
    points = []
    for first, values in _group(data, by, [metric]):
        if not values[metric]:
            continue
        mean, lo, hi = mean_ci(values[metric])
        points.append(
            {
                "x": _key(first.get(param)),
                "series": _series_label(first, others) if split else "all",
                "mean": mean,
                "lo": lo,
                "hi": hi,
                "n": len(values[metric]),
            }
        )
    x = _x_encoding(data, param)
    color: dict[str, Any] = (
        {"field": "series", "type": "nominal", "title": ", ".join(others)}
        if split
        else {"value": "#3867d6"}
    )
    title = metric if split or not others else f"{metric} (averaged over {', '.join(others)})"
    tooltip = [
        {"field": "x", "title": param},
        {"field": "mean", "format": ".4g"},
        {"field": "lo", "title": "95% CI low", "format": ".4g"},
        {"field": "hi", "title": "95% CI high", "format": ".4g"},
        {"field": "n", "title": "repeats"},
    ]
    if split:
        tooltip.insert(1, {"field": "series"})
    return {
        "$schema": SCHEMA,
        "title": {"text": title, "fontSize": 12},
        "width": 300,
        "height": 190,
        "data": {"values": points},
        "encoding": {"x": x, "color": color},
        "layer": [
            {
                "mark": {"type": "rule", "opacity": 0.6},
                "encoding": {"y": {"field": "lo", "type": "quantitative"}, "y2": {"field": "hi"}},
            },
            {
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "y": {
                        "field": "mean",
                        "type": "quantitative",
                        "title": metric,
                        "scale": {"zero": False},
                    },
                    "tooltip": tooltip,
                },
            },
        ],
    }


def metric_vs_metric(data: SweepData, xm: str, ym: str) -> dict[str, Any]:
    """One metric against another (a privacy-utility curve): a point per combination at the
    means, 95 % CI bars both ways, joined in the order of the first swept parameter."""
    first_param = data.params[0] if data.params else None
    others = list(data.params[1:])
    combos = {tuple(_key(r.get(p)) for p in others) for r in data.rows}
    split = bool(others) and len(combos) <= MAX_SERIES
    points = []
    for first, values in _group(data, list(data.params), [xm, ym]):
        if not values[xm] or not values[ym]:
            continue
        mx, xlo, xhi = mean_ci(values[xm])
        my, ylo, yhi = mean_ci(values[ym])
        points.append(
            {
                "x": mx,
                "xlo": xlo,
                "xhi": xhi,
                "y": my,
                "ylo": ylo,
                "yhi": yhi,
                "order": _key(first.get(first_param)) if first_param else 0,
                "label": _series_label(first, list(data.params)),
                "series": _series_label(first, others) if split else "all",
                "n": len(values[xm]),
            }
        )
    if first_param is not None and first_param not in data.numeric:
        for p in points:
            p["order"] = str(p["order"])
    color: dict[str, Any] = (
        {"field": "series", "type": "nominal", "title": ", ".join(others)}
        if split
        else {"value": "#8854d0"}
    )
    x = {
        "field": "x",
        "type": "quantitative",
        "title": xm,
        "scale": _scale([p["x"] for p in points]),
    }
    y = {
        "field": "y",
        "type": "quantitative",
        "title": ym,
        "scale": _scale([p["y"] for p in points]),
    }
    return {
        "$schema": SCHEMA,
        "title": {"text": f"{ym} against {xm}", "fontSize": 12},
        "width": 440,
        "height": 300,
        "data": {"values": points},
        "encoding": {"color": color},
        "layer": [
            {
                "mark": {"type": "rule", "opacity": 0.45},
                "encoding": {"x": {**x, "field": "xlo"}, "x2": {"field": "xhi"}, "y": y},
            },
            {
                "mark": {"type": "rule", "opacity": 0.45},
                "encoding": {"x": x, "y": {**y, "field": "ylo"}, "y2": {"field": "yhi"}},
            },
            {
                "mark": {"type": "line", "point": {"size": 50}},
                "encoding": {
                    "x": x,
                    "y": y,
                    "order": {"field": "order"},
                    "tooltip": [
                        {"field": "label", "title": "parameters"},
                        {"field": "x", "title": xm, "format": ".4g"},
                        {"field": "y", "title": ym, "format": ".4g"},
                        {"field": "n", "title": "repeats"},
                    ],
                },
            },
        ],
    }


def grid(data: SweepData) -> list[tuple[str, str, dict[str, Any]]]:
    """(metric, parameter, spec) for each numeric output against each swept parameter."""
    charts = []
    for param in data.params:
        for metric in data.metrics:
            charts.append((metric, param, metric_vs_param(data, metric, param)))
            if len(charts) >= MAX_CHARTS:
                return charts
    return charts
