"""Helpers shared by the metrics: pairing traces by id, F-scores, per-trace statistics."""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np
import pyarrow as pa

from accio_locapriv.arrow import TraceArrays, to_arrays
from accio_locapriv.schema import validate_traces

_METRIC: dict[str, Any] = {"category": "metric", "version": "1"}
#: Metric roles as sub-categories: plots pair a utility metric (x) with a privacy metric (y).
_PRIVACY: dict[str, Any] = {**_METRIC, "category": "metric/privacy"}
_UTILITY: dict[str, Any] = {**_METRIC, "category": "metric/utility"}


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
