"""The UI's side of the sweep figures: reading plot options from a request.

The figures themselves (statistics, titles from operator declarations, Vega-Lite specs) live
in :mod:`accio.client.figures`, shared with ``accio plot``: a figure downloaded from the page and
one written by the CLI come from the same spec.
"""

from __future__ import annotations

from collections.abc import Mapping

from accio.client.figures import LOG_CHOICES, MAX_CHARTS, Figures, Options, overlay
from accio.client.figures.data import SweepData, student_t, sweep_data

#: Presets of the size control: (plotting width, height) in pixels.
SIZES = {"small": (280, 190), "medium": (360, 240), "large": (520, 340)}
FONT_SIZES = (10, 12, 14, 16)


def _int(text: str | None, default: int, lo: int, hi: int) -> int:
    try:
        return min(max(int(text or default), lo), hi)
    except ValueError:
        return default


def options(query: Mapping[str, str], *, wide: bool = False) -> Options:
    """Plot options from query parameters ``log``, ``size`` (or ``width``/``height``), ``font``.

    ``wide`` is the trade-off plot: one and a half times the grid's size."""
    size = query.get("size", "medium")
    width, height = SIZES.get(size, SIZES["medium"])
    if wide:
        width, height = int(width * 1.5), int(height * 1.5)
    width = _int(query.get("width"), width, 100, 2000)
    height = _int(query.get("height"), height, 80, 2000)
    font = _int(query.get("font"), 12, 6, 32)
    log = query.get("log", "auto")
    return Options(width, height, font, log if log in LOG_CHOICES else "auto")


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % Student t interval (for unbounded metrics; bounded ones bootstrap)."""
    return student_t(values)


__all__ = [
    "FONT_SIZES",
    "LOG_CHOICES",
    "MAX_CHARTS",
    "SIZES",
    "Figures",
    "Options",
    "SweepData",
    "mean_ci",
    "options",
    "overlay",
    "sweep_data",
]
