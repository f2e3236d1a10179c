"""Transforms on small hand-made traces: exact expected outputs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from accio.ops.api import spec_of
from accio.values.types import Distance, Duration, Timestamp
from accio_locapriv import transforms as tr
from accio_locapriv.arrow import empty_traces, from_columns, to_arrays
from accio_locapriv.kernels.geo import METERS_PER_DEGREE
from accio_locapriv.kernels.smoothing import gaussian_smoothing_full
from accio_locapriv.schema import OperatorInputError, is_sorted

MIN = 60_000
DAY = 86_400_000


def _trace(times: list[int], lats: list[float] | None = None, tid: str = "u") -> pa.Table:
    n = len(times)
    lats = lats if lats is not None else [45.0] * n
    return from_columns([tid] * n, lats, [4.0] * n, times)


def _ids(table: pa.Table) -> list[str]:
    return table.column("id").to_pylist()


def _times(table: pa.Table) -> list[int]:
    return table.column("time").cast(pa.int64()).to_pylist()


def test_operator_list_and_metadata() -> None:
    names = [spec_of(op).name for op in tr.OPERATORS]
    assert names == sorted(names) and len(names) == 13
    for op in tr.OPERATORS:
        spec = spec_of(op)
        assert spec.category == "transform" and spec.version == "1"
        assert spec.resources.cpus == 1 and spec.resources.memory_mb == 2048
        assert spec.help and [p.name for p in spec.outputs] == ["data"]
        assert spec.unstable == (spec.name == "UniformSampling")


def test_duration_splitting(run_op) -> None:
    table = _trace([0, 10 * MIN, 29 * MIN, 30 * MIN, 31 * MIN, 70 * MIN])
    out = run_op(tr.DurationSplitting, {"duration": Duration(30 * MIN), "data": table})["data"]
    assert _ids(out) == ["u-0", "u-0", "u-0", "u-1", "u-1", "u-2"]
    assert _times(out) == _times(table)


def test_size_splitting_orders_ids_canonically(run_op) -> None:
    table = _trace(list(range(23)))
    out = run_op(tr.SizeSplitting, {"size": 2, "data": table})["data"]
    assert is_sorted(out)
    arrays = to_arrays(out)
    assert sorted(arrays.ids, key=lambda s: int(s.split("-")[1])) == [f"u-{k}" for k in range(12)]
    assert set(arrays.lengths[:-1]) <= {1, 2}
    assert sorted(_times(out)) == list(range(23))
    with pytest.raises(OperatorInputError):
        run_op(tr.SizeSplitting, {"size": 0, "data": table})


def test_spatial_gap_splitting(run_op) -> None:
    step = 100 / METERS_PER_DEGREE  # 100 m of latitude
    table = _trace([0, 1, 2, 3], [45.0, 45.0 + step, 45.0 + 3 * step, 45.0 + 3.5 * step])
    out = run_op(tr.SpatialGapSplitting, {"distance": Distance(150.0), "data": table})["data"]
    assert _ids(out) == ["u-0", "u-0", "u-1", "u-1"]


def test_temporal_gap_splitting(run_op) -> None:
    table = _trace([0, MIN, 10 * MIN, 11 * MIN, 16 * MIN])
    out = run_op(tr.TemporalGapSplitting, {"duration": Duration(5 * MIN), "data": table})["data"]
    assert _ids(out) == ["u-0", "u-0", "u-1", "u-1", "u-2"]


def test_sequential_splitting(run_op) -> None:
    table = pa.concat_tables([_trace(list(range(10))), _trace(list(range(3)), tid="v")])
    out = run_op(
        tr.SequentialSplitting, {"percentBegin": 20.0, "percentEnd": 70.0, "data": table}
    )["data"]
    # u: [2, 7) ; v: [floor(0.6), ceil(2.1)) = [0, 3)
    assert _ids(out) == ["u"] * 5 + ["v"] * 3
    assert _times(out) == [2, 3, 4, 5, 6, 0, 1, 2]
    out = run_op(
        tr.SequentialSplitting,
        {"percentBegin": 20.0, "percentEnd": 70.0, "complement": True, "data": table},
    )["data"]
    assert _times(out) == [0, 1, 7, 8, 9]
    with pytest.raises(OperatorInputError, match="percentBegin"):
        run_op(tr.SequentialSplitting, {"percentBegin": 80.0, "percentEnd": 70.0, "data": table})


def test_spatial_sampling(run_op) -> None:
    step = 10 / METERS_PER_DEGREE
    lats = [45.0 + k * step for k in (0, 3, 6, 9, 12, 30)]
    out = run_op(
        tr.SpatialSampling, {"distance": Distance(50.0), "data": _trace(list(range(6)), lats)}
    )["data"]
    # At 0, 30, 60, 90, 120 and 300 m: 30 and 90 are within 50 m of the last kept event.
    assert _times(out) == [0, 2, 4, 5]


def test_temporal_sampling(run_op) -> None:
    table = _trace([0, 20, 40, 60, 61, 130, 135])
    out = run_op(tr.TemporalSampling, {"duration": Duration(60), "data": table})["data"]
    assert _times(out) == [0, 60, 130]


@pytest.mark.parametrize(
    ("size", "n", "kept"),
    [(10, 4, [0, 3, 5, 8]), (10, 10, list(range(10))), (5, 20, list(range(5))), (6, 0, [])],
)
def test_modulo_sampling(run_op, size: int, n: int, kept: list[int]) -> None:
    out = run_op(tr.ModuloSampling, {"n": n, "data": _trace(list(range(size)))})["data"]
    assert _times(out) == kept


def test_modulo_keep_never_exceeds_n() -> None:
    for size in range(1, 60):
        for n in range(1, 25):
            keep = tr.modulo_keep(np.array([0, size]), n)
            assert keep.sum() == min(size, n) and keep[0]


def test_uniform_sampling(run_op) -> None:
    table = pa.concat_tables([_trace(list(range(2000))), _trace(list(range(500)), tid="v")])
    full = run_op(tr.UniformSampling, {"probability": 1.0, "data": table})["data"]
    assert full.equals(table)
    assert run_op(tr.UniformSampling, {"probability": 0.0, "data": table})["data"].num_rows == 0
    half = run_op(tr.UniformSampling, {"probability": 0.5, "data": table})["data"]
    assert 1100 < half.num_rows < 1400
    again = run_op(tr.UniformSampling, {"probability": 0.5, "data": table})["data"]
    assert half.equals(again)
    other_seed = run_op(tr.UniformSampling, {"probability": 0.5, "data": table}, seed=43)
    assert not half.equals(other_seed["data"])
    # A trace's sample does not depend on the other traces.
    alone = run_op(tr.UniformSampling, {"probability": 0.5, "data": _trace(list(range(2000)))})
    assert _times(alone["data"]) == _times(half.filter(pc.equal(half["id"], "u")))


def test_enforce_size(run_op) -> None:
    table = pa.concat_tables([_trace(list(range(10))), _trace(list(range(3)), tid="v")])
    out = run_op(tr.EnforceSize, {"maxSize": 4, "minSize": 4, "data": table})["data"]
    assert _ids(out) == ["u"] * 4 and _times(out) == [0, 1, 2, 3]
    out = run_op(tr.EnforceSize, {"maxSize": 5, "data": table})["data"]
    assert _ids(out) == ["u"] * 5 + ["v"] * 3
    out = run_op(tr.EnforceSize, {"minSize": 5, "data": table})["data"]
    assert _ids(out) == ["u"] * 10
    assert run_op(tr.EnforceSize, {"data": table})["data"].equals(table)


def test_enforce_duration_uses_the_original_duration(run_op) -> None:
    table = pa.concat_tables([_trace([0, 10, 20, 30]), _trace([0, 5], tid="v")])
    out = run_op(
        tr.EnforceDuration,
        {"maxDuration": Duration(10), "minDuration": Duration(25), "data": table},
    )["data"]
    # u is cut to [0, 10] but kept: its original span (30) is >= 25; v (span 5) is dropped.
    assert _ids(out) == ["u", "u"] and _times(out) == [0, 10]
    out = run_op(tr.EnforceDuration, {"maxDuration": Duration(20), "data": table})["data"]
    assert _times(out) == [0, 10, 20, 0, 5]


def test_gaussian_smoothing_matches_full_sum(run_op) -> None:
    rng = np.random.default_rng(0)
    n = 400
    times = np.cumsum(rng.integers(1_000, 120_000, n)).tolist()
    lats = (45 + rng.normal(0, 0.01, n)).tolist()
    table = _trace(times, lats)
    table = table.append_column("speed", pa.array(np.arange(n, dtype=float)))
    out = run_op(tr.GaussianKernelSmoothing, {"omega": Duration(5 * MIN), "data": table})["data"]
    want_lat, want_lng = gaussian_smoothing_full(np.array(lats), np.full(n, 4.0), times, 5 * MIN)
    np.testing.assert_allclose(out.column("lat").to_numpy(), want_lat, atol=1e-12)
    np.testing.assert_allclose(out.column("lng").to_numpy(), want_lng, atol=1e-12)
    assert out.column("speed").equals(table.column("speed"))
    assert _times(out) == times


def test_gaussian_smoothing_kernel_two_traces() -> None:
    lat = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    t = np.array([0, 1000, 2000, 0, 1_000_000_000])
    got_lat, _ = tr.gaussian_smoothing(lat, lat, t, np.array([0, 3, 5]), 1000.0)
    want, _ = gaussian_smoothing_full(lat[:3], lat[:3], t[:3], 1000.0)
    np.testing.assert_allclose(got_lat[:3], want, atol=1e-14)
    np.testing.assert_allclose(got_lat[3:], [10.0, 20.0])  # far apart in time: unchanged


def test_collapse_temporal_gaps(run_op) -> None:
    start = 20 * DAY  # startAt: day 20, any time of that day
    times = [3 * DAY + 5, 3 * DAY + 7, 7 * DAY + 1, 10 * DAY + 2]
    late = [40 * DAY + 9, 42 * DAY + 9]  # starts after startAt
    table = pa.concat_tables([_trace(times), _trace(late, tid="v")])
    out = run_op(tr.CollapseTemporalGaps, {"startAt": Timestamp(start + 12345), "data": table})[
        "data"
    ]
    assert _times(out) == [
        20 * DAY + 5,
        20 * DAY + 7,
        21 * DAY + 1,
        22 * DAY + 2,
        20 * DAY + 9,
        21 * DAY + 9,
    ]


def test_collapse_temporal_gaps_trace_before_start_at() -> None:
    # The original subtracted |days| and moved such a trace further back; it must land on startAt.
    t = np.array([-5 * DAY + 100, -2 * DAY + 50])
    out = tr.collapse_days(t, np.array([0, 2]), 10 * DAY)
    np.testing.assert_array_equal(out, [10 * DAY + 100, 11 * DAY + 50])


def test_extra_columns_are_carried(run_op) -> None:
    table = _trace([0, MIN, 10 * MIN]).append_column("acc", pa.array([1, 2, 3]))
    out = run_op(tr.TemporalGapSplitting, {"duration": Duration(5 * MIN), "data": table})["data"]
    assert out.column("acc").to_pylist() == [1, 2, 3]
    out = run_op(tr.TemporalSampling, {"duration": Duration(5 * MIN), "data": table})["data"]
    assert out.column("acc").to_pylist() == [1, 3]


def test_empty_input(run_op) -> None:
    for op, inputs in [
        (tr.DurationSplitting, {"duration": Duration(MIN)}),
        (tr.SizeSplitting, {"size": 3}),
        (tr.UniformSampling, {"probability": 0.5}),
        (tr.ModuloSampling, {"n": 3}),
        (tr.GaussianKernelSmoothing, {"omega": Duration(MIN)}),
        (tr.CollapseTemporalGaps, {"startAt": Timestamp(0)}),
        (tr.SequentialSplitting, {"percentBegin": 0.0, "percentEnd": 50.0}),
    ]:
        out = run_op(op, {**inputs, "data": empty_traces()})["data"]
        assert out.num_rows == 0, op
