"""Baseline mechanisms: noise laws against their analytic CDFs, S2 snapping against s2cell,
k-anonymity by brute force, Bayesian remapping against plain Geo-I, per-trace determinism."""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import s2cell
from scipy import stats

from accio_locapriv.arrow import to_arrays
from accio_locapriv.baselines import (
    AdaptiveGeoInd,
    ClusteringGeoInd,
    GaussianNoise,
    GeoIndRemapping,
    GridSnapping,
    KAnonymityCloaking,
    PriorGrid,
    S2Cloaking,
    UniformNoise,
    bayesian_remap,
    grid_snap,
    k_anonymity_cloak,
)
from accio_locapriv.kernels.geo import EARTH_RADIUS_M
from accio_locapriv.kernels.laplace import apply_noise_seeded
from accio_locapriv.kernels.noise import adaptive_geoind, clustering_geoind, seeded_noise
from accio_locapriv.kernels.s2 import cell_centers, cell_ids, parent_ids, snap_to_cells
from accio_locapriv.synthetic import generate_traces

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0


def _displacements(n: int, law: str, scale: float, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Noise displacements (metres east, north) recovered exactly from the local-mode output."""
    lat = np.full(n, 45.0)
    lng = np.full(n, 4.0)
    offsets = np.array([0, n // 3, n], dtype=np.int64)
    seeds = np.array([seed, seed + 1], dtype=np.uint64)
    out_lat, out_lng = seeded_noise(lat, lng, offsets, seeds, law, scale)
    return (out_lng - lng) * M_PER_DEG * math.cos(math.radians(45.0)), (out_lat - lat) * M_PER_DEG


def test_uniform_disc_law() -> None:
    r_max = 150.0
    dx, dy = _displacements(200_000, "disc", r_max)
    r = np.hypot(dx, dy)
    assert r.max() <= r_max * (1 + 1e-9)
    assert stats.kstest(r, lambda x: np.clip(x / r_max, 0, 1) ** 2).pvalue > 1e-3
    theta = np.arctan2(dy, dx)
    assert stats.kstest(theta, stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 1e-3
    assert r.mean() == pytest.approx(2 * r_max / 3, rel=0.01)
    assert dx.std() == pytest.approx(r_max / 2, rel=0.01)  # E[x²] = R²/4


def test_gaussian_law() -> None:
    sigma = 40.0
    dx, dy = _displacements(200_000, "gaussian", sigma)
    assert stats.kstest(dx, stats.norm(0, sigma).cdf).pvalue > 1e-3
    assert stats.kstest(dy, stats.norm(0, sigma).cdf).pvalue > 1e-3
    assert abs(np.corrcoef(dx, dy)[0, 1]) < 0.01
    r = np.hypot(dx, dy)
    assert stats.kstest(r, stats.rayleigh(scale=sigma).cdf).pvalue > 1e-3
    assert r.mean() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.01)


def test_laplace_law_is_geoi_stream() -> None:
    eps = 0.01
    dx, dy = _displacements(200_000, "laplace", 1 / eps)
    r = np.hypot(dx, dy)
    assert stats.kstest(r, stats.gamma(2, scale=1 / eps).cdf).pvalue > 1e-3
    lat, lng = np.full(50, 45.0), np.full(50, 4.0)
    off, seeds = np.array([0, 50]), np.array([9], dtype=np.uint64)
    np.testing.assert_array_equal(
        seeded_noise(lat, lng, off, seeds, "laplace", 1 / eps)[0],
        apply_noise_seeded(lat, lng, off, seeds, eps)[0],
    )


def test_noise_is_thread_independent() -> None:
    events, _ = generate_traces(8, 1, 120_000, 5.0, (45.76, 4.84), seed=3)
    a = to_arrays(events)
    seeds = np.arange(1, a.n_traces + 1, dtype=np.uint64)
    one = seeded_noise(a.lat, a.lng, a.offsets, seeds, "gaussian", 30.0, threads=1)
    two = seeded_noise(a.lat, a.lng, a.offsets, seeds, "gaussian", 30.0, threads=3)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


# ---------------------------------------------------------------------------------------------
# S2 snapping


@pytest.mark.parametrize("level", [0, 3, 10, 15, 22, 30])
def test_cell_centers_match_s2cell(level: int) -> None:
    rng = np.random.default_rng(level)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 500)))
    lng = rng.uniform(-180, 180, 500)
    ids = cell_ids(lat, lng, level)
    c_lat, c_lng = cell_centers(ids)
    ref = np.array([s2cell.cell_id_to_lat_lon(int(c)) for c in ids])
    np.testing.assert_allclose(c_lat, ref[:, 0], atol=1e-12)
    np.testing.assert_allclose(c_lng, ref[:, 1], atol=1e-12)
    # Snapping is idempotent and the snapped point lies in the original cell.
    s_lat, s_lng = snap_to_cells(lat, lng, level)
    np.testing.assert_array_equal(cell_ids(s_lat, s_lng, level), ids)
    again = snap_to_cells(s_lat, s_lng, level)
    np.testing.assert_array_equal(again[0], s_lat)
    np.testing.assert_array_equal(again[1], s_lng)
    oracle = [
        s2cell.lat_lon_to_cell_id(a, b, level)
        for a, b in zip(s_lat[:100], s_lng[:100], strict=True)
    ]
    assert oracle == [int(c) for c in ids[:100]]
    leaf = cell_ids(lat, lng, 30)
    np.testing.assert_array_equal(parent_ids(leaf, level), ids)


def test_s2_cloaking_operator(run_op, synthetic) -> None:
    events, _ = synthetic
    out = run_op(S2Cloaking, {"level": 14, "data": events})["data"]
    assert out.column("id").equals(events.column("id"))
    assert out.column("time").equals(events.column("time"))
    lat, lng = out.column("lat").to_numpy(), out.column("lng").to_numpy()
    orig = cell_ids(events.column("lat").to_numpy(), events.column("lng").to_numpy(), 14)
    np.testing.assert_array_equal(cell_ids(lat, lng, 14), orig)
    assert len(np.unique(lat)) == len(np.unique(orig))
    again = run_op(S2Cloaking, {"level": 14, "data": out})["data"]
    assert again.equals(out)


@pytest.mark.parametrize("cell", [35.0, 250.0, 5000.0])
def test_grid_snapping_is_idempotent_and_local(cell: float) -> None:
    rng = np.random.default_rng(int(cell))
    lat = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, 20_000))), [89.9999, -90.0]])
    lng = np.concatenate([rng.uniform(-180, 180, 20_000), [179.9999, -180.0]])
    s_lat, s_lng = grid_snap(lat, lng, cell)
    again = grid_snap(s_lat, s_lng, cell)
    np.testing.assert_array_equal(again[0], s_lat)
    np.testing.assert_array_equal(again[1], s_lng)
    assert np.all(np.abs(s_lat) <= 90) and np.all(np.abs(s_lng) <= 180)
    # Away from the poles a point moves at most half a cell diagonal (plus the curvature of a
    # row: columns are measured on its central parallel).
    ok = np.abs(lat) < 80
    moved = haversine_m(lat[ok], lng[ok], s_lat[ok], s_lng[ok])
    assert moved.max() <= cell * math.sqrt(2) / 2 * 1.02
    assert moved.mean() == pytest.approx(cell * 0.3826, rel=0.05)  # mean to a square's centre


def haversine_m(a, b, c, d):
    from accio_locapriv.kernels.geo import haversine

    return haversine(a, b, c, d)


def test_grid_snapping_operator(run_op, synthetic) -> None:
    events, _ = synthetic
    out = run_op(GridSnapping, {"cellSize": 200.0, "data": events})["data"]
    assert out.column("time").equals(events.column("time"))
    assert run_op(GridSnapping, {"cellSize": 200.0, "data": out})["data"].equals(out)
    assert len(np.unique(out.column("lat").to_numpy())) < events.num_rows / 10


# ---------------------------------------------------------------------------------------------
# k-anonymity


@pytest.mark.parametrize(("k", "window_ms"), [(2, 3_600_000), (4, 1_800_000)])
def test_k_anonymity_holds_on_every_released_cell(k: int, window_ms: int) -> None:
    events, _ = generate_traces(7, 2, 600_000, 10.0, (45.76, 4.84), seed=11)
    arrays = to_arrays(events)
    min_level, max_level = 9, 17
    cells, levels = k_anonymity_cloak(arrays, k, window_ms, min_level, max_level)
    # Brute force with the s2cell oracle: users of every (level, cell, window), over all events.
    users = np.repeat([str(t).split("-")[0] for t in arrays.ids], arrays.lengths).tolist()
    window = (arrays.time // window_ms).tolist()
    leaf = [
        s2cell.lat_lon_to_cell_id(a, b, 30)
        for a, b in zip(arrays.lat.tolist(), arrays.lng.tolist(), strict=True)
    ]
    parent = {
        level: [s2cell.cell_id_to_parent_cell_id(c, level) for c in leaf]
        for level in range(min_level, max_level + 1)
    }
    groups: dict[tuple[int, int, int], set[str]] = {}
    for level, ids in parent.items():
        for e in range(arrays.n_events):
            groups.setdefault((level, ids[e], window[e]), set()).add(users[e])

    def n_users(e: int, level: int) -> int:
        return len(groups[(level, parent[level][e], window[e])])

    released = 0
    for e in range(arrays.n_events):
        level = int(levels[e])
        if level < 0:  # suppressed: not even the coarsest cell holds k users
            assert n_users(e, min_level) < k
            continue
        released += 1
        assert int(cells[e]) == parent[level][e]  # the event's own ancestor at that level
        assert n_users(e, level) >= k  # k-anonymous
        if level < max_level:  # and the smallest such cell
            assert n_users(e, level + 1) < k
    assert released > arrays.n_events // 4


def test_k_anonymity_operator_outputs(run_op) -> None:
    events, _ = generate_traces(6, 1, 300_000, 10.0, (45.76, 4.84), seed=2)
    out = run_op(
        KAnonymityCloaking, {"k": 3, "window": 3_600_000, "coarsenTime": True, "data": events}
    )
    n = events.num_rows
    assert out["data"].num_rows + out["suppressed"] == n
    assert out["suppressedRate"] == pytest.approx(out["suppressed"] / n)
    assert 8 <= out["meanLevel"] <= 18
    assert np.all(out["data"].column("time").cast(pa.int64()).to_numpy() % 3_600_000 == 0)
    # k = 1: nothing suppressed, every event in its finest cell.
    one = run_op(KAnonymityCloaking, {"k": 1, "maxLevel": 16, "data": events})
    assert one["suppressed"] == 0 and one["meanLevel"] == 16.0
    # More users than exist: everything suppressed.
    none = run_op(KAnonymityCloaking, {"k": 7, "data": events})
    assert none["suppressed"] == n and none["data"].num_rows == 0


# ---------------------------------------------------------------------------------------------
# Bayesian remapping


def _test_grid() -> tuple[PriorGrid, np.ndarray, np.ndarray, np.ndarray]:
    """A 12 x 12 grid of 100 m cells with a skewed prior (two hot spots)."""
    gx, gy = np.meshgrid(np.arange(12) * 100.0, np.arange(12) * 100.0)
    gx, gy = gx.ravel(), gy.ravel()
    prior = np.exp(-np.hypot(gx - 200, gy - 300) / 150) + 0.5 * np.exp(
        -np.hypot(gx - 900, gy - 800) / 100
    )
    return PriorGrid.from_points(gx, gy, prior), gx, gy, prior / prior.sum()


@pytest.mark.parametrize("eps", [0.002, 0.01, 0.05])
def test_remapping_never_lowers_expected_utility(eps: float) -> None:
    grid, gx, gy, prior = _test_grid()
    rng = np.random.default_rng(1)
    n = 20_000
    true = rng.choice(len(prior), size=n, p=prior)
    r = rng.gamma(2.0, 1 / eps, n)
    th = rng.uniform(0, 2 * math.pi, n)
    zx, zy = gx[true] + r * np.cos(th), gy[true] + r * np.sin(th)
    rx, ry = bayesian_remap(zx, zy, grid, eps)
    plain = np.hypot(zx - gx[true], zy - gy[true]).mean()
    remapped = np.hypot(rx - gx[true], ry - gy[true]).mean()
    assert remapped <= plain
    # Per report: the posterior expected loss of the remapped point is never above z's.
    for i in range(200):
        w = prior * np.exp(-eps * np.hypot(gx - zx[i], gy - zy[i]))
        w /= w.sum()
        loss_z = np.sum(w * np.hypot(gx - zx[i], gy - zy[i]))
        loss_r = np.sum(w * np.hypot(gx - rx[i], gy - ry[i]))
        assert loss_r <= loss_z * (1 + 1e-9)
    threaded = bayesian_remap(zx[:999], zy[:999], grid, eps, threads=3)
    np.testing.assert_array_equal(threaded[0], rx[:999])
    np.testing.assert_array_equal(threaded[1], ry[:999])
    # Squared loss: the remapped point is the posterior mean.
    sx, sy = bayesian_remap(zx[:5], zy[:5], grid, eps, "squared")
    for i in range(5):
        w = prior * np.exp(-eps * np.hypot(gx - zx[i], gy - zy[i]))
        w /= w.sum()
        assert sx[i] == pytest.approx(np.sum(w * gx)) and sy[i] == pytest.approx(np.sum(w * gy))


def test_remapping_operator_improves_distortion(run_op, synthetic) -> None:
    events, _ = synthetic
    out = run_op(GeoIndRemapping, {"epsilon": 0.005, "train": events, "data": events})["data"]
    plain = apply_noise_seeded(
        *(to_arrays(events).lat, to_arrays(events).lng),
        to_arrays(events).offsets,
        np.arange(1, 7, dtype=np.uint64),
        0.005,
    )
    lat0, lng0 = events.column("lat").to_numpy(), events.column("lng").to_numpy()

    def dist(lat: np.ndarray, lng: np.ndarray) -> float:
        dy = (lat - lat0) * M_PER_DEG
        dx = (lng - lng0) * M_PER_DEG * np.cos(np.radians(lat0))
        return float(np.hypot(dx, dy).mean())

    assert dist(out.column("lat").to_numpy(), out.column("lng").to_numpy()) < 0.7 * dist(*plain)


# ---------------------------------------------------------------------------------------------
# Adaptive and clustering Geo-I


def test_adaptive_geoi_reduces_to_geoi_and_picks_budgets() -> None:
    events, _ = generate_traces(3, 1, 300_000, 10.0, (45.76, 4.84), seed=4)
    a = to_arrays(events)
    seeds = np.array([7, 8, 9], dtype=np.uint64)
    lat, lng, eps = adaptive_geoind(
        a.lat, a.lng, a.time, a.offsets, seeds, 0.01, alpha=1.0, beta=1.0
    )
    ref = apply_noise_seeded(a.lat, a.lng, a.offsets, seeds, 0.01)
    np.testing.assert_array_equal(lat, ref[0])
    np.testing.assert_array_equal(lng, ref[1])
    _, _, eps = adaptive_geoind(a.lat, a.lng, a.time, a.offsets, seeds, 0.01)
    assert set(np.unique(eps)) <= {0.001, 0.01, 0.05}
    assert np.all(eps[a.offsets[:-1]] == 0.01) and np.all(eps[a.offsets[:-1] + 1] == 0.01)
    assert len(np.unique(eps)) == 3
    # Huge thresholds: every predicted point counts as predictable (alpha·epsilon).
    _, _, eps = adaptive_geoind(
        a.lat, a.lng, a.time, a.offsets, seeds, 0.01, delta1=1e12, delta2=2e12
    )
    starts = np.concatenate([a.offsets[:-1], a.offsets[:-1] + 1])
    assert np.all(np.delete(eps, starts) == pytest.approx(0.001))


def test_clustering_geoi() -> None:
    n = 40
    lat = np.concatenate([np.full(n, 45.0), 45.0 + np.arange(n) * 0.01])
    lng = np.full(2 * n, 4.0)
    offsets = np.array([0, n, 2 * n], dtype=np.int64)
    seeds = np.array([3, 4], dtype=np.uint64)
    out_lat, _out_lng, fresh = clustering_geoind(lat, lng, offsets, seeds, 0.01, 200.0)
    # A stay draws once and repeats its output; a walk with 1.1 km steps draws every time.
    assert fresh[:n].sum() == 1 and len(np.unique(out_lat[:n])) == 1
    assert fresh[n:].all()
    ref = apply_noise_seeded(lat, lng, offsets, seeds, 0.01)
    np.testing.assert_array_equal(out_lat[n:], ref[0][n:])
    assert out_lat[0] == ref[0][0]


# ---------------------------------------------------------------------------------------------
# Determinism: trace order, partitioning, processes


def _subset(table: pa.Table, ids: list[str]) -> pa.Table:
    return table.filter(pc.is_in(table.column("id"), pa.array(ids)))


CASES = [
    (UniformNoise, {"radius": 100.0}),
    (GaussianNoise, {"sigma": 50.0, "mode": "mercator"}),
    (AdaptiveGeoInd, {"epsilon": 0.01}),
    (ClusteringGeoInd, {"epsilon": 0.01, "radius": 150.0}),
]


@pytest.mark.parametrize(("op", "params"), CASES, ids=[c[0].__name__ for c in CASES])
def test_mechanisms_are_partition_and_order_independent(run_op, synthetic, op, params) -> None:
    events, _ = synthetic
    whole = run_op(op, {**params, "data": events})["data"]
    ids = events.column("id").unique().to_pylist()
    pieces = [
        run_op(op, {**params, "data": _subset(events, p)})["data"] for p in (ids[:2], ids[2:])
    ]
    assert pa.concat_tables(pieces).equals(whole)
    perm = np.random.default_rng(0).permutation(events.num_rows)
    assert run_op(op, {**params, "data": events.take(perm)})["data"].equals(whole)
    assert not run_op(op, {**params, "data": events}, seed=43)["data"].equals(whole)


def test_remapping_is_partition_independent(run_op, synthetic) -> None:
    events, _ = synthetic
    inputs = {"epsilon": 0.01, "train": events}
    whole = run_op(GeoIndRemapping, {**inputs, "data": events})["data"]
    ids = events.column("id").unique().to_pylist()
    pieces = [
        run_op(GeoIndRemapping, {**inputs, "data": _subset(events, p)})["data"]
        for p in (ids[:3], ids[3:])
    ]
    assert pa.concat_tables(pieces).equals(whole)


def _in_process(args: tuple[list[str], int]) -> bytes:
    """Run UniformNoise on some users in a worker process; the table as IPC bytes."""
    from accio.ops.api import spec_of
    from accio.ops.context import OperatorContext

    ids, seed = args
    events, _ = generate_traces(6, 3, 60_000, 10.0, (45.76, 4.84), seed=7)
    ctx = OperatorContext("UniformNoise", True, seed)
    out = (
        spec_of(UniformNoise)
        .instantiate()
        .run({"radius": 100.0, "mode": "local", "data": _subset(events, ids)}, ctx)["data"]
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, out.schema) as writer:
        writer.write_table(out)
    return sink.getvalue().to_pybytes()


def test_noise_is_process_count_independent(run_op, synthetic) -> None:
    events, _ = synthetic
    whole = run_op(UniformNoise, {"radius": 100.0, "data": events}, seed=42)["data"]
    ids = events.column("id").unique().to_pylist()
    with ProcessPoolExecutor(2) as pool:
        parts = list(pool.map(_in_process, [(ids[:4], 42), (ids[4:], 42)]))
    tables = [pa.ipc.open_stream(p).read_all() for p in parts]
    assert pa.concat_tables(tables).equals(whole)


def test_remapping_operator_is_geoi_then_remap(run_op, synthetic) -> None:
    """Same node seed: GeoIndRemapping's output is the Bayesian remap of GeoIndistinguishability's
    (the noise is the same stream), computed independently here from the two public pieces."""
    from accio_locapriv.kernels.geo import from_local, to_local
    from accio_locapriv.mechanisms import GeoIndistinguishability

    events, _ = synthetic
    train = events.slice(0, events.num_rows // 2)
    out = run_op(
        GeoIndRemapping,
        {"epsilon": 0.02, "cellSize": 300.0, "loss": "squared", "train": train, "data": events},
        seed=9,
    )["data"]
    noisy = run_op(GeoIndistinguishability, {"epsilon": 0.02, "data": events}, seed=9)["data"]
    t = to_arrays(train)
    grid = PriorGrid(t.lat, t.lng, 300.0)
    zx, zy = to_local(
        noisy.column("lat").to_numpy(), noisy.column("lng").to_numpy(), grid.lat0, grid.lng0
    )
    rx, ry = bayesian_remap(zx, zy, grid, 0.02, "squared")
    lat, lng = from_local(rx, ry, grid.lat0, grid.lng0)
    np.testing.assert_allclose(out.column("lat").to_numpy(), lat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.column("lng").to_numpy(), lng, rtol=0, atol=1e-12)
    # Every remapped point is a posterior mean: inside the convex hull of the prior's support.
    assert rx.min() >= grid.x.min() - 1e-6 and rx.max() <= grid.x.max() + 1e-6


@pytest.mark.parametrize("eps", [1e-4, 0.003, 0.05, 0.5])
def test_remap_pruning_matches_the_full_posterior(eps: float) -> None:
    """The bucket pruning drops only terms below e^-40 of the largest: the posterior mean equals
    a dense numpy computation over every support point, for reports inside, at the edge of and
    far outside the support."""
    rng = np.random.default_rng(int(eps * 1e4))
    px = np.concatenate([rng.normal(0, 2000, 400), rng.uniform(-9000, 9000, 100)])
    py = np.concatenate([rng.normal(500, 1500, 400), rng.uniform(-9000, 9000, 100)])
    prior = rng.pareto(1.0, 500) + 1e-3
    grid = PriorGrid.from_points(px, py, prior)
    zx = np.concatenate([rng.uniform(-12000, 12000, 300), [5e5, -3e4, 0.0]])
    zy = np.concatenate([rng.uniform(-12000, 12000, 300), [-2e5, 0.0, 8.9e3]])
    mx, my = bayesian_remap(zx, zy, grid, eps, "squared")
    logw = np.log(grid.prior)[None, :] - eps * np.hypot(zx[:, None] - px, zy[:, None] - py)
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(mx, w @ px, rtol=0, atol=1e-6)
    np.testing.assert_allclose(my, w @ py, rtol=0, atol=1e-6)
