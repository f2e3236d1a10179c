"""Vega-Lite specifications of a sweep's figures, shared by the web UI and ``accio plot``.

The browser (or vl-convert for files) only draws: means and intervals are computed here, so a
spec carries one point per parameter combination, and the UI and the CLI draw the same figure.

* a numeric swept parameter on x: a line through the means with a 95 % band; a categorical one:
  points with error bars, never a line (categories have no order to join);
* log axes: ``auto`` puts a parameter on a log axis when its values form a log range, and a
  metric when its values span two decades or more; ``x``, ``y``, ``xy``, ``none`` force it;
* series (the other swept parameters) in numeric order, labelled with one number format;
* the trade-off plot labels each point with the value of the parameter it is ordered by.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from accio.client.figures.data import (
    SweepData,
    decades,
    fmt,
    geometric,
    group,
    interval,
    is_number,
    key,
    sort_key,
)
from accio.client.figures.meta import MetricInfo

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
#: Series coloured separately at most; beyond, the other parameters are averaged over.
MAX_SERIES = 8
#: Charts in the grid of outputs against parameters at most.
MAX_CHARTS = 24
LOG_CHOICES = ("auto", "x", "y", "xy", "none")
#: Colour-blind-safe palette (Okabe-Ito).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]


@dataclass(frozen=True)
class Options:
    """Figure size (pixels of the plotting area), font size and log-axis choice."""

    width: int = 360
    height: int = 240
    font_size: int = 12
    log: str = "auto"

    def __post_init__(self) -> None:
        if self.log not in LOG_CHOICES:
            raise ValueError(f"log must be one of {', '.join(LOG_CHOICES)}, got {self.log!r}")
        for name in ("width", "height", "font_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def _info(infos: dict[str, MetricInfo], metric: str) -> MetricInfo:
    return infos.get(metric) or MetricInfo(metric, metric)


def _config(opts: Options) -> dict[str, Any]:
    f = opts.font_size
    return {
        "font": "DejaVu Sans, Helvetica, Arial, sans-serif",
        "axis": {"labelFontSize": f, "titleFontSize": f + 1, "grid": True, "gridOpacity": 0.5},
        "legend": {"labelFontSize": f, "titleFontSize": f + 1, "labelLimit": 320},
        "title": {"fontSize": f + 2, "anchor": "start", "subtitleFontSize": f},
        "text": {"fontSize": max(f - 2, 7)},
        "view": {"stroke": None},
    }


def _log_wanted(opts: Options, axis: str, auto: bool) -> bool:
    if opts.log == "auto":
        return auto
    return axis in opts.log


def _scale(log: bool, values: Sequence[Any], info: MetricInfo | None = None) -> dict[str, Any]:
    positive = [v for v in values if is_number(v) and v > 0]
    if log and positive and len(positive) == len(values):
        return {"type": "log"}
    scale: dict[str, Any] = {"zero": False}
    if info is not None and info.bounded01:
        scale["domain"] = [0, 1]
    return scale


def _log_axis(values: Sequence[Any], data_ticks: bool = False) -> dict[str, Any]:
    """Ticks of a log axis: the powers of ten it spans (labels 2, 5 between them collide), or
    the data's own values for a parameter spanning under two decades (a ratio-2 range)."""
    nums = sorted({float(v) for v in values if is_number(v) and v > 0})
    if not nums:
        return {}
    lo, hi = math.floor(math.log10(nums[0]) + 1e-9), math.ceil(math.log10(nums[-1]) - 1e-9)
    if data_ticks and hi - lo < 2:
        return {"values": nums, "format": "~g"}
    if hi - lo < 1:
        return {"format": "~g"}
    return {"values": [10.0**k for k in range(lo, hi + 1)], "format": "~g"}


def _metric_log(opts: Options, axis: str, values: Sequence[Any], info: MetricInfo) -> bool:
    """Auto: two decades or more, except a rate in [0, 1] (its natural scale is linear)."""
    return _log_wanted(opts, axis, decades(values) >= 2 and not info.bounded01)


def _series(
    data: SweepData, others: Sequence[str]
) -> tuple[bool, dict[tuple[Any, ...], str], list[str]]:
    """Whether to split by the other parameters, label per combination, labels in order."""
    combos = sorted(
        {tuple(key(r.get(p)) for p in others) for r in data.rows},
        key=lambda c: tuple(sort_key(v) for v in c),
    )
    split = bool(others) and len(combos) <= MAX_SERIES
    if not split:
        return False, {}, []
    labels = {
        c: ", ".join(f"{p}={fmt(v)}" for p, v in zip(others, c, strict=True)) for c in combos
    }
    if len(others) == 1:
        labels = {c: fmt(c[0]) for c in combos}
    return True, labels, [labels[c] for c in combos]


def _color(split: bool, others: Sequence[str], order: list[str], default: str) -> dict[str, Any]:
    """The colour channel: one colour per series, in the given (numeric) order."""
    if not split:
        return {"value": default}
    return {
        "field": "series",
        "type": "ordinal",
        "title": ", ".join(others),
        "sort": order,
        "scale": {"domain": order, "range": PALETTE[: len(order)]},
    }


def metric_vs_param(
    data: SweepData,
    metric: str,
    param: str,
    infos: dict[str, MetricInfo] | None = None,
    opts: Options | None = None,
) -> dict[str, Any]:
    """Mean of ``metric`` against ``param`` with its 95 % interval, a series per combination of
    the other parameters (averaged over them beyond ``MAX_SERIES`` series)."""
    opts = opts or Options()
    info = _info(infos or {}, metric)
    others = [p for p in data.params if p != param]
    split, labels, order = _series(data, others)
    by = [param, *others] if split else [param]
    points = []
    for first, values in group(data, by, [metric]):
        if not values[metric]:
            continue
        mean, lo, hi = interval(values[metric], info.lower, info.upper)
        combo = tuple(key(first.get(p)) for p in others)
        points.append(
            {
                "x": key(first.get(param)),
                "xlabel": fmt(key(first.get(param))),
                "series": labels.get(combo, "all"),
                "mean": mean,
                "lo": lo,
                "hi": hi,
                "n": len(values[metric]),
            }
        )
    points.sort(key=lambda p: (sort_key(p["x"]), order.index(p["series"]) if split else 0))
    numeric = param in data.numeric
    ptitle = data.title(param)
    xs = [p["x"] for p in points]
    x_log = numeric and _log_wanted(opts, "x", geometric(xs) or decades(xs) >= 2)
    ys = [p["mean"] for p in points] + [p["lo"] for p in points]
    y_scale = _scale(_metric_log(opts, "y", ys, info), ys, info)
    x: dict[str, Any]
    if numeric:
        x = {"field": "x", "type": "quantitative", "title": ptitle, "scale": _scale(x_log, xs)}
        if x["scale"].get("type") == "log":
            x["axis"] = _log_axis(xs, data_ticks=True)
    else:
        x = {"field": "xlabel", "type": "ordinal", "title": ptitle, "sort": None}
    color = _color(split, [data.title(o) for o in others], order, PALETTE[0])
    y = {"field": "mean", "type": "quantitative", "title": info.axis_title, "scale": y_scale}
    if y_scale.get("type") == "log":
        y["axis"] = _log_axis(ys)
    tooltip = [
        {"field": "xlabel", "title": ptitle},
        {"field": "mean", "format": ".4g"},
        {"field": "lo", "title": "95% low", "format": ".4g"},
        {"field": "hi", "title": "95% high", "format": ".4g"},
        {"field": "n", "title": "repeats"},
    ]
    if split:
        tooltip.insert(1, {"field": "series", "title": ", ".join(others)})
    band_enc = {"y": {**y, "field": "lo", "title": info.axis_title}, "y2": {"field": "hi"}}
    layers: list[dict[str, Any]]
    if numeric:
        layers = [
            {"mark": {"type": "area", "opacity": 0.18}, "encoding": band_enc},
            {
                "mark": {"type": "line", "point": {"filled": True, "size": 40}},
                "encoding": {"y": y, "tooltip": tooltip},
            },
        ]
    else:
        offset = {"xOffset": {"field": "series", "sort": order}} if split else {}
        layers = [
            {"mark": {"type": "rule", "strokeWidth": 1.5}, "encoding": {**band_enc, **offset}},
            {
                "mark": {"type": "point", "filled": True, "size": 60},
                "encoding": {"y": y, "tooltip": tooltip, **offset},
            },
        ]
    subtitle = "mean and 95 % interval over repeats"
    if others and not split:
        subtitle += f", averaged over {', '.join(others)}"
    return {
        "$schema": SCHEMA,
        "title": {"text": info.axis_title, "subtitle": subtitle},
        "width": opts.width,
        "height": opts.height,
        "data": {"values": points},
        "encoding": {"x": x, "color": color},
        "layer": layers,
        "config": _config(opts),
        "usermeta": {"kind": "param", "metric": metric, "param": param},
    }


def metric_vs_metric(
    data: SweepData,
    xm: str,
    ym: str,
    infos: dict[str, MetricInfo] | None = None,
    opts: Options | None = None,
) -> dict[str, Any]:
    """One metric against another (a privacy-utility curve): a point per combination at the
    means with 95 % intervals both ways, joined and labelled in the order of the first numeric
    swept parameter."""
    opts = opts or Options()
    xi, yi = _info(infos or {}, xm), _info(infos or {}, ym)
    order_param = next((p for p in data.params if p in data.numeric), None)
    if order_param is None and data.params:
        order_param = data.params[0]
    others = [p for p in data.params if p != order_param]
    split, labels, series_order = _series(data, others)
    points: list[dict[str, Any]] = []
    for first, values in group(data, list(data.params), [xm, ym]):
        if not values[xm] or not values[ym]:
            continue
        mx, xlo, xhi = interval(values[xm], xi.lower, xi.upper)
        my, ylo, yhi = interval(values[ym], yi.lower, yi.upper)
        at = key(first.get(order_param)) if order_param else 0
        points.append(
            {
                "x": mx,
                "xlo": xlo,
                "xhi": xhi,
                "y": my,
                "ylo": ylo,
                "yhi": yhi,
                "order": float(at) if is_number(at) else str(at),
                "label": fmt(at),
                "series": labels.get(tuple(key(first.get(p)) for p in others), "all"),
                "n": len(values[xm]),
            }
        )
    points.sort(key=lambda p: sort_key(p["order"]))
    y_lo = min((p["y"] for p in points), default=0.0)
    y_hi = max((p["y"] for p in points), default=0.0)
    margin = 0.06 * (y_hi - y_lo)
    for i, p in enumerate(points):
        p["rank"] = i  # numeric order along the curve, also for categorical parameters
        # labels alternate above and below the curve; along the lowest points (the x axis's
        # tick labels are below them) they alternate one and two lines above, along the
        # highest (the title is above) one and two lines below
        odd = i % 2 == 1
        if p["y"] <= y_lo + margin:
            p["place"] = "high" if odd else "above"
        elif p["y"] >= y_hi - margin:
            p["place"] = "low" if odd else "below"
        else:
            p["place"] = "below" if odd else "above"
    xs = [p["x"] for p in points] + [p["xlo"] for p in points]
    ys = [p["y"] for p in points] + [p["ylo"] for p in points]
    x_scale = _scale(_metric_log(opts, "x", xs, xi), xs, xi)
    y_scale = _scale(_metric_log(opts, "y", ys, yi), ys, yi)
    x = {"field": "x", "type": "quantitative", "title": xi.axis_title, "scale": x_scale}
    y = {"field": "y", "type": "quantitative", "title": yi.axis_title, "scale": y_scale}
    if x_scale.get("type") == "log":
        x["axis"] = _log_axis(xs)
    if y_scale.get("type") == "log":
        y["axis"] = _log_axis(ys)
    color = _color(split, [data.title(o) for o in others], series_order, PALETTE[1])
    joined = order_param is not None and order_param in data.numeric
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "rule", "opacity": 0.5},
            "encoding": {"x": {**x, "field": "xlo"}, "x2": {"field": "xhi"}, "y": y},
        },
        {
            "mark": {"type": "rule", "opacity": 0.5},
            "encoding": {"x": x, "y": {**y, "field": "ylo"}, "y2": {"field": "yhi"}},
        },
        {
            "mark": {"type": "line", "point": {"filled": True, "size": 50}}
            if joined
            else {"type": "point", "filled": True, "size": 60},
            "encoding": {
                "x": x,
                "y": y,
                "order": {"field": "rank"},
                "tooltip": [
                    {
                        "field": "label",
                        "title": data.title(order_param) if order_param else "point",
                    },
                    *([{"field": "series", "title": ", ".join(others)}] if split else []),
                    {"field": "x", "title": xi.axis_title, "format": ".4g"},
                    {"field": "y", "title": yi.axis_title, "format": ".4g"},
                    {"field": "n", "title": "repeats"},
                ],
            },
        },
        # labels above or below their point (see ``below``), so that close points stay readable
        *(
            {
                "transform": [{"filter": f"datum.place == '{place}'"}],
                "mark": {"type": "text", "align": "left", "dx": 6, "dy": dy},
                "encoding": {"x": x, "y": y, "text": {"field": "label"}},
            }
            for place, dy in (("above", -8), ("high", -20), ("below", 12), ("low", 24))
        ),
    ]
    subtitle = "means with 95 % intervals over repeats"
    if order_param:
        subtitle = f"points labelled with {data.title(order_param)}; " + subtitle
    return {
        "$schema": SCHEMA,
        "title": {"text": f"{yi.title} against {xi.title}", "subtitle": subtitle},
        "width": opts.width,
        "height": opts.height,
        "data": {"values": points},
        "encoding": {"color": color},
        "layer": layers,
        "config": _config(opts),
        "usermeta": {"kind": "tradeoff", "x": xm, "y": ym, "labels": order_param},
    }


def grid(
    data: SweepData, infos: dict[str, MetricInfo] | None = None, opts: Options | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """(metric, parameter, spec) for each numeric output against each swept parameter."""
    charts = []
    for param in data.params:
        for metric in data.metrics:
            charts.append((metric, param, metric_vs_param(data, metric, param, infos, opts)))
            if len(charts) >= MAX_CHARTS:
                return charts
    return charts


def overlay(
    specs: Sequence[tuple[str, dict[str, Any]]], opts: Options | None = None
) -> dict[str, Any] | None:
    """Several runs' specs of the same kind in one figure, one colour per run (compare page)."""
    opts = opts or Options()
    if not specs:
        return None
    values = []
    order: list[str] = []
    for run_label, spec in specs:
        for p in spec["data"]["values"]:
            # a run's own series (its other swept parameters) stay apart: no line across them
            series = run_label if p["series"] == "all" else f"{run_label} · {p['series']}"
            if series not in order:
                order.append(series)
            values.append({**p, "series": series})
    base = specs[0][1]
    color = _color(True, ["run"], order, PALETTE[0])
    if len(order) > len(PALETTE):
        color["scale"] = {"domain": order, "scheme": "tableau20"}
    layers = []
    for layer in base["layer"]:
        enc = {k: v for k, v in layer["encoding"].items() if k != "xOffset"}
        layers.append({**layer, "encoding": enc})
    encoding = {**base["encoding"], "color": color}
    return {**base, "data": {"values": values}, "encoding": encoding, "layer": layers}


__all__ = [
    "LOG_CHOICES",
    "MAX_CHARTS",
    "MAX_SERIES",
    "SCHEMA",
    "Options",
    "grid",
    "metric_vs_metric",
    "metric_vs_param",
    "overlay",
]
