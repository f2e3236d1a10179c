"""Per-trace randomness: the same seed gives the same output whatever the order or partitioning."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from accio.ops.context import OperatorContext
from accio_locapriv.arrow import TraceArrays, to_arrays
from accio_locapriv.mechanisms import GeoIndistinguishability, geo_indistinguishability
from accio_locapriv.transforms import UniformSampling


def _subset(table: pa.Table, ids: list[str]) -> pa.Table:
    return table.filter(pc.is_in(table.column("id"), pa.array(ids)))


@pytest.mark.parametrize(("sampler", "mode"), [("gamma", "local"), ("lambertw", "mercator")])
def test_geoi_is_partition_independent(run_op, synthetic, sampler: str, mode: str) -> None:
    events, _ = synthetic
    inputs = {"epsilon": 0.01, "sampler": sampler, "mode": mode}
    whole = run_op(GeoIndistinguishability, {**inputs, "data": events})["data"]
    ids = events.column("id").unique().to_pylist()
    parts = [_subset(events, ids[:2]), _subset(events, ids[2:3]), _subset(events, ids[3:])]
    pieces = [run_op(GeoIndistinguishability, {**inputs, "data": p})["data"] for p in parts]
    assert pa.concat_tables(pieces).equals(whole)
    # Rows given in any order: the table is canonicalised, the noise follows the trace ids.
    perm = np.random.default_rng(0).permutation(events.num_rows)
    shuffled = run_op(GeoIndistinguishability, {**inputs, "data": events.take(perm)})["data"]
    assert shuffled.equals(whole)
    moved = np.asarray(whole.column("lat").to_numpy() != events.column("lat").to_numpy())
    assert moved.mean() > 0.99
    other = run_op(GeoIndistinguishability, {**inputs, "data": events}, seed=43)["data"]
    assert not other.equals(whole)


def test_geoi_kernel_ignores_trace_order(synthetic, tmp_path) -> None:
    events, _ = synthetic
    arrays = to_arrays(events)
    ctx = OperatorContext("GeoIndistinguishability", True, 1234, tmp_path)
    lat, lng = geo_indistinguishability(arrays, 0.005, ctx.trace_rng)
    # The same traces, stored in reverse order.
    order = np.arange(arrays.n_traces)[::-1]
    rows = np.concatenate([np.arange(arrays.offsets[k], arrays.offsets[k + 1]) for k in order])
    reversed_arrays = TraceArrays(
        ids=arrays.ids[order],
        offsets=np.concatenate(([0], np.cumsum(arrays.lengths[order]))),
        lat=arrays.lat[rows],
        lng=arrays.lng[rows],
        time=arrays.time[rows],
    )
    rlat, rlng = geo_indistinguishability(reversed_arrays, 0.005, ctx.trace_rng)
    np.testing.assert_array_equal(rlat, lat[rows])
    np.testing.assert_array_equal(rlng, lng[rows])


def test_uniform_sampling_is_partition_independent(run_op, synthetic) -> None:
    events, _ = synthetic
    whole = run_op(UniformSampling, {"probability": 0.3, "data": events})["data"]
    ids = events.column("id").unique().to_pylist()
    pieces = [
        run_op(UniformSampling, {"probability": 0.3, "data": _subset(events, [i])})["data"]
        for i in ids
    ]
    assert pa.concat_tables(pieces).equals(whole)
