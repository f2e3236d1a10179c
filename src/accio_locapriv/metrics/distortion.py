"""Distortion and completeness metrics between train and test traces."""

from __future__ import annotations

from typing import Any

import numpy as np

from accio.ops.api import Port, operator
from accio_locapriv.kernels.distance import nearest_distances, spatiotemporal_distances
from accio_locapriv.metrics._common import (
    _UTILITY,
    _as_map,
    _event_group,
    _mean,
    _stats_outputs,
    pair_traces,
    trace_stats,
)


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
    **_UTILITY,
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
    **_UTILITY,
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
    **_UTILITY,
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
    **_UTILITY,
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
