"""Privacy and utility metrics: how a protected dataset (``test``) compares with its original
(``train``).

Conventions shared by every metric here:

* Trace metrics pair ``train`` and ``test`` traces **by id**. A trace present on one side only is
  treated as empty on the other side (a mechanism or a transform may drop every event of a trace,
  and a table cannot hold an empty trace), so the F-score and completeness edge cases below apply.
* Per-trace results are ``map(string, double)`` keyed by trace id. Each metric also has one or
  more summary ``double`` outputs (``mean...``) for plotting sweeps.
* Distances are ground metres (haversine on the mean Earth radius). The original Accio measured
  them in a Web-Mercator plane, which inflates them by ``1/cos(latitude)`` (locapriv.md §0).
* F-score rows: ``precision = matched / |test|`` (1 when the test set is empty),
  ``recall = matched / |train|`` (0 when the train set is empty), ``F = 2PR / (P + R)`` (0 when P
  or R is 0).
* Output values must be finite: where the original reported NaN (a user on one side only), the
  entry is left out of the map and of the averages, and the node log says how many were left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba as nb
import numpy as np
import pyarrow as pa

from accio.definitions.seeds import derive_trace_seed
from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays, to_arrays
from accio_locapriv.kernels.distance import nearest_distances, spatiotemporal_distances
from accio_locapriv.kernels.geo import EARTH_RADIUS_M, haversine
from accio_locapriv.kernels.s2 import cell_ids
from accio_locapriv.kernels.stays import repeated_pois
from accio_locapriv.pois import PoiArrays, meters, millis
from accio_locapriv.schema import OperatorInputError, validate_traces

__all__ = [
    "HEATMAP_DISTANCES",
    "OPERATORS",
    "AreaCoverage",
    "CountQueriesDistortion",
    "DataCompleteness",
    "HeatMapDistortion",
    "MmcReident",
    "PoisReident",
    "PoisRetrieval",
    "SpatialDistortion",
    "SpatioTemporalDistortion",
    "TracePairs",
    "TransmissionDelay",
    "area_coverage",
    "fscores",
    "heatmap_distance",
    "pair_traces",
    "trace_stats",
    "user_of",
]

_METRIC: dict[str, Any] = {"category": "metric", "version": "1"}


# ---------------------------------------------------------------------------------------------
# Shared helpers


def user_of(trace_id: str) -> str:
    """The user a trace belongs to: the part of its id before the first ``-``."""
    return trace_id.split("-", 1)[0]


def _traces(table: pa.Table) -> TraceArrays:
    return to_arrays(validate_traces(table), validate=False)


class TracePairs:
    """Traces of ``train`` and ``test`` matched by id (the union of both id sets, ascending).

    Attributes
    ----------
    ids : numpy.ndarray
        Object array of trace ids.
    ref_start, ref_end, test_start, test_end : numpy.ndarray
        int64 row ranges in the train and test arrays; an empty range for a missing trace.
    """

    def __init__(self, ref: TraceArrays, test: TraceArrays) -> None:
        self.ref = ref
        self.test = test
        ids = (
            np.union1d(ref.ids.astype(object), test.ids.astype(object))
            if (len(ref.ids) or len(test.ids))
            else np.zeros(0, dtype=object)
        )
        self.ids: np.ndarray = np.asarray(ids, dtype=object)
        self.ref_start, self.ref_end = self._ranges(ref)
        self.test_start, self.test_end = self._ranges(test)

    def _ranges(self, arrays: TraceArrays) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.ids)
        start = np.zeros(n, dtype=np.int64)
        end = np.zeros(n, dtype=np.int64)
        if len(arrays.ids) and n:
            pos = np.searchsorted(self.ids, arrays.ids)
            start[pos] = arrays.offsets[:-1]
            end[pos] = arrays.offsets[1:]
        return start, end

    @property
    def n_ref(self) -> np.ndarray:
        """Train events per pair (int64)."""
        out: np.ndarray = self.ref_end - self.ref_start
        return out

    @property
    def n_test(self) -> np.ndarray:
        """Test events per pair (int64)."""
        out: np.ndarray = self.test_end - self.test_start
        return out


def pair_traces(train: pa.Table, test: pa.Table) -> TracePairs:
    """Validate two trace tables and pair their traces by id."""
    return TracePairs(_traces(train), _traces(test))


def _event_group(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows covered by the ranges and the range number of each row (both int64)."""
    lengths = end - start
    group = np.repeat(np.arange(len(start), dtype=np.int64), lengths)
    first = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else lengths
    rows = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(start - first, lengths)
    return rows, group


def fscores(
    matched: np.ndarray, n_ref: np.ndarray, n_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F-score from match counts, with the library's edge cases.

    Parameters
    ----------
    matched : numpy.ndarray
        Number of matched items per trace.
    n_ref, n_test : numpy.ndarray
        Sizes of the reference (train) and result (test) sets.

    Returns
    -------
    (precision, recall, fscore) : tuple of numpy.ndarray
        ``precision = matched / n_test`` or 1 when ``n_test = 0``; ``recall = matched / n_ref``
        or 0 when ``n_ref = 0``; ``fscore = 2PR / (P + R)`` or 0 when P or R is 0.
    """
    matched = np.asarray(matched, dtype=np.float64)
    n_ref = np.asarray(n_ref, dtype=np.float64)
    n_test = np.asarray(n_test, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_test > 0, matched / np.where(n_test > 0, n_test, 1.0), 1.0)
        recall = np.where(n_ref > 0, matched / np.where(n_ref > 0, n_ref, 1.0), 0.0)
        total = precision + recall
        fscore = np.where(
            (precision > 0) & (recall > 0),
            2.0 * precision * recall / np.where(total > 0, total, 1.0),
            0.0,
        )
    return precision, recall, fscore


def _as_map(
    ids: np.ndarray, values: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, float]:
    if mask is None:
        return {str(k): float(v) for k, v in zip(ids, values, strict=True)}
    return {str(k): float(v) for k, v, m in zip(ids, values, mask, strict=True) if m}


def _mean(values: np.ndarray | list[float]) -> float:
    """Mean of finite values, 0 when there are none (outputs must be finite)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else 0.0


def _fscore_outputs(
    ids: np.ndarray, matched: np.ndarray, n_ref: np.ndarray, n_test: np.ndarray
) -> dict[str, Any]:
    precision, recall, fscore = fscores(matched, n_ref, n_test)
    return {
        "precision": _as_map(ids, precision),
        "recall": _as_map(ids, recall),
        "fscore": _as_map(ids, fscore),
        "meanPrecision": _mean(precision),
        "meanRecall": _mean(recall),
        "meanFscore": _mean(fscore),
    }


@nb.njit(cache=True, nogil=True)
def _segment_stats(values: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    # out columns: min, max, avg, stddev, median
    for g in range(offsets.shape[0] - 1):
        a = offsets[g]
        b = offsets[g + 1]
        n = b - a
        if n == 0:
            continue
        v = np.sort(values[a:b])
        total = 0.0
        for i in range(n):
            total += v[i]
        avg = total / n
        dev = 0.0
        for i in range(n):
            dev += (v[i] - avg) * (v[i] - avg)
        out[g, 0] = v[0]
        out[g, 1] = v[n - 1]
        out[g, 2] = avg
        out[g, 3] = math.sqrt(dev / n)
        out[g, 4] = 0.5 * (v[(n - 1) // 2] + v[n // 2])


def trace_stats(values: np.ndarray, group: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Per-group statistics of values: ``n``, ``min``, ``max``, ``avg``, ``stddev``, ``median``.

    Groups without values get zeros (the original's convention). ``stddev`` is the population
    standard deviation; ``median`` is the mean of the two middle values for even counts.
    """
    values = np.asarray(values, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    n = np.bincount(group, minlength=n_groups).astype(np.int64)
    if len(group) > 1 and np.any(group[1:] < group[:-1]):
        values = values[np.argsort(group, kind="stable")]
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(n, out=offsets[1:])
    table = np.zeros((n_groups, 5))
    _segment_stats(np.require(values, requirements=("C", "W")), offsets, table)
    out = {k: table[:, i].copy() for i, k in enumerate(("min", "max", "avg", "stddev", "median"))}
    out["n"] = n
    return out


_STAT_PORTS = ("min", "max", "stddev", "avg", "median")


def _stats_outputs(ids: np.ndarray, stats: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {k: _as_map(ids, stats[k]) for k in _STAT_PORTS}
    has = stats["n"] > 0
    out["meanDistortion"] = _mean(stats["avg"][has])
    return out


# ---------------------------------------------------------------------------------------------
# Area coverage


def _sorted_unique(keys: list[np.ndarray]) -> list[np.ndarray]:
    """Distinct rows of parallel int64 key columns, sorted by (first, second, ...) column."""
    if len(keys[0]) == 0:
        return keys
    order = np.lexsort(keys[::-1])
    keys = [k[order] for k in keys]
    new = np.ones(len(order), dtype=bool)
    new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return [k[new] for k in keys]


def _cell_sets(
    arrays: TraceArrays, start: np.ndarray, end: np.ndarray, level: int, width_ms: int | None
) -> list[np.ndarray]:
    """Distinct (pair, cell, bucket) triples of the events in the given row ranges."""
    rows, group = _event_group(start, end)
    cells = cell_ids(arrays.lat[rows], arrays.lng[rows], level).view(np.int64)
    if width_ms:
        bucket = np.floor_divide(arrays.time[rows], int(width_ms))
    else:
        bucket = np.zeros(len(rows), dtype=np.int64)
    # Consecutive events mostly share their cell: drop those repeats before sorting.
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (cells[1:] != cells[:-1]) | (bucket[1:] != bucket[:-1]) | (group[1:] != group[:-1])
    return _sorted_unique([group[new], cells[new], bucket[new]])


def area_coverage(
    pairs: TracePairs, level: int, width_ms: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matched cells and cell-set sizes per trace pair.

    Returns
    -------
    (matched, n_ref, n_test) : tuple of numpy.ndarray
        int64 per pair: cells (or (cell, time bucket) pairs) visited on both sides, visited in
        train, visited in test.
    """
    n = len(pairs.ids)
    ref = _cell_sets(pairs.ref, pairs.ref_start, pairs.ref_end, level, width_ms)
    test = _cell_sets(pairs.test, pairs.test_start, pairs.test_end, level, width_ms)
    n_ref = np.bincount(ref[0], minlength=n)
    n_test = np.bincount(test[0], minlength=n)
    # Each side has distinct keys, so a key seen twice in the union is on both sides.
    both = [np.concatenate([r, t]) for r, t in zip(ref, test, strict=True)]
    matched = np.zeros(n, dtype=np.int64)
    if len(both[0]):
        order = np.lexsort(both[::-1])
        keys = [k[order] for k in both]
        dup = np.logical_and.reduce([k[1:] == k[:-1] for k in keys])
        matched = np.bincount(keys[0][1:][dup], minlength=n)
    return matched.astype(np.int64), n_ref.astype(np.int64), n_test.astype(np.int64)


@operator(
    help="Compare, trace by trace, the S2 cells visited in train and in test (F-score).",
    description=(
        "Each trace is turned into the set of S2 cells at `level` that its events fall in (with "
        "`width`, the set of (cell, time bucket) pairs, buckets being epoch time divided by "
        "`width`). precision = shared cells / test cells, recall = shared cells / train cells. "
        "Level 15 cells are about 280 m wide, level 12 about 2.2 km."
    ),
    cpus=1,
    memory="2G",
    **_METRIC,
)
class AreaCoverage:
    """Per-trace precision, recall and F-score of visited S2 cells."""

    class Inputs:
        level = Port("integer", min=0, max=30, help="S2 cell level (0-30).")
        width = Port("duration", optional=True, min=1, help="Time bucket width, if any.")
        train = Port("dataset", help="Reference traces.")
        test = Port("dataset", help="Protected traces.")

    class Outputs:
        precision = Port("map(string, double)", help="Per trace: shared cells / test cells.")
        recall = Port("map(string, double)", help="Per trace: shared cells / train cells.")
        fscore = Port("map(string, double)", help="Per trace: harmonic mean of both.")
        meanPrecision = Port("double", help="Mean of the per-trace precisions.")
        meanRecall = Port("double", help="Mean of the per-trace recalls.")
        meanFscore = Port("double", help="Mean of the per-trace F-scores.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        level = int(inputs["level"])
        if not 0 <= level <= 30:
            raise OperatorInputError(f"level must be in 0..30, got {level}")
        width = inputs.get("width")
        width_ms = millis(width) if width is not None else None
        if width_ms is not None and width_ms <= 0:
            raise OperatorInputError(f"width must be positive, got {width_ms} ms")
        pairs = pair_traces(inputs["train"], inputs["test"])
        matched, n_ref, n_test = area_coverage(pairs, level, width_ms)
        return _fscore_outputs(pairs.ids, matched, n_ref, n_test)


# ---------------------------------------------------------------------------------------------
# Distortions


@operator(
    help="Distance from every test event to its train trace, summarised per trace (metres).",
    description=(
        "With `interpolate` the distance is to the train trace drawn as a polyline (segments "
        "between consecutive events); otherwise to the nearest train event. Per trace: min, max, "
        "population standard deviation, mean and median; traces whose test side is empty get "
        "zeros, traces whose train side is empty are left out."
    ),
    cpus=1,
    memory="6G",
    **_METRIC,
)
class SpatialDistortion:
    """Per-trace statistics of test-to-train distances."""

    class Inputs:
        interpolate = Port(
            "boolean", default=True, help="Measure to the train polyline, not its events."
        )
        train = Port("dataset", help="Reference traces.")
        test = Port("dataset", help="Protected traces.")

    class Outputs:
        min = Port("map(string, double)", help="Per trace: smallest distance, metres.")
        max = Port("map(string, double)", help="Per trace: largest distance, metres.")
        stddev = Port("map(string, double)", help="Per trace: standard deviation, metres.")
        avg = Port("map(string, double)", help="Per trace: mean distance, metres.")
        median = Port("map(string, double)", help="Per trace: median distance, metres.")
        meanDistortion = Port(
            "double", help="Mean of the per-trace means over traces with test events, metres."
        )

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        pairs = pair_traces(inputs["train"], inputs["test"])
        keep = pairs.n_ref > 0
        dropped = int(np.count_nonzero(~keep & (pairs.n_test > 0)))
        if dropped and ctx is not None:
            ctx.log(f"SpatialDistortion: {dropped} test trace(s) without train events left out")
        dist = nearest_distances(
            pairs.ref.lat,
            pairs.ref.lng,
            pairs.ref_start[keep],
            pairs.ref_end[keep],
            pairs.test.lat,
            pairs.test.lng,
            pairs.test_start[keep],
            pairs.test_end[keep],
            interpolate=bool(inputs.get("interpolate", True)),
        )
        ids = pairs.ids[keep]
        rows, group = _event_group(pairs.test_start[keep], pairs.test_end[keep])
        stats = trace_stats(dist[rows], group, len(ids))
        return _stats_outputs(ids, stats)


@operator(
    help="Distance between train and test at the same instants, summarised per trace (metres).",
    description=(
        "For every event of the shorter of the two traces (fewer events; test on ties), the "
        "distance to the other trace's position at that time, interpolated linearly between its "
        "events and clamped to its first and last event. Per trace: min, max, population "
        "standard deviation, mean and median; zeros when a side is empty."
    ),
    cpus=1,
    memory="6G",
    **_METRIC,
)
class SpatioTemporalDistortion:
    """Per-trace statistics of synchronised train/test distances."""

    class Inputs:
        train = Port("dataset", help="Reference traces.")
        test = Port("dataset", help="Protected traces.")

    class Outputs:
        min = Port("map(string, double)", help="Per trace: smallest distance, metres.")
        max = Port("map(string, double)", help="Per trace: largest distance, metres.")
        stddev = Port("map(string, double)", help="Per trace: standard deviation, metres.")
        avg = Port("map(string, double)", help="Per trace: mean distance, metres.")
        median = Port("map(string, double)", help="Per trace: median distance, metres.")
        meanDistortion = Port(
            "double", help="Mean of the per-trace means over traces with both sides, metres."
        )

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        pairs = pair_traces(inputs["train"], inputs["test"])
        n = len(pairs.ids)
        both = (pairs.n_ref > 0) & (pairs.n_test > 0)
        test_short = both & (pairs.n_test <= pairs.n_ref)
        ref_short = both & ~test_short
        values: list[np.ndarray] = []
        groups: list[np.ndarray] = []
        for short, s_arr, s_start, s_end, l_arr, l_start, l_end in (
            (
                test_short,
                pairs.test,
                pairs.test_start,
                pairs.test_end,
                pairs.ref,
                pairs.ref_start,
                pairs.ref_end,
            ),
            (
                ref_short,
                pairs.ref,
                pairs.ref_start,
                pairs.ref_end,
                pairs.test,
                pairs.test_start,
                pairs.test_end,
            ),
        ):
            if not short.any():
                continue
            dist = spatiotemporal_distances(
                l_arr.lat,
                l_arr.lng,
                l_arr.time,
                l_start[short],
                l_end[short],
                s_arr.lat,
                s_arr.lng,
                s_arr.time,
                s_start[short],
                s_end[short],
            )
            rows, group = _event_group(s_start[short], s_end[short])
            values.append(dist[rows])
            groups.append(np.flatnonzero(short)[group])
        stats = trace_stats(
            np.concatenate(values) if values else np.zeros(0),
            np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64),
            n,
        )
        out = _stats_outputs(pairs.ids, stats)
        out["meanDistortion"] = _mean(stats["avg"][both])
        return out


@operator(
    help="Number of test events divided by the number of train events, per trace.",
    description=(
        "1 when both sides are empty, 0 when only the test side is empty; may exceed 1 when a "
        "mechanism adds events. Traces with test events but no train events are left out."
    ),
    cpus=1,
    memory="1G",
    **_METRIC,
)
class DataCompleteness:
    """Per-trace ratio of test to train event counts."""

    class Inputs:
        train = Port("dataset", help="Reference traces.")
        test = Port("dataset", help="Protected traces.")

    class Outputs:
        value = Port("map(string, double)", help="Per trace: test events / train events.")
        meanCompleteness = Port("double", help="Mean of the per-trace values.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        pairs = pair_traces(inputs["train"], inputs["test"])
        n_ref = pairs.n_ref.astype(np.float64)
        n_test = pairs.n_test.astype(np.float64)
        keep = n_ref > 0
        value = np.where(keep, n_test / np.where(keep, n_ref, 1.0), 0.0)
        return {"value": _as_map(pairs.ids, value, keep), "meanCompleteness": _mean(value[keep])}


@operator(
    help="Delay between the last train event and the last test event of each trace (ms).",
    cpus=1,
    memory="2G",
    **_METRIC,
)
class TransmissionDelay:
    """Per-trace ``t_last(test) − t_last(train)``, for traces present on both sides."""

    class Inputs:
        train = Port("dataset", help="Reference traces.")
        test = Port("dataset", help="Protected traces.")

    class Outputs:
        value = Port("map(string, long)", help="Per trace: delay in milliseconds.")
        meanDelay = Port("double", help="Mean delay over those traces, milliseconds.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        pairs = pair_traces(inputs["train"], inputs["test"])
        both = (pairs.n_ref > 0) & (pairs.n_test > 0)
        delay = pairs.test.time[pairs.test_end[both] - 1] - pairs.ref.time[pairs.ref_end[both] - 1]
        ids = pairs.ids[both]
        return {
            "value": {str(k): int(v) for k, v in zip(ids, delay, strict=True)},
            "meanDelay": _mean(delay.astype(np.float64)),
        }


# ---------------------------------------------------------------------------------------------
# POI-based metrics


def _poi_union(ref: PoiArrays, test: PoiArrays) -> np.ndarray:
    if not len(ref.ids) and not len(test.ids):
        return np.zeros(0, dtype=object)
    return np.asarray(np.union1d(ref.ids.astype(object), test.ids.astype(object)), dtype=object)


def poi_matches(
    ref: PoiArrays, test: PoiArrays, trace_id: str, threshold_m: float, overlap_ms: int | None
) -> int:
    """Distinct train POIs of one id hit by its test POIs.

    Each test POI is matched to the closest train POI within ``threshold_m`` metres (and, with
    ``overlap_ms``, whose time span overlaps its own by at least that many milliseconds).
    """
    r = ref.rows(trace_id)
    t = test.rows(trace_id)
    if r.stop <= r.start or t.stop <= t.start:
        return 0
    dist = haversine(
        test.lat[t][:, None], test.lng[t][:, None], ref.lat[r][None, :], ref.lng[r][None, :]
    )
    ok = dist <= threshold_m
    if overlap_ms is not None:
        common = np.minimum(test.end[t][:, None], ref.end[r][None, :]) - np.maximum(
            test.start[t][:, None], ref.start[r][None, :]
        )
        ok &= common >= overlap_ms
    dist = np.where(ok, dist, np.inf)
    best = np.argmin(dist, axis=1)
    hit = ok[np.arange(len(best)), best]
    return len(np.unique(best[hit]))


@operator(
    help="How many train POIs are found again in test, per trace (precision, recall, F-score).",
    description=(
        "Takes two POI datasets (see PoisExtraction). Each test POI is matched to the closest "
        "train POI of the same id within `threshold` (and, with `overlap`, whose time span "
        "overlaps its own by at least that long). The number of matches is the number of "
        "distinct train POIs hit; precision divides it by the test POIs, recall by the train "
        "POIs. Ids with POIs on one side only count as empty on the other."
    ),
    cpus=1,
    memory="1G",
    **_METRIC,
)
class PoisRetrieval:
    """Per-trace F-score of POI retrieval (Primault et al., MoST 2014)."""

    class Inputs:
        threshold = Port("distance", min=0, help="Largest distance between matching POIs.")
        overlap = Port("duration", optional=True, min=0, help="Smallest time overlap, if any.")
        train = Port("dataset", help="Reference POIs.")
        test = Port("dataset", help="POIs of the protected traces.")

    class Outputs:
        precision = Port("map(string, double)", help="Per trace: matches / test POIs.")
        recall = Port("map(string, double)", help="Per trace: matches / train POIs.")
        fscore = Port("map(string, double)", help="Per trace: harmonic mean of both.")
        meanPrecision = Port("double", help="Mean of the per-trace precisions.")
        meanRecall = Port("double", help="Mean of the per-trace recalls.")
        meanFscore = Port("double", help="Mean of the per-trace F-scores.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        ref = PoiArrays(inputs["train"])
        test = PoiArrays(inputs["test"])
        threshold = meters(inputs["threshold"])
        overlap = inputs.get("overlap")
        overlap_ms = millis(overlap) if overlap is not None else None
        ids = _poi_union(ref, test)
        matched = np.array(
            [poi_matches(ref, test, str(k), threshold, overlap_ms) for k in ids], dtype=np.int64
        )
        n_ref = np.array([_count(ref, str(k)) for k in ids], dtype=np.int64)
        n_test = np.array([_count(test, str(k)) for k in ids], dtype=np.int64)
        return _fscore_outputs(ids, matched, n_ref, n_test)


def _count(pois: PoiArrays, trace_id: str) -> int:
    s = pois.rows(trace_id)
    return int(s.stop - s.start)


def _group_by_user(pois: PoiArrays) -> dict[str, np.ndarray]:
    """Row indices of the POIs of every user."""
    users: dict[str, list[int]] = {}
    for k, trace_id in enumerate(pois.ids):
        users.setdefault(user_of(str(trace_id)), []).extend(
            range(int(pois.offsets[k]), int(pois.offsets[k + 1]))
        )
    return {u: np.asarray(r, dtype=np.int64) for u, r in users.items()}


def _median_nn_distance(
    a_lat: np.ndarray, a_lng: np.ndarray, b_lat: np.ndarray, b_lng: np.ndarray
) -> float:
    d = haversine(a_lat[:, None], a_lng[:, None], b_lat[None, :], b_lng[None, :])
    return float(np.median(np.concatenate([d.min(axis=1), d.min(axis=0)])))


@operator(
    help="Link each test user to the train user with the most similar POIs (POI attack).",
    description=(
        "Takes two POI datasets; POIs are grouped by user (the part of the id before the first "
        "'-'). The distance between two users is the median of the distances from each POI of "
        "either user to the nearest POI of the other. Each test user is linked to the train user "
        "at the smallest distance (ties: the first id). rate = correct links / train users."
    ),
    cpus=1,
    memory="3G",
    **_METRIC,
)
class PoisReident:
    """POI-attack re-identification (Primault et al., MoST 2014)."""

    class Inputs:
        train = Port("dataset", help="POIs known to the attacker.")
        test = Port("dataset", help="POIs of the protected traces.")

    class Outputs:
        matches = Port("map(string, string)", help="Test user -> train user it is linked to.")
        rate = Port("double", help="Fraction of train users linked correctly.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        ref = PoiArrays(inputs["train"])
        test = PoiArrays(inputs["test"])
        ref_users = _group_by_user(ref)
        test_users = _group_by_user(test)
        names = sorted(ref_users)
        matches: dict[str, str] = {}
        correct = 0
        for user in sorted(test_users):
            rows = test_users[user]
            best_name, best = "", math.inf
            for name in names:
                r = ref_users[name]
                d = _median_nn_distance(test.lat[rows], test.lng[rows], ref.lat[r], ref.lng[r])
                if d < best:
                    best_name, best = name, d
            if best_name:
                matches[user] = best_name
                correct += best_name == user
        rate = correct / len(names) if names else 0.0
        return {"matches": matches, "rate": float(rate)}


# ---------------------------------------------------------------------------------------------
# Heat maps


def _floor_div(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.where(q > 0, p / np.where(q > 0, q, 1.0), p / 1e-10)


def _topsoe(p: np.ndarray, q: np.ndarray) -> float:
    s = p + q
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(2.0 * p / s), 0.0)
        b = np.where(q > 0, q * np.log(2.0 * q / s), 0.0)
    return float(np.sum(a + b))


def _jensen(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.where(p > 0, p * np.log(p), 0.0)
        lq = np.where(q > 0, q * np.log(q), 0.0)
        lm = np.where(m > 0, m * np.log(m), 0.0)
    return float(np.sum(0.5 * (lp + lq) - lm))


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(_floor_div(p, q)), 0.0)
    return float(np.sum(terms))


def _ndiv(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((p - q) ** 2 / np.where(p > 0, p, 1e-10)))


def _cosine(p: np.ndarray, q: np.ndarray) -> float:
    return float(1.0 - np.dot(p, q) / math.sqrt(float(np.dot(p, p)) * float(np.dot(q, q))))


def _dice(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((p - q) ** 2) / (np.dot(p, p) + np.dot(q, q)))


def _innerp(p: np.ndarray, q: np.ndarray) -> float:
    return float(1.0 - np.dot(p, q))


def _clark(p: np.ndarray, q: np.ndarray) -> float:
    return float(math.sqrt(float(np.sum(((p - q) / (p + q)) ** 2))))


def _loren(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(np.log1p(np.abs(p - q))))


def _nonzero_ratio(p: np.ndarray, q: np.ndarray) -> float:
    common = np.count_nonzero((p > 0) & (q > 0))
    return float(1.0 - common / (np.count_nonzero(p) + np.count_nonzero(q)))


#: Heat-map distances by name. Each takes two aligned probability vectors over the union of the
#: non-empty cells of both maps (P from test, Q from train, as in the original).
HEATMAP_DISTANCES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "topsoe": _topsoe,
    "jensendiv": _jensen,
    "kl": _kl,
    "ndiv": _ndiv,
    "cosine": _cosine,
    "dice": _dice,
    "innerp": _innerp,
    "clark": _clark,
    "loren": _loren,
    "nonzerocellsratio": _nonzero_ratio,
}


def _det(p: np.ndarray, q: np.ndarray, rng: np.random.Generator) -> float:
    cells = np.flatnonzero(p > 0)
    k = min(10, len(cells))
    total = 0.0
    for _ in range(10):
        chosen = rng.choice(cells, size=k, replace=False)
        total += math.sqrt(float(np.sum((p[chosen] - q[chosen]) ** 2)))
    return total / 10.0


def heatmap_distance(p: np.ndarray, q: np.ndarray, kind: str, key: str = "") -> float:
    """Distance between two heat maps given as aligned probability vectors.

    Parameters
    ----------
    p, q : numpy.ndarray
        Probabilities (each sums to 1) over the union of the non-empty cells of both maps.
    kind : str
        One of :data:`HEATMAP_DISTANCES` or ``det``.
    key : str
        Seeds ``det`` (a user id), so that the distance is deterministic.

    Notes
    -----
    Definitions (natural logarithms, sums over the union of cells, ``0·ln 0 = 0``):

    * ``topsoe``: Σ p·ln(2p/(p+q)) + q·ln(2q/(p+q)), in [0, 2 ln 2], twice ``jensendiv``;
    * ``jensendiv``: Σ (p ln p + q ln q)/2 − m ln m with m = (p+q)/2;
    * ``kl``: Σ p·ln(p/q), q floored at 1e-10 where it is 0 (as in the original);
    * ``ndiv``: Neyman's χ², Σ (p−q)²/p with p floored at 1e-10. The original summed (p+q)²/p,
      which is not 0 for equal maps; that is treated as a typo;
    * ``cosine``: 1 − p·q/(|p||q|); ``dice``: Σ(p−q)²/(Σp² + Σq²); ``innerp``: 1 − Σ pq;
    * ``clark``: √Σ((p−q)/(p+q))²; ``loren`` (Lorentzian): Σ ln(1 + |p−q|);
    * ``nonzerocellsratio``: 1 − |cells of both| / (|cells of p| + |cells of q|);
    * ``det``: mean over 10 draws of the L2 distance restricted to 10 random non-empty cells of
      p; the draws are seeded by ``key``.

    References
    ----------
    S.-H. Cha, "Comprehensive survey on distance/similarity measures between probability density
    functions", Int. J. Math. Models Methods Appl. Sci. 1(4), 2007. Maouche et al., "AP-Attack",
    MobiQuitous 2017.
    """
    if kind == "det":
        return _det(p, q, np.random.default_rng(derive_trace_seed(0, f"heatmap-det/{key}")))
    try:
        fn = HEATMAP_DISTANCES[kind]
    except KeyError:
        known = ", ".join(sorted([*HEATMAP_DISTANCES, "det"]))
        raise OperatorInputError(
            f"unknown distanceType {kind!r} (expected one of {known})"
        ) from None
    return fn(p, q)


def _heatmap_keys(
    arrays: TraceArrays, cell: float, lower: tuple[float, float], upper: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(user index, cell key) of every event inside the box, and the users' names."""
    users = np.array([user_of(str(i)) for i in arrays.ids], dtype=object)
    names, user_of_trace = (
        np.unique(users, return_inverse=True) if len(users) else (users, np.zeros(0, np.int64))
    )
    user = np.repeat(user_of_trace.astype(np.int64), arrays.lengths)
    lat_lo, lat_hi = min(lower[0], upper[0]), max(lower[0], upper[0])
    lng_lo, lng_hi = min(lower[1], upper[1]), max(lower[1], upper[1])
    inside = (
        (arrays.lat >= lat_lo)
        & (arrays.lat <= lat_hi)
        & (arrays.lng >= lng_lo)
        & (arrays.lng <= lng_hi)
    )
    k = EARTH_RADIUS_M * math.pi / 180.0
    row = np.floor((arrays.lat[inside] - lat_lo) * k / cell)
    # Columns are measured along the row's central parallel, so cells are about cell × cell
    # metres on the ground at every latitude.
    mid_lat = lat_lo + (row + 0.5) * cell / k
    col = np.floor((arrays.lng[inside] - lng_lo) * k * np.cos(np.radians(mid_lat)) / cell)
    key = row.astype(np.int64) * (1 << 32) + col.astype(np.int64)
    return np.stack([user[inside], key], axis=1), names


def _heatmaps(keys: np.ndarray, names: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per user: sorted cell keys and their probabilities."""
    if keys.shape[0] == 0:
        return {}
    user, cell = keys[:, 0], keys[:, 1]
    order = np.lexsort((cell, user))
    user, cell = user[order], cell[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (user[1:] != user[:-1]) | (cell[1:] != cell[:-1])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(order)))
    u_user, u_cell = user[starts], cell[starts]
    bounds = np.flatnonzero(np.diff(u_user)) + 1
    out = {}
    for part, c_part, cnt in zip(
        np.split(u_user, bounds), np.split(u_cell, bounds), np.split(counts, bounds), strict=True
    ):
        out[str(names[part[0]])] = (c_part, cnt / cnt.sum())
    return out


@operator(
    help="Compare each user's heat map (visit frequencies on a grid) in train and in test.",
    description=(
        "Events inside the box [lower, upper] are counted on a grid of cells about `cellSize` "
        "wide on the ground (rows along latitude, columns measured along each row's central "
        "parallel), per user (the part of the id before the first '-'), and normalised to "
        "probabilities. `distanceType` picks the distance between the test and train maps: "
        "topsoe (default), jensendiv, kl, ndiv, cosine, dice, innerp, clark, loren, "
        "nonzerocellsratio or det. Users present on one side only are left out (the original "
        "reported NaN), and avgDist averages the users present on both sides."
    ),
    cpus=1,
    memory="512M",
    **_METRIC,
)
class HeatMapDistortion:
    """Per-user heat-map distance (the per-user half of the AP-attack, Maouche et al. 2017)."""

    class Inputs:
        train = Port("dataset", help="Reference traces.")
        test = Port("dataset", help="Protected traces.")
        distanceType = Port(
            "string",
            default="topsoe",
            choices=(
                "kl",
                "det",
                "nonzerocellsratio",
                "loren",
                "innerp",
                "cosine",
                "dice",
                "ndiv",
                "clark",
                "topsoe",
                "jensendiv",
            ),
            help="Distance between heat maps.",
        )
        cellSize = Port(
            "distance", min=0, min_exclusive=True, help="Grid cell size on the ground."
        )
        lower = Port("location", default="-61.0,-131.0", help="South-west corner of the grid.")
        upper = Port("location", default="80.0,171.0", help="North-east corner of the grid.")

    class Outputs:
        distortions = Port("map(string, double)", help="Per user: distance between heat maps.")
        avgDist = Port("double", help="Mean over users present on both sides.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        cell = meters(inputs["cellSize"])
        if not cell > 0:
            raise OperatorInputError(f"cellSize must be positive, got {cell} m")
        kind = str(inputs.get("distanceType", "topsoe"))
        lower = _latlng(inputs.get("lower"), (-61.0, -131.0))
        upper = _latlng(inputs.get("upper"), (80.0, 171.0))
        ref_maps = _heatmaps(*_heatmap_keys(_traces(inputs["train"]), cell, lower, upper))
        test_maps = _heatmaps(*_heatmap_keys(_traces(inputs["test"]), cell, lower, upper))
        dist: dict[str, float] = {}
        for user in sorted(set(ref_maps) & set(test_maps)):
            t_keys, t_p = test_maps[user]
            r_keys, r_p = ref_maps[user]
            cells = np.union1d(t_keys, r_keys)
            p = np.zeros(len(cells))
            q = np.zeros(len(cells))
            p[np.searchsorted(cells, t_keys)] = t_p
            q[np.searchsorted(cells, r_keys)] = r_p
            value = heatmap_distance(p, q, kind, user)
            if math.isfinite(value):
                dist[user] = value
        missing = len(set(ref_maps) ^ set(test_maps))
        if missing and ctx is not None:
            ctx.log(f"HeatMapDistortion: {missing} user(s) on one side only left out")
        return {"distortions": dist, "avgDist": _mean(list(dist.values()))}


def _latlng(value: Any, default: tuple[float, float]) -> tuple[float, float]:
    if value is None:
        return default
    return float(value.lat), float(value.lng)


# ---------------------------------------------------------------------------------------------
# Count queries


@nb.njit(cache=True, nogil=True)
def _count_queries(
    lat: np.ndarray,
    lng: np.ndarray,
    time: np.ndarray,
    user: np.ndarray,
    n_users: int,
    q_lat: np.ndarray,
    q_lng: np.ndarray,
    q_time: np.ndarray,
    half_size_m: float,
    half_duration: int,
) -> np.ndarray:
    """Distinct users with an event in each query box; events sorted by time."""
    out = np.zeros(q_lat.shape[0], dtype=np.int64)
    seen = np.full(n_users, -1, dtype=np.int64)
    dlat = half_size_m / (EARTH_RADIUS_M * math.pi / 180.0)
    for q in range(q_lat.shape[0]):
        dlng = dlat / max(math.cos(q_lat[q] * math.pi / 180.0), 1e-12)
        a = np.searchsorted(time, q_time[q] - half_duration, side="left")
        b = np.searchsorted(time, q_time[q] + half_duration, side="right")
        count = 0
        for i in range(a, b):
            u = user[i]
            if seen[u] == q:
                continue
            if abs(lat[i] - q_lat[q]) <= dlat:
                d = lng[i] - q_lng[q]
                if d > 180.0:
                    d -= 360.0
                elif d < -180.0:
                    d += 360.0
                if abs(d) <= dlng:
                    seen[u] = q
                    count += 1
        out[q] = count
    return out


def _by_time(arrays: TraceArrays, names: np.ndarray) -> tuple[np.ndarray, ...]:
    users = np.array([user_of(str(i)) for i in arrays.ids], dtype=object)
    idx = np.searchsorted(names, users) if len(users) else np.zeros(0, dtype=np.int64)
    user = np.repeat(idx.astype(np.int64), arrays.lengths)
    order = np.argsort(arrays.time, kind="stable")
    return arrays.lat[order], arrays.lng[order], arrays.time[order], user[order]


@operator(
    help="Relative error of random space-time counting queries on test against train.",
    description=(
        "Draws one square side in [minSize, maxSize] and one duration in [minDuration, "
        "maxDuration], then `n` queries centred on train events drawn at random (with "
        "replacement). A query counts the distinct users (id before the first '-') with at least "
        "one event in its square and time window. The error is |train − test| / train, or the "
        "test count when the train count is 0."
    ),
    unstable=True,
    cpus=1,
    memory="1G",
    **_METRIC,
)
class CountQueriesDistortion:
    """Count-query distortion (utility of aggregate statistics)."""

    class Inputs:
        n = Port("integer", default=1000, min=0, help="Number of queries.")
        minSize = Port("distance", default="500.meters", min=0, help="Smallest square side.")
        maxSize = Port("distance", default="2000.meters", min=0, help="Largest square side.")
        minDuration = Port("duration", default="2.hours", min=0, help="Shortest time window.")
        maxDuration = Port("duration", default="4.hours", min=0, help="Longest time window.")
        train = Port("dataset", help="Reference traces.")
        test = Port("dataset", help="Protected traces.")

    class Outputs:
        value = Port("list(double)", help="Relative error of each query.")
        meanDistortion = Port("double", help="Mean relative error.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        n = int(inputs.get("n", 1000))
        lo_s, hi_s = meters(inputs["minSize"]), meters(inputs["maxSize"])
        lo_d, hi_d = millis(inputs["minDuration"]), millis(inputs["maxDuration"])
        if n < 0 or lo_s > hi_s or lo_d > hi_d:
            raise OperatorInputError("need n >= 0, minSize <= maxSize, minDuration <= maxDuration")
        ref = _traces(inputs["train"])
        test = _traces(inputs["test"])
        if n == 0 or ref.n_events == 0:
            return {"value": (), "meanDistortion": 0.0}
        rng = ctx.rng()
        size = float(rng.uniform(lo_s, hi_s)) if hi_s > lo_s else lo_s
        duration = int(rng.integers(lo_d, hi_d + 1)) if hi_d > lo_d else lo_d
        centres = rng.integers(0, ref.n_events, size=n)
        names = np.unique(np.array([user_of(str(i)) for i in (*ref.ids, *test.ids)], dtype=object))
        q = (ref.lat[centres], ref.lng[centres], ref.time[centres])
        counts = []
        for arrays in (ref, test):
            lat, lng, time, user = _by_time(arrays, names)
            counts.append(
                _count_queries(
                    lat, lng, time, user, len(names), *q, size / 2.0, duration // 2
                ).astype(np.float64)
            )
        c_ref, c_test = counts
        err = np.where(c_ref > 0, np.abs(c_ref - c_test) / np.where(c_ref > 0, c_ref, 1.0), c_test)
        return {"value": tuple(float(v) for v in err), "meanDistortion": _mean(err)}


# ---------------------------------------------------------------------------------------------
# Mobility Markov chains


class _MmcModel:
    """States of one trace (POIs by decreasing weight) and their stationary weights."""

    def __init__(self, lat: np.ndarray, lng: np.ndarray, size: np.ndarray) -> None:
        order = np.argsort(-size, kind="stable")
        self.lat = lat[order]
        self.lng = lng[order]
        self.pi = size[order] / size.sum()


def _mmc_models(
    arrays: TraceArrays, diameter: float, duration: int, min_pts: int
) -> dict[str, _MmcModel]:
    pois = repeated_pois(
        arrays.lat, arrays.lng, arrays.time, arrays.offsets, diameter, duration, min_pts
    )
    models = {}
    bounds = np.searchsorted(pois.trace, np.arange(arrays.n_traces + 1))
    for k, trace_id in enumerate(arrays.ids):
        a, b = bounds[k], bounds[k + 1]
        if b > a:
            models[str(trace_id)] = _MmcModel(
                pois.lat[a:b], pois.lng[a:b], pois.size[a:b].astype(np.float64)
            )
    return models


_PROXIMITY_M = 100.0
_STAT_SWITCH_M = 2000.0


def mmc_distance(a: _MmcModel, b: _MmcModel) -> float:
    """Stat-prox distance from model ``a`` (unknown) to model ``b`` (known), metres or 1/score.

    ``d_stat = Σ_i π_a(i)·min_j |c_a,i − c_b,j|``; ``d_prox = 1/score`` where the k-th states of
    both (by decreasing π) within 100 m add 10, 5, 2, 1, 1, ... Use ``d_prox`` when it is finite
    and ``d_stat > 2000 m``, else ``d_stat`` (Gambs et al. 2014, as combined in the original).
    """
    d = haversine(a.lat[:, None], a.lng[:, None], b.lat[None, :], b.lng[None, :])
    stat = float(np.sum(a.pi * d.min(axis=1)))
    k = min(len(a.pi), len(b.pi))
    close = np.diag(d[:k, :k]) < _PROXIMITY_M
    weights = np.ones(k)
    w = 10
    for i in range(k):
        weights[i] = w
        w = max(1, w // 2)
    score = float(np.sum(weights[close]))
    if score > 0 and stat > _STAT_SWITCH_M:
        return 1.0 / score
    return stat


@operator(
    help="Link each test trace to a train trace by comparing mobility Markov chains (MMC).",
    description=(
        "Each trace is summarised by its states, the places it visits repeatedly (stays of "
        "`diameter`/`duration` grouped by DJ-Cluster with `minPts` stays, as in PoisExtraction), "
        "weighted by the share of events spent there. Test traces are linked to the train trace "
        "at the smallest stat-prox distance (Gambs, Killijian, Núñez del Prado Cortez, JCSS "
        "2014). States are ranked by decreasing weight (the original ranked them increasingly) "
        "and the default duration is one hour (the original's 3.6 s was a unit slip). "
        "Unlinked ids map to '-'; rate = correct links / test traces."
    ),
    cpus=1,
    memory="3G",
    **_METRIC,
)
class MmcReident:
    """Re-identification with mobility Markov chains."""

    class Inputs:
        train = Port("dataset", help="Traces known to the attacker.")
        test = Port("dataset", help="Protected traces.")
        minPts = Port("integer", default=10, min=1, help="Stays needed to form a state.")
        diameter = Port("distance", default="3000.meters", min=0, help="Stay diameter.")
        duration = Port("duration", default="1.hours", min=0, help="Shortest stay.")
        attack = Port("string", default="gambs", choices=("gambs",), help="Attack variant.")

    class Outputs:
        matches = Port("map(string, string)", help="Test trace -> train trace, or '-'.")
        rate = Port("double", help="Fraction of test traces linked correctly.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        diameter = meters(inputs.get("diameter", 3000.0))
        duration = millis(inputs.get("duration", 3_600_000))
        min_pts = int(inputs.get("minPts", 10))
        ref = _traces(inputs["train"])
        test = _traces(inputs["test"])
        ref_models = _mmc_models(ref, diameter, duration, min_pts)
        test_models = _mmc_models(test, diameter, duration, min_pts)
        names = sorted(ref_models)
        matches = {str(k): "-" for k in (*ref.ids, *test.ids)}
        correct = 0
        for trace_id, model in sorted(test_models.items()):
            best_name, best = "", math.inf
            for name in names:
                d = mmc_distance(model, ref_models[name])
                if d < best:
                    best_name, best = name, d
            if best_name:
                matches[trace_id] = best_name
                correct += best_name == trace_id
        rate = correct / test.n_traces if test.n_traces else 0.0
        return {"matches": matches, "rate": float(rate)}


OPERATORS: list[type] = [
    AreaCoverage,
    CountQueriesDistortion,
    DataCompleteness,
    HeatMapDistortion,
    MmcReident,
    PoisReident,
    PoisRetrieval,
    SpatialDistortion,
    SpatioTemporalDistortion,
    TransmissionDelay,
]
