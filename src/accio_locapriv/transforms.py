"""Trace transforms: splitting, sampling, truncation, smoothing and time shifting.

Every transform works on the whole table at once: the input is converted to flat arrays with
per-trace offsets (:mod:`accio_locapriv.arrow`), a keep-mask or a sub-trace start mask is computed
with vectorised numpy (or a numba loop when the rule is sequential, e.g. "distance to the last kept
event"), and the rows are selected from the input table, so extra columns are carried through.

Splitting transforms always rename traces ``<id>-<k>``, ``k`` counting from 0 in time order, even
when a trace is not cut. Traces left without events disappear from the output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numba import njit

from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays, take_rows, to_arrays, trace_index
from accio_locapriv.kernels.geo import EARTH_RADIUS_M, haversine, haversine_nb
from accio_locapriv.kernels.smoothing import gaussian_smoothing
from accio_locapriv.schema import OperatorInputError, validate_traces

__all__ = [
    "OPERATORS",
    "CollapseTemporalGaps",
    "DurationSplitting",
    "EnforceDuration",
    "EnforceSize",
    "GaussianKernelSmoothing",
    "ModuloSampling",
    "SequentialSplitting",
    "SizeSplitting",
    "SpatialGapSplitting",
    "SpatialSampling",
    "TemporalGapSplitting",
    "TemporalSampling",
    "UniformSampling",
    "collapse_days",
    "duration_split_starts",
    "filter_table",
    "meters",
    "millis",
    "modulo_keep",
    "spatial_sampling_keep",
    "split_table",
    "temporal_sampling_keep",
]

DAY_MS = 86_400_000

_RES: dict[str, Any] = {"category": "transform", "cpus": 1, "memory": "2G", "version": "1"}


# ---------------------------------------------------------------------------------------------
# Helpers shared by the operators


def meters(value: Any) -> float:
    """Metres from a ``Distance`` (or a plain number of metres)."""
    return float(getattr(value, "meters", value))


def millis(value: Any) -> int:
    """Milliseconds from a ``Duration``/``Timestamp`` (or a plain number of milliseconds)."""
    return int(getattr(value, "millis", value))


def _load(inputs: dict[str, Any]) -> tuple[pa.Table, TraceArrays]:
    table = validate_traces(inputs["data"])
    return table, to_arrays(table, validate=False)


def _position(arrays: TraceArrays) -> np.ndarray:
    """Index of every event within its trace."""
    pos: np.ndarray = np.arange(arrays.n_events, dtype=np.int64)
    pos -= np.repeat(arrays.offsets[:-1], arrays.lengths)
    return pos


def _first_of_trace(arrays: TraceArrays) -> np.ndarray:
    starts = np.zeros(arrays.n_events, dtype=bool)
    starts[arrays.offsets[:-1][arrays.lengths > 0]] = True
    return starts


def split_table(table: pa.Table, arrays: TraceArrays, starts: np.ndarray) -> pa.Table:
    """Cut traces where ``starts`` is True and name the pieces ``<id>-<k>``.

    ``starts`` is a per-event boolean; the first event of every trace is a start whatever its
    value.
    """
    starts = starts | _first_of_trace(arrays)
    begin = np.flatnonzero(starts)
    offsets = np.append(begin, arrays.n_events).astype(np.int64)
    if len(begin) == 0:
        return table.slice(0, 0)
    tr = trace_index(arrays.offsets)[begin]
    # k = rank of each piece among the pieces of its trace (``tr`` is non-decreasing).
    group = np.flatnonzero(np.diff(tr, prepend=-1) != 0)
    sizes = np.diff(np.append(group, len(tr)))
    k = np.arange(len(tr), dtype=np.int64) - np.repeat(group, sizes)
    names = arrays.ids[tr]
    ids = np.array([f"{t}-{j}" for t, j in zip(names.tolist(), k.tolist(), strict=True)], object)
    return take_rows(table, None, ids, offsets)


def filter_table(table: pa.Table, keep: np.ndarray) -> pa.Table:
    """Rows of ``table`` where ``keep`` is True (order and ids unchanged)."""
    if keep.all():
        return table
    return table.filter(pa.array(keep, type=pa.bool_()))


# ---------------------------------------------------------------------------------------------
# Kernels of the sequential rules


@njit(cache=True)
def _anchor_marks(t: np.ndarray, offsets: np.ndarray, duration: int) -> np.ndarray:
    """Mark each trace's first event, then every event ``>= duration`` after the last marked.

    The same rule serves duration splitting (a mark opens a sub-trace, measured from its first
    event) and temporal sampling (a mark is kept, measured from the last kept event).
    """
    out = np.zeros(len(t), dtype=np.bool_)
    for tr in range(len(offsets) - 1):
        a = offsets[tr]
        b = offsets[tr + 1]
        if b <= a:
            continue
        anchor = t[a]
        out[a] = True
        for i in range(a + 1, b):
            if t[i] - anchor >= duration:
                out[i] = True
                anchor = t[i]
    return out


def duration_split_starts(
    time_ms: np.ndarray, offsets: np.ndarray, duration_ms: int
) -> np.ndarray:
    """Sub-trace starts: an event opens one ``≥ duration_ms`` after the current one's start."""
    return _anchor_marks(
        np.ascontiguousarray(time_ms, dtype=np.int64),
        np.ascontiguousarray(offsets, dtype=np.int64),
        int(duration_ms),
    )


def temporal_sampling_keep(
    time_ms: np.ndarray, offsets: np.ndarray, duration_ms: int
) -> np.ndarray:
    """Keep-mask: the first event, then each event ``≥ duration_ms`` after the last kept one."""
    return _anchor_marks(
        np.ascontiguousarray(time_ms, dtype=np.int64),
        np.ascontiguousarray(offsets, dtype=np.int64),
        int(duration_ms),
    )


@njit(cache=True)
def _spatial_keep(
    lat: np.ndarray, lng: np.ndarray, offsets: np.ndarray, distance: float, radius: float
) -> np.ndarray:
    out = np.zeros(len(lat), dtype=np.bool_)
    for tr in range(len(offsets) - 1):
        a = offsets[tr]
        b = offsets[tr + 1]
        if b <= a:
            continue
        last = a
        out[a] = True
        for i in range(a + 1, b):
            if haversine_nb(lat[last], lng[last], lat[i], lng[i], radius) >= distance:
                out[i] = True
                last = i
    return out


def spatial_sampling_keep(
    lat: np.ndarray, lng: np.ndarray, offsets: np.ndarray, distance_m: float
) -> np.ndarray:
    """Keep-mask: the first event, then each event ``≥ distance_m`` from the last kept one."""
    return _spatial_keep(
        np.ascontiguousarray(lat, dtype=np.float64),
        np.ascontiguousarray(lng, dtype=np.float64),
        np.ascontiguousarray(offsets, dtype=np.int64),
        float(distance_m),
        EARTH_RADIUS_M,
    )


def modulo_keep(offsets: np.ndarray, n: int) -> np.ndarray:
    """Keep-mask of ModuloSampling: about ``n`` evenly spaced events of traces longer than ``n``.

    For a trace of ``size > n`` events, event ``i`` is kept when ``i mod (size/n) < 1`` (real
    division), and at most the first ``n`` such events are kept. Shorter traces are unchanged.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    total = int(offsets[-1]) if len(offsets) else 0
    pos = np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    size = np.repeat(lengths, lengths)
    if n <= 0:
        return np.zeros(total, dtype=bool)
    step = size.astype(np.float64) / float(n)
    keep = (size <= n) | (np.fmod(pos.astype(np.float64), step) < 1.0)
    # At most n per trace: number of kept events before each event, within its trace.
    running = np.cumsum(keep)
    before_trace = np.concatenate(([0], running))[offsets[:-1]]
    kept_before = running - keep - np.repeat(before_trace, lengths)
    result: np.ndarray = keep & (kept_before < n)
    return result


def collapse_days(time_ms: np.ndarray, offsets: np.ndarray, start_ms: int) -> np.ndarray:
    """Shift whole UTC days so that a trace's days with events become consecutive days.

    The first day with events moves to the UTC day of ``start_ms``, the next day with events to
    the day after, and so on; the time of day is kept. Times stay sorted within each trace.
    """
    t = np.asarray(time_ms, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    day = np.floor_divide(t, DAY_MS)
    new_day = np.ones(len(t), dtype=bool)
    if len(t) > 1:
        new_day[1:] = day[1:] != day[:-1]
    starts = offsets[:-1][lengths > 0]
    new_day[starts] = True
    rank = np.cumsum(new_day) - 1
    rank -= np.repeat(rank[offsets[:-1][lengths > 0]], lengths[lengths > 0])
    start_day = int(start_ms) // DAY_MS
    shifted: np.ndarray = t + (start_day + rank - day) * DAY_MS
    return shifted


# ---------------------------------------------------------------------------------------------
# Splitting


@operator(help="Cut traces into pieces that each span less than a given duration.", **_RES)
class DurationSplitting:
    """A new sub-trace starts at the first event ``≥ duration`` after the current one's start."""

    class Inputs:
        duration = Port("duration", min=0, help="Longest time span of a piece.")
        data = Port("dataset", help="Traces to cut.")

    class Outputs:
        data = Port("dataset", help="Pieces, named <id>-<k>.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        starts = duration_split_starts(arrays.time, arrays.offsets, millis(inputs["duration"]))
        return {"data": split_table(table, arrays, starts)}


@operator(help="Cut traces into pieces of at most a given number of events.", **_RES)
class SizeSplitting:
    """Piece ``k`` holds events ``k·size`` to ``(k + 1)·size − 1`` of the trace."""

    class Inputs:
        size = Port("integer", min=1, help="Largest number of events of a piece.")
        data = Port("dataset", help="Traces to cut.")

    class Outputs:
        data = Port("dataset", help="Pieces, named <id>-<k>.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        size = int(inputs["size"])
        if size < 1:
            raise OperatorInputError(f"size must be >= 1, got {size}")
        return {"data": split_table(table, arrays, _position(arrays) % size == 0)}


@operator(help="Cut traces wherever two consecutive events are far apart in space.", **_RES)
class SpatialGapSplitting:
    """A new sub-trace starts at an event ``≥ distance`` (great-circle) from the previous one."""

    class Inputs:
        distance = Port("distance", min=0, help="Gap between consecutive events that cuts.")
        data = Port("dataset", help="Traces to cut.")

    class Outputs:
        data = Port("dataset", help="Pieces, named <id>-<k>.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        starts = np.zeros(arrays.n_events, dtype=bool)
        if arrays.n_events > 1:
            gap = haversine(arrays.lat[:-1], arrays.lng[:-1], arrays.lat[1:], arrays.lng[1:])
            starts[1:] = gap >= meters(inputs["distance"])
        return {"data": split_table(table, arrays, starts)}


@operator(help="Cut traces wherever two consecutive events are far apart in time.", **_RES)
class TemporalGapSplitting:
    """A new sub-trace starts at an event ``≥ duration`` after the previous one."""

    class Inputs:
        duration = Port("duration", min=0, help="Silence between consecutive events that cuts.")
        data = Port("dataset", help="Traces to cut.")

    class Outputs:
        data = Port("dataset", help="Pieces, named <id>-<k>.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        starts = np.zeros(arrays.n_events, dtype=bool)
        starts[1:] = np.diff(arrays.time) >= millis(inputs["duration"])
        return {"data": split_table(table, arrays, starts)}


@operator(help="Keep a contiguous slice of every trace, given in percent of its events.", **_RES)
class SequentialSplitting:
    """Keep events ``floor(begin·n/100)`` (included) to ``ceil(end·n/100)`` (excluded).

    With ``complement`` the other events are kept. Trace ids are unchanged, so the two halves of a
    train/test split pair up by id.
    """

    class Inputs:
        percentBegin = Port("double", min=0, max=100, help="Start of the slice, percent.")
        percentEnd = Port("double", min=0, max=100, help="End of the slice, percent.")
        complement = Port("boolean", default=False, help="Keep everything but the slice.")
        data = Port("dataset", help="Traces to slice.")

    class Outputs:
        data = Port("dataset", help="Sliced traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        begin = float(inputs["percentBegin"])
        end = float(inputs["percentEnd"])
        if not 0.0 <= begin <= end <= 100.0:
            raise OperatorInputError(
                f"need 0 <= percentBegin <= percentEnd <= 100, got {begin:g} and {end:g}"
            )
        table, arrays = _load(inputs)
        lengths = arrays.lengths.astype(np.float64)
        lo = np.repeat(np.floor(begin * lengths / 100.0), arrays.lengths)
        hi = np.repeat(np.ceil(end * lengths / 100.0), arrays.lengths)
        pos = _position(arrays)
        inside = (pos >= lo) & (pos < hi)
        keep = ~inside if inputs.get("complement", False) else inside
        return {"data": filter_table(table, keep)}


# ---------------------------------------------------------------------------------------------
# Sampling


@operator(help="Drop every event too close to the last event kept.", **_RES)
class SpatialSampling:
    """Keep the first event, then each event ``≥ distance`` from the last kept one."""

    class Inputs:
        distance = Port("distance", min=0, help="Smallest distance between kept events.")
        data = Port("dataset", help="Traces to thin.")

    class Outputs:
        data = Port("dataset", help="Thinned traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        keep = spatial_sampling_keep(
            arrays.lat, arrays.lng, arrays.offsets, meters(inputs["distance"])
        )
        return {"data": filter_table(table, keep)}


@operator(help="Drop every event that follows the last event kept too soon.", **_RES)
class TemporalSampling:
    """Keep the first event, then each event ``≥ duration`` after the last kept one."""

    class Inputs:
        duration = Port("duration", min=0, help="Smallest time between kept events.")
        data = Port("dataset", help="Traces to thin.")

    class Outputs:
        data = Port("dataset", help="Thinned traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        keep = temporal_sampling_keep(arrays.time, arrays.offsets, millis(inputs["duration"]))
        return {"data": filter_table(table, keep)}


@operator(help="Thin long traces down to about n evenly spaced events.", **_RES)
class ModuloSampling:
    """Traces longer than ``n`` keep about ``n`` events at regular index steps (at most ``n``)."""

    class Inputs:
        n = Port("integer", min=0, help="Target number of events per trace.")
        data = Port("dataset", help="Traces to thin.")

    class Outputs:
        data = Port("dataset", help="Thinned traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        return {"data": filter_table(table, modulo_keep(arrays.offsets, int(inputs["n"])))}


@operator(help="Keep each event independently with a given probability.", unstable=True, **_RES)
class UniformSampling:
    """Event ``i`` of a trace is kept when ``U_i < probability``.

    ``U`` is drawn from the trace's own generator (keyed on the node seed and the trace id), so
    the result for a trace does not depend on the other traces. ``probability`` 1 keeps all
    events and 0 none.
    """

    class Inputs:
        probability = Port("double", min=0, max=1, help="Chance that an event is kept.")
        data = Port("dataset", help="Traces to thin.")

    class Outputs:
        data = Port("dataset", help="Thinned traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        p = float(inputs["probability"])
        u = np.empty(arrays.n_events)
        for k, trace_id in enumerate(arrays.ids):
            a, b = arrays.offsets[k], arrays.offsets[k + 1]
            ctx.trace_rng(str(trace_id)).random(out=u[a:b])
        return {"data": filter_table(table, u < p)}


# ---------------------------------------------------------------------------------------------
# Truncation


@operator(help="Truncate traces to a maximum size, then drop those below a minimum.", **_RES)
class EnforceSize:
    """Keep the first ``maxSize`` events, then drop traces with fewer than ``minSize``."""

    class Inputs:
        minSize = Port("integer", optional=True, min=0, help="Fewest events a trace may keep.")
        maxSize = Port("integer", optional=True, min=0, help="Most events a trace may keep.")
        data = Port("dataset", help="Traces to truncate.")

    class Outputs:
        data = Port("dataset", help="Truncated traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        keep = np.ones(arrays.n_events, dtype=bool)
        kept = arrays.lengths
        if inputs.get("maxSize") is not None:
            max_size = int(inputs["maxSize"])
            keep &= _position(arrays) < max_size
            kept = np.minimum(kept, max_size)
        if inputs.get("minSize") is not None:
            keep &= np.repeat(kept >= int(inputs["minSize"]), arrays.lengths)
        return {"data": filter_table(table, keep)}


@operator(
    help="Truncate traces to a maximum duration, drop those originally below a minimum.", **_RES
)
class EnforceDuration:
    """Keep events at most ``maxDuration`` after a trace's first event; drop short traces.

    A trace is dropped when its *original* duration (last minus first event, before the cut) is
    below ``minDuration`` (locapriv.md §1.3).
    """

    class Inputs:
        minDuration = Port("duration", optional=True, min=0, help="Shortest trace kept.")
        maxDuration = Port("duration", optional=True, min=0, help="Longest span kept.")
        data = Port("dataset", help="Traces to truncate.")

    class Outputs:
        data = Port("dataset", help="Truncated traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        keep = np.ones(arrays.n_events, dtype=bool)
        nonempty = arrays.lengths > 0
        first = np.zeros(arrays.n_traces, dtype=np.int64)
        last = np.zeros(arrays.n_traces, dtype=np.int64)
        first[nonempty] = arrays.time[arrays.offsets[:-1][nonempty]]
        last[nonempty] = arrays.time[arrays.offsets[1:][nonempty] - 1]
        if inputs.get("maxDuration") is not None:
            limit = first + millis(inputs["maxDuration"])
            keep &= arrays.time <= np.repeat(limit, arrays.lengths)
        if inputs.get("minDuration") is not None:
            long_enough = (last - first) >= millis(inputs["minDuration"])
            keep &= np.repeat(long_enough, arrays.lengths)
        return {"data": filter_table(table, keep)}


# ---------------------------------------------------------------------------------------------
# Smoothing and time shifting


@operator(help="Replace each position by a Gaussian-weighted average over time.", **_RES)
class GaussianKernelSmoothing:
    """Point ``i`` becomes ``Σ_j w_j p_j / Σ_j w_j``, ``w_j = exp(−(t_i − t_j)²/(2ω²))``.

    The sum is restricted to ``|t_i − t_j| ≤ 8ω``, which changes the result by less than 1e-13
    relative to the full sum of the original.
    """

    class Inputs:
        omega = Port("duration", min=0, min_exclusive=True, help="Kernel bandwidth.")
        data = Port("dataset", help="Traces to smooth.")

    class Outputs:
        data = Port("dataset", help="Smoothed traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        omega = millis(inputs["omega"])
        if omega <= 0:
            raise OperatorInputError(f"omega must be > 0, got {omega} ms")
        lat, lng = gaussian_smoothing(arrays.lat, arrays.lng, arrays.time, arrays.offsets, omega)
        return {"data": take_rows(table, None, lat=lat, lng=lng)}


@operator(help="Remove empty days from traces and move them to start on a given day.", **_RES)
class CollapseTemporalGaps:
    """Shift whole UTC days so that each trace's days with events are consecutive.

    The first day with events becomes the UTC day of ``startAt``; the time of day is kept.

    The original computed the shift from the absolute number of days between the trace's first
    day and ``startAt`` and always subtracted it, so a trace starting *before* ``startAt`` was
    moved further back. Here the shift is signed and traces always land on ``startAt``'s day.
    """

    class Inputs:
        startAt = Port("timestamp", help="Day on which every trace starts (UTC).")
        data = Port("dataset", help="Traces to shift.")

    class Outputs:
        data = Port("dataset", help="Shifted traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table, arrays = _load(inputs)
        time = collapse_days(arrays.time, arrays.offsets, millis(inputs["startAt"]))
        return {"data": take_rows(table, None, time_ms=time)}


OPERATORS: list[type] = [
    CollapseTemporalGaps,
    DurationSplitting,
    EnforceDuration,
    EnforceSize,
    GaussianKernelSmoothing,
    ModuloSampling,
    SequentialSplitting,
    SizeSplitting,
    SpatialGapSplitting,
    SpatialSampling,
    TemporalGapSplitting,
    TemporalSampling,
    UniformSampling,
]
