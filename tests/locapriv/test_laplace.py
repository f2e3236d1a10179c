"""Planar Laplace sampling: the radius law, the Lambert-W clamp, the two planes (locapriv.md §2.1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from accio_locapriv.kernels.geo import haversine
from accio_locapriv.kernels.laplace import (
    apply_noise,
    draw_uniforms,
    inverse_cdf,
    perturb,
    polar_noise,
    radius_cdf,
    sample_radius,
)

EPS = 0.01  # per metre: mean radius 200 m
N = 200_000


@pytest.fixture(params=["gamma", "lambertw"])
def sampler(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_radius_follows_gamma_2(sampler: str) -> None:
    r = sample_radius(np.random.default_rng(12), N, EPS, sampler)  # type: ignore[arg-type]
    assert np.all(np.isfinite(r)) and np.all(r >= 0)
    assert r.mean() == pytest.approx(2 / EPS, rel=0.01)
    assert r.std() == pytest.approx(math.sqrt(2) / EPS, rel=0.01)
    assert np.median(r) == pytest.approx(1.67835 / EPS, rel=0.01)
    assert np.mean(r**2) == pytest.approx(6 / EPS**2, rel=0.02)
    assert np.mean(r <= 1 / EPS) == pytest.approx(1 - 2 / math.e, abs=0.005)
    for q, expected in ((0.90, 3.8897), (0.95, 4.7439), (0.99, 6.6384)):
        assert np.quantile(r, q) == pytest.approx(expected / EPS, rel=0.02)
    assert stats.kstest(r, stats.gamma(a=2, scale=1 / EPS).cdf).pvalue > 1e-3
    assert stats.kstest(r, lambda x: radius_cdf(x, EPS)).pvalue > 1e-3


def test_displacement_components(sampler: str) -> None:
    dx, dy = polar_noise(np.random.default_rng(5), N, EPS, sampler)  # type: ignore[arg-type]
    for comp in (dx, dy):
        assert comp.mean() == pytest.approx(0.0, abs=3.0)
        assert comp.std() == pytest.approx(math.sqrt(3) / EPS, rel=0.01)
    theta = np.mod(np.arctan2(dy, dx), 2 * math.pi)
    assert stats.kstest(theta, stats.uniform(0, 2 * math.pi).cdf).pvalue > 1e-3


def test_inverse_cdf_exact_quantiles_and_clamp() -> None:
    # p = 0 gives W_-1(-1/e) = -1 and r = 0; unclamped, scipy returns NaN there.
    assert float(inverse_cdf(0.0, EPS)) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(inverse_cdf(np.array([0.0, 1e-300, 0.5, 1 - 1e-16]), EPS)).all()
    p = np.array([0.5, 0.9, 0.95, 0.99])
    np.testing.assert_allclose(
        inverse_cdf(p, EPS) * EPS, [1.67835, 3.88972, 4.74386, 6.63835], atol=1e-4
    )
    r = np.linspace(0, 2000, 101)
    np.testing.assert_allclose(inverse_cdf(radius_cdf(r, EPS), EPS), r, atol=1e-6)


def test_bad_parameters_are_rejected() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="epsilon"):
        sample_radius(rng, 3, 0.0)
    with pytest.raises(ValueError, match="sampler"):
        sample_radius(rng, 3, 1.0, "normal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        apply_noise(np.zeros(1), np.zeros(1), np.zeros((1, 3)), 1.0, "gamma", "utm")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["local", "mercator"])
def test_fused_kernel_matches_the_numpy_path(sampler: str, mode: str) -> None:
    rng = np.random.default_rng(9)
    n = 5000
    lat = rng.uniform(-60, 60, n)
    lng = rng.uniform(-179.9, 179.9, n)
    u = draw_uniforms(np.random.default_rng(3), n, sampler)  # type: ignore[arg-type]
    dx, dy = polar_noise(np.random.default_rng(3), n, EPS, sampler)  # type: ignore[arg-type]
    want = perturb(lat, lng, dx, dy, mode)  # type: ignore[arg-type]
    got = apply_noise(lat, lng, u, EPS, sampler, mode)  # type: ignore[arg-type]
    np.testing.assert_allclose(got[0], want[0], atol=1e-9)
    np.testing.assert_allclose(got[1], want[1], atol=1e-9)


def test_local_mode_moves_points_by_the_drawn_radius() -> None:
    n = 20_000
    lat = np.full(n, 39.9)
    lng = np.full(n, 116.4)
    u = draw_uniforms(np.random.default_rng(4), n)
    r = -np.log((1 - u[:, 0]) * (1 - u[:, 1])) / EPS
    new_lat, new_lng = apply_noise(lat, lng, u, EPS)
    np.testing.assert_allclose(haversine(lat, lng, new_lat, new_lng), r, rtol=1e-3)


def test_mercator_mode_shrinks_ground_distance_by_cos_lat() -> None:
    n = 50_000
    lat = np.full(n, 40.0)
    lng = np.full(n, 116.4)
    u = draw_uniforms(np.random.default_rng(6), n)
    local = haversine(lat, lng, *apply_noise(lat, lng, u, EPS, mode="local"))
    merc = haversine(lat, lng, *apply_noise(lat, lng, u, EPS, mode="mercator"))
    # Mercator metres at latitude phi are cos(phi) ground metres (R = 6 367 000 vs the mean R).
    ratio = math.cos(math.radians(40.0)) * 6_367_000 / 6_371_008.8
    assert merc.mean() / local.mean() == pytest.approx(ratio, rel=2e-3)


def test_same_generator_same_noise() -> None:
    a = sample_radius(np.random.default_rng(11), 100, EPS)
    b = sample_radius(np.random.default_rng(11), 100, EPS)
    np.testing.assert_array_equal(a, b)
