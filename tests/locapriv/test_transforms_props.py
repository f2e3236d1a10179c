"""Property tests of the splitting and sampling transforms (locapriv.md §7).

Invariants: events are preserved in order (splitting) or form an ordered subset (sampling), every
sub-trace satisfies its bound, a cut happens only where the rule demands it, and sub-traces are
named ``<id>-<k>`` with ``k`` = 0, 1, ... in time order.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from accio.ops.api import spec_of
from accio.ops.context import OperatorContext
from accio.values.types import Distance, Duration
from accio_locapriv import transforms as tr
from accio_locapriv.arrow import from_columns, to_arrays
from accio_locapriv.kernels.geo import haversine
from accio_locapriv.schema import is_sorted

_WORKDIR = Path(tempfile.gettempdir())
PROPS = settings(max_examples=40, deadline=None)


def _run(op: type, inputs: dict[str, Any], seed: int = 1) -> pa.Table:
    spec = spec_of(op)
    ctx = OperatorContext(spec.name, spec.unstable, seed if spec.unstable else None, _WORKDIR)
    return spec.instantiate().run(inputs, ctx)["data"]


@st.composite
def traces(draw: st.DrawFn) -> pa.Table:
    """Up to four traces of up to 40 events; ids may contain dashes; times may repeat."""
    ids = draw(
        st.lists(st.sampled_from(["u", "u-1", "v10", "w"]), min_size=1, max_size=4, unique=True)
    )
    rows: list[tuple[str, float, float, int]] = []
    for tid in ids:
        n = draw(st.integers(0, 40))
        steps = draw(st.lists(st.integers(0, 600_000), min_size=n, max_size=n))
        times = np.cumsum(steps).tolist()
        for t in times:
            lat = draw(st.floats(45.0, 45.02))
            lng = draw(st.floats(4.0, 4.02))
            rows.append((tid, lat, lng, t))
    if not rows:
        rows.append((ids[0], 45.0, 4.0, 0))
    return from_columns(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )


def _pieces(out: pa.Table) -> dict[str, list[tuple[int, Any]]]:
    """Original id -> [(k, (lat, lng, time) arrays of piece k)] sorted by k."""
    arrays = to_arrays(out)
    groups: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for k, sub_id in enumerate(arrays.ids):
        base, _, idx = str(sub_id).rpartition("-")
        assert idx.isdigit() and not (len(idx) > 1 and idx.startswith("0")), sub_id
        groups[base].append((int(idx), arrays.trace(k)))
    for base in groups:
        groups[base].sort(key=lambda item: item[0])
        assert [k for k, _ in groups[base]] == list(range(len(groups[base]))), base
    return groups


def _check_split(table: pa.Table, out: pa.Table) -> dict[str, list[tuple[int, Any]]]:
    assert is_sorted(out)
    assert out.num_rows == table.num_rows
    groups = _pieces(out)
    original = to_arrays(table)
    assert sorted(groups) == sorted(str(i) for i in original.ids)
    for k, tid in enumerate(original.ids):
        lat, lng, t = original.trace(k)
        parts = [p for _, p in groups[str(tid)]]
        assert all(len(p[0]) > 0 for p in parts)
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), lat)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), lng)
        np.testing.assert_array_equal(np.concatenate([p[2] for p in parts]), t)
    return groups


@PROPS
@given(table=traces(), minutes=st.integers(0, 120))
def test_duration_splitting(table: pa.Table, minutes: int) -> None:
    d = minutes * 60_000
    groups = _check_split(
        table, _run(tr.DurationSplitting, {"duration": Duration(d), "data": table})
    )
    for parts in groups.values():
        for k, (_, _, t) in parts:
            assert len(t) == 1 or t[-1] - t[0] < d
            if k > 0:
                assert t[0] - parts[k - 1][1][2][0] >= d


@PROPS
@given(table=traces(), size=st.integers(1, 15))
def test_size_splitting(table: pa.Table, size: int) -> None:
    groups = _check_split(table, _run(tr.SizeSplitting, {"size": size, "data": table}))
    for parts in groups.values():
        lengths = [len(p[2]) for _, p in parts]
        assert all(n == size for n in lengths[:-1]) and 1 <= lengths[-1] <= size


@PROPS
@given(table=traces(), minutes=st.integers(0, 15))
def test_temporal_gap_splitting(table: pa.Table, minutes: int) -> None:
    d = minutes * 60_000
    out = _run(tr.TemporalGapSplitting, {"duration": Duration(d), "data": table})
    for parts in _check_split(table, out).values():
        for k, (_, _, t) in parts:
            assert np.all(np.diff(t) < d)
            if k > 0:
                assert t[0] - parts[k - 1][1][2][-1] >= d


@PROPS
@given(table=traces(), meters=st.floats(0.0, 3000.0))
def test_spatial_gap_splitting(table: pa.Table, meters: float) -> None:
    out = _run(tr.SpatialGapSplitting, {"distance": Distance(meters), "data": table})
    for parts in _check_split(table, out).values():
        for k, (lat, lng, _) in parts:
            assert np.all(haversine(lat[:-1], lng[:-1], lat[1:], lng[1:]) < meters)
            if k > 0:
                plat, plng, _ = parts[k - 1][1]
                assert haversine(plat[-1], plng[-1], lat[0], lng[0]) >= meters


def _check_subset(table: pa.Table, out: pa.Table) -> list[tuple[Any, Any, np.ndarray]]:
    """Each output trace is an ordered sub-sequence of its input trace; returns the pairs."""
    assert is_sorted(out)
    original = to_arrays(table)
    result = to_arrays(out)
    index = {str(i): k for k, i in enumerate(original.ids)}
    pairs = []
    for k, tid in enumerate(result.ids):
        src = original.trace(index[str(tid)])
        dst = result.trace(k)
        # Match by position: times are non-decreasing, so walk both sequences.
        j = 0
        picked = []
        for i in range(len(src[2])):
            if j < len(dst[2]) and (src[0][i], src[1][i], src[2][i]) == (
                dst[0][j],
                dst[1][j],
                dst[2][j],
            ):
                picked.append(i)
                j += 1
        assert j == len(dst[2])
        pairs.append((src, dst, np.array(picked)))
    return pairs


@PROPS
@given(table=traces(), minutes=st.integers(0, 30))
def test_temporal_sampling(table: pa.Table, minutes: int) -> None:
    d = minutes * 60_000
    out = _run(tr.TemporalSampling, {"duration": Duration(d), "data": table})
    assert set(out.column("id").to_pylist()) == set(table.column("id").to_pylist())
    for _src, dst, picked in _check_subset(table, out):
        assert picked[0] == 0 and np.all(np.diff(dst[2]) >= d)


@PROPS
@given(table=traces(), meters=st.floats(0.0, 2000.0))
def test_spatial_sampling(table: pa.Table, meters: float) -> None:
    out = _run(tr.SpatialSampling, {"distance": Distance(meters), "data": table})
    for _src, dst, picked in _check_subset(table, out):
        lat, lng, _ = dst
        assert picked[0] == 0
        assert np.all(haversine(lat[:-1], lng[:-1], lat[1:], lng[1:]) >= meters)


@PROPS
@given(table=traces(), n=st.integers(0, 30))
def test_modulo_sampling(table: pa.Table, n: int) -> None:
    out = _run(tr.ModuloSampling, {"n": n, "data": table})
    _check_subset(table, out)
    original = to_arrays(table)
    kept = (
        dict(
            zip(
                *np.unique(
                    np.array(out.column("id").to_pylist(), dtype=object), return_counts=True
                ),
                strict=True,
            )
        )
        if out.num_rows
        else {}
    )
    for tid, size in zip(original.ids, original.lengths, strict=True):
        assert kept.get(tid, 0) == min(int(size), n)


@PROPS
@given(table=traces(), p=st.floats(0.0, 1.0), seed=st.integers(0, 2**62))
def test_uniform_sampling(table: pa.Table, p: float, seed: int) -> None:
    out = _run(tr.UniformSampling, {"probability": p, "data": table}, seed)
    _check_subset(table, out)
    assert out.equals(_run(tr.UniformSampling, {"probability": p, "data": table}, seed))
