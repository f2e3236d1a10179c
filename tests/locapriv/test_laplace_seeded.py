"""The seeded Geo-I kernel (the operator's default path) follows planar Laplace's law."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from accio_locapriv.kernels.geo import EARTH_RADIUS_M
from accio_locapriv.kernels.laplace import apply_noise_seeded

N = 50_000
EPS = 0.01  # per metre: mean displacement 200 m


def displacements(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    lat = np.full(N, 45.0)
    lng = np.full(N, 4.8)
    offsets = np.array([0, N // 2, N], dtype=np.int64)
    seeds = np.array([seed, seed + 1], dtype=np.uint64)
    out_lat, out_lng = apply_noise_seeded(lat, lng, offsets, seeds, EPS)
    dy = np.radians(out_lat - lat) * EARTH_RADIUS_M
    dx = np.radians(out_lng - lng) * EARTH_RADIUS_M * math.cos(math.radians(45.0))
    return dx, dy


def test_radius_is_gamma_2_over_epsilon() -> None:
    dx, dy = displacements()
    r = np.hypot(dx, dy)
    assert stats.kstest(r, stats.gamma(a=2, scale=1 / EPS).cdf).pvalue > 0.01
    assert abs(r.mean() - 2 / EPS) < 0.02 * 2 / EPS
    assert abs(np.mean(r**2) - 6 / EPS**2) < 0.04 * 6 / EPS**2


def test_direction_is_uniform() -> None:
    dx, dy = displacements()
    theta = np.mod(np.arctan2(dy, dx), 2 * math.pi)
    assert stats.kstest(theta, stats.uniform(0, 2 * math.pi).cdf).pvalue > 0.01


def test_each_trace_depends_on_its_seed_only() -> None:
    lat = np.linspace(45, 46, 100)
    lng = np.linspace(4, 5, 100)
    both = apply_noise_seeded(
        lat, lng, np.array([0, 40, 100]), np.array([3, 9], dtype=np.uint64), EPS
    )
    alone = apply_noise_seeded(
        lat[40:], lng[40:], np.array([0, 60]), np.array([9], dtype=np.uint64), EPS
    )
    assert np.array_equal(both[0][40:], alone[0]) and np.array_equal(both[1][40:], alone[1])
    other = apply_noise_seeded(
        lat[40:], lng[40:], np.array([0, 60]), np.array([10], dtype=np.uint64), EPS
    )
    assert not np.array_equal(alone[0], other[0])


def test_thread_count_does_not_change_the_noise() -> None:
    rng = np.random.default_rng(5)
    sizes = rng.integers(0, 400, size=37)  # empty traces included
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(offsets[-1])
    lat = 39.9 + rng.normal(0, 0.01, n)
    lng = 116.4 + rng.normal(0, 0.01, n)
    seeds = rng.integers(0, 2**63, size=len(sizes), dtype=np.uint64)
    one = apply_noise_seeded(lat, lng, offsets, seeds, EPS, threads=1)
    for threads in (2, 3, 8, 100):
        many = apply_noise_seeded(lat, lng, offsets, seeds, EPS, threads=threads)
        assert np.array_equal(one[0], many[0]) and np.array_equal(one[1], many[1]), threads


def test_radius_and_direction_are_independent() -> None:
    """The radius reuses the polar method's squared norm: it must not leak into the angle."""
    dx, dy = displacements(seed=11)
    r = np.hypot(dx, dy)
    theta = np.mod(np.arctan2(dy, dx), 2 * math.pi)
    assert abs(stats.spearmanr(r, theta).statistic) < 0.03
    near, far = theta[r < np.median(r)], theta[r >= np.median(r)]
    assert stats.ks_2samp(near, far).pvalue > 0.01
