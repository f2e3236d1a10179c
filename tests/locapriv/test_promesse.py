"""Promesse speed smoothing (locapriv.md §2.2): the worked example and output properties."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from accio.values.types import Distance
from accio_locapriv.arrow import from_columns, to_arrays
from accio_locapriv.kernels.geo import haversine, to_mercator
from accio_locapriv.kernels.smoothing import promesse
from accio_locapriv.mechanisms import Promesse, promesse_mercator


def test_worked_example() -> None:
    # Planar metres, times in seconds, alpha = 250 (locapriv.md §2.2).
    x = np.array([0.0, 1000.0, 1000.0, 2000.0])
    y = np.zeros(4)
    t = np.array([0, 100, 200, 300]) * 1000
    ox, oy, ot, offsets = promesse(x, y, t, np.array([0, 4]), 250.0, spherical=False)
    np.testing.assert_array_equal(ox, [250, 500, 750, 1000, 1250, 1500, 1750])
    np.testing.assert_array_equal(oy, np.zeros(7))
    np.testing.assert_array_equal(
        ot, [100_000, 133_334, 166_667, 200_000, 233_334, 266_667, 300_000]
    )
    np.testing.assert_array_equal(offsets, [0, 7])


def test_several_traces_and_degenerate_ones() -> None:
    x = np.array([0.0, 1000.0, 1000.0, 2000.0, 5.0, 0.0, 10.0, 600.0])
    y = np.zeros(8)
    t = np.array([0, 100, 200, 300, 0, 0, 5, 10]) * 1000
    # Trace 1 = the worked example; trace 2 = one event; trace 3 = two emitted points only.
    offsets = np.array([0, 4, 5, 5, 8])
    ox, _, ot, out = promesse(x, y, t, offsets, 250.0, spherical=False)
    np.testing.assert_array_equal(out, [0, 7, 7, 7, 8])
    assert ox[7] == 250.0  # 0 -> 250 -> 500 emitted, first and last dropped
    assert ot[7] == 10_000


def test_kernel_reports_a_full_buffer() -> None:
    from accio_locapriv.kernels.smoothing import _promesse_kernel

    x = np.array([0.0, 1000.0])
    out = np.zeros(2, dtype=np.int64)
    small = (np.empty(3), np.empty(3), np.empty(3, dtype=np.int64))
    m = _promesse_kernel(
        x, np.zeros(2), np.array([0, 1]), np.array([0, 2]), 100.0, False, 1.0, *small, out
    )
    assert m == -1


def test_alpha_zero_is_identity() -> None:
    x = np.array([0.0, 3.0])
    t = np.array([0, 1])
    ox, _, ot, out = promesse(x, x, t, np.array([0, 2]), 0.0)
    np.testing.assert_array_equal(out, [0, 2])
    np.testing.assert_array_equal(ox, x)
    np.testing.assert_array_equal(ot, t)


def test_operator_properties(run_op, synthetic: tuple[pa.Table, pa.Table]) -> None:
    events, _ = synthetic
    alpha = 100.0
    out = run_op(Promesse, {"epsilon": Distance(alpha), "data": events})["data"]
    assert out.column_names == ["id", "lat", "lng", "time"]
    arrays = to_arrays(out)
    assert list(arrays.ids) == list(to_arrays(events).ids)
    for k in range(arrays.n_traces):
        lat, lng, t = arrays.trace(k)
        gaps = haversine(lat[:-1], lng[:-1], lat[1:], lng[1:])
        np.testing.assert_allclose(gaps, alpha, rtol=1e-5)
        dt = np.diff(t)
        assert dt.max() - dt.min() <= 1  # evenly spread time (ceil in ms)
    # Stops are erased: there are far fewer points than events.
    assert out.num_rows < events.num_rows / 5


def test_operator_zero_epsilon_passes_through(run_op, synthetic) -> None:
    events, _ = synthetic
    out = run_op(Promesse, {"epsilon": Distance(0.0), "data": events})["data"]
    assert out.equals(events)


def test_mercator_variant_spacing() -> None:
    table = from_columns(
        ["a"] * 3, [40.0, 40.0, 40.01], [116.0, 116.02, 116.02], [0, 60_000, 120_000]
    )
    res = promesse_mercator(to_arrays(table), 100.0)
    x, y = to_mercator(res.lat, res.lng)
    np.testing.assert_allclose(np.hypot(np.diff(x), np.diff(y)), 100.0, rtol=1e-6)
    assert res.n_events == pytest.approx(
        (float(haversine(40, 116, 40, 116.02) + haversine(40, 116.02, 40.01, 116.02)))
        / (100.0 * np.cos(np.radians(40))),
        abs=3,
    )
