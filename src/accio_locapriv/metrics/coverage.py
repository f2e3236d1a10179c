"""Area coverage: S2 cells visited in train and test, optionally per time bucket."""

from __future__ import annotations

from typing import Any

import numpy as np

from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays
from accio_locapriv.kernels.s2 import cell_ids
from accio_locapriv.metrics._common import (
    _UTILITY,
    TracePairs,
    _event_group,
    _fscore_outputs,
    pair_traces,
)
from accio_locapriv.pois import millis
from accio_locapriv.schema import OperatorInputError


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
    **_UTILITY,
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
