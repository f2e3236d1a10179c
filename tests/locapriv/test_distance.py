"""Distances from test events to reference traces (nearest point, polyline, same instant)."""

from __future__ import annotations

import numpy as np
import pytest

from accio_locapriv.kernels.distance import nearest_distances, spatiotemporal_distances
from accio_locapriv.kernels.geo import from_local, haversine


def _one(ref_lat, ref_lng, q_lat, q_lng, interpolate):  # type: ignore[no-untyped-def]
    return nearest_distances(
        ref_lat,
        ref_lng,
        [0],
        [len(ref_lat)],
        q_lat,
        q_lng,
        [0],
        [len(q_lat)],
        interpolate=interpolate,
    )


@pytest.mark.parametrize("interpolate", [False, True])
def test_identical_traces_have_zero_distance(interpolate: bool) -> None:
    rng = np.random.default_rng(1)
    lat = 45.0 + np.cumsum(rng.normal(0, 1e-4, 500))
    lng = 4.0 + np.cumsum(rng.normal(0, 1e-4, 500))
    d = _one(lat, lng, lat, lng, interpolate)
    assert np.all(d < 1e-6)


def test_known_values_against_a_straight_segment() -> None:
    # Reference: 0 m and 1000 m east; query 100 m north of the 400 m mark.
    lat, lng = from_local(np.array([0.0, 1000.0]), np.zeros(2), 45.0, 4.0)
    q_lat, q_lng = from_local(np.array([400.0]), np.array([100.0]), 45.0, 4.0)
    assert _one(lat, lng, q_lat, q_lng, True)[0] == pytest.approx(100.0, rel=1e-4)
    assert _one(lat, lng, q_lat, q_lng, False)[0] == pytest.approx(np.hypot(400, 100), rel=1e-4)
    # Beyond the end of the segment the projection is clamped to the end point.
    q_lat, q_lng = from_local(np.array([1300.0]), np.array([400.0]), 45.0, 4.0)
    assert _one(lat, lng, q_lat, q_lng, True)[0] == pytest.approx(500.0, rel=1e-4)


def _brute(ref_lat, ref_lng, q_lat, q_lng, interpolate):  # type: ignore[no-untyped-def]
    out = []
    for a, b in zip(q_lat, q_lng, strict=True):
        d = haversine(a, b, ref_lat, ref_lng).min()
        if interpolate and len(ref_lat) > 1:
            t = np.linspace(0.0, 1.0, 1001)[None, :]
            la = ref_lat[:-1, None] + t * np.diff(ref_lat)[:, None]
            lo = ref_lng[:-1, None] + t * np.diff(ref_lng)[:, None]
            d = min(d, haversine(a, b, la.ravel(), lo.ravel()).min())
        out.append(d)
    return np.array(out)


@pytest.mark.parametrize("interpolate", [False, True])
def test_matches_brute_force_on_random_traces(interpolate: bool) -> None:
    rng = np.random.default_rng(5)
    for trial in range(15):
        m, n = int(rng.integers(1, 80)), int(rng.integers(1, 30))
        ref_lat = 45.0 + np.cumsum(rng.normal(0, 0.002, m))
        ref_lng = 4.0 + np.cumsum(rng.normal(0, 0.002, m))
        if trial % 3 == 0:  # a long stay: many identical points
            ref_lat[: m // 2] = ref_lat[0]
            ref_lng[: m // 2] = ref_lng[0]
        q_lat = 45.0 + rng.normal(0, 0.02, n)
        q_lng = 4.0 + rng.normal(0, 0.02, n)
        ours = _one(ref_lat, ref_lng, q_lat, q_lng, interpolate)
        ref = _brute(ref_lat, ref_lng, q_lat, q_lng, interpolate)
        if interpolate:
            # The brute force samples segments every 1/1000 of their length.
            assert np.all(ours <= ref * (1 + 1e-3) + 1e-6)
            assert np.all(ours >= ref * (1 - 2e-3) - 0.5)
        else:
            np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-6)


def test_several_pairs_and_empty_reference() -> None:
    lat, lng = from_local(np.array([0.0, 0.0, 5000.0]), np.array([0.0, 100.0, 0.0]), 45.0, 4.0)
    q_lat, q_lng = from_local(np.array([0.0, 5000.0, 9.0]), np.array([50.0, 30.0, 9.0]), 45, 4)
    d = nearest_distances(
        lat, lng, [0, 2, 3], [2, 3, 3], q_lat, q_lng, [0, 1, 2], [1, 2, 3], interpolate=True
    )
    assert d[0] == pytest.approx(0.0, abs=1e-6)
    assert d[1] == pytest.approx(30.0, rel=1e-4)
    assert np.isnan(d[2])


def test_query_far_outside_the_reference_area() -> None:
    lat, lng = from_local(np.zeros(50), np.linspace(0.0, 100.0, 50), 45.0, 4.0)
    q_lat, q_lng = from_local(np.array([100_000.0]), np.array([50.0]), 45.0, 4.0)
    for interpolate in (False, True):
        assert _one(lat, lng, q_lat, q_lng, interpolate)[0] == pytest.approx(100_000, rel=2e-3)


def test_spatiotemporal_interpolation_and_clamping() -> None:
    lat, lng = from_local(np.array([0.0, 1000.0]), np.zeros(2), 45.0, 4.0)
    time = np.array([0, 100_000])
    # Test events: before, in the middle, after; all at the reference start position.
    q_lat = np.repeat(lat[0], 3)
    q_lng = np.repeat(lng[0], 3)
    q_time = np.array([-50_000, 50_000, 200_000])
    d = spatiotemporal_distances(lat, lng, time, [0], [2], q_lat, q_lng, q_time, [0], [3])
    np.testing.assert_allclose(d, [0.0, 500.0, 1000.0], rtol=1e-4, atol=1e-6)
    d = spatiotemporal_distances(lat, lng, time, [0], [0], q_lat, q_lng, q_time, [0], [3])
    assert np.all(np.isnan(d))
