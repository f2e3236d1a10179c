"""Reference values of the geodesy kernels (locapriv.md §7)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accio_locapriv.kernels.geo import (
    ACCIO_RADIUS_M,
    METERS_PER_DEGREE,
    bearing,
    destination,
    equirectangular,
    from_local,
    from_mercator,
    haversine,
    haversine_nb,
    offset,
    offset_nb,
    to_local,
    to_mercator,
    wrap_longitude,
)

PARIS = (48.8566, 2.3522)
LONDON = (51.5074, -0.1278)


def test_haversine_paris_london() -> None:
    assert float(haversine(*PARIS, *LONDON)) == pytest.approx(343_556.5, abs=0.5)
    assert float(haversine(*PARIS, *LONDON, radius=ACCIO_RADIUS_M)) == pytest.approx(
        343_340.4, abs=0.5
    )


def test_one_degree_of_latitude() -> None:
    assert float(haversine(0.0, 0.0, 1.0, 0.0)) == pytest.approx(111_195.08, abs=0.01)
    assert pytest.approx(111_195.08, abs=0.01) == METERS_PER_DEGREE


def test_haversine_numba_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform([-80, -180, -80, -180], [80, 180, 80, 180], (200, 4))
    vec = haversine(pts[:, 0], pts[:, 1], pts[:, 2], pts[:, 3])
    scalar = [haversine_nb(*p) for p in pts]
    np.testing.assert_allclose(vec, scalar, rtol=1e-12)
    assert haversine_nb(*PARIS, *PARIS) == 0.0


def test_equirectangular_close_to_haversine_at_city_scale() -> None:
    rng = np.random.default_rng(1)
    lat = rng.uniform(-60, 60, 1000)
    lng = rng.uniform(-170, 170, 1000)
    lat2 = lat + rng.normal(0, 0.01, 1000)
    lng2 = lng + rng.normal(0, 0.01, 1000)
    np.testing.assert_allclose(
        equirectangular(lat, lng, lat2, lng2), haversine(lat, lng, lat2, lng2), rtol=1e-6
    )


def test_mercator_reference_and_round_trip() -> None:
    x, y = to_mercator(40.0, 116.4)
    assert float(x) == pytest.approx(12_934_963.208, abs=1e-3)
    assert float(y) == pytest.approx(4_857_445.755, abs=1e-3)
    lat, lng = from_mercator(x, y)
    assert float(lat) == pytest.approx(40.0, abs=1e-12)
    assert float(lng) == pytest.approx(116.4, abs=1e-12)


def test_local_projection_round_trip_and_scale() -> None:
    rng = np.random.default_rng(2)
    lat = 45.76 + rng.normal(0, 0.05, 100)
    lng = 4.84 + rng.normal(0, 0.05, 100)
    x, y = to_local(lat, lng, 45.76, 4.84)
    back_lat, back_lng = from_local(x, y, 45.76, 4.84)
    np.testing.assert_allclose(back_lat, lat, atol=1e-12)
    np.testing.assert_allclose(back_lng, lng, atol=1e-12)
    # Within ~10 km the plane distance matches the great circle to 0.1 %.
    np.testing.assert_allclose(np.hypot(x, y), haversine(45.76, 4.84, lat, lng), rtol=1e-3)


def test_offset_moves_by_the_requested_ground_distance() -> None:
    rng = np.random.default_rng(3)
    lat = rng.uniform(-70, 70, 500)
    lng = rng.uniform(-180, 180, 500)
    r = rng.uniform(0, 5000, 500)
    theta = rng.uniform(0, 2 * math.pi, 500)
    new_lat, new_lng = offset(lat, lng, r * np.cos(theta), r * np.sin(theta))
    np.testing.assert_allclose(haversine(lat, lng, new_lat, new_lng), r, rtol=2e-3, atol=1e-6)
    assert np.all(new_lng >= -180) and np.all(new_lng < 180)
    for i in range(20):
        a, b = offset_nb(lat[i], lng[i], r[i] * math.cos(theta[i]), r[i] * math.sin(theta[i]))
        assert a == pytest.approx(new_lat[i], abs=1e-12)
        assert b == pytest.approx(new_lng[i], abs=1e-9)


def test_destination_and_bearing_are_consistent() -> None:
    lat, lng = destination(*PARIS, bearing(*PARIS, *LONDON), haversine(*PARIS, *LONDON))
    assert float(lat) == pytest.approx(LONDON[0], abs=1e-9)
    assert float(lng) == pytest.approx(LONDON[1], abs=1e-9)
    assert float(bearing(0, 0, 1, 0)) == pytest.approx(0.0)
    assert float(bearing(0, 0, 0, 1)) == pytest.approx(90.0)
    assert float(bearing(0, 0, -1, 0)) == pytest.approx(180.0)
    north_lat, _ = destination(0.0, 0.0, 0.0, METERS_PER_DEGREE)
    assert float(north_lat) == pytest.approx(1.0, abs=1e-12)


def test_wrap_longitude() -> None:
    np.testing.assert_allclose(
        wrap_longitude(np.array([180.0, 190.0, -190.0, 0.0])), [-180, -170, 170, 0]
    )
