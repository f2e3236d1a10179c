"""Throughput of the location-privacy kernels, each next to a pure-Python baseline in the same run.

Usage::

    python benchmarks/bench_kernels.py [--events N] [--repeat R]

Prints events/s (best of ``R`` runs) for:

* Geo-indistinguishability: the kernel (per-trace generators, uniform draws, fused numba noise),
  the whole operator (validation, Arrow <-> numpy, output table), the Lambert-W sampler, and a
  pure-Python loop (``random.gammavariate`` + trigonometry per event) on a subset;
* Parquet write and read of a canonical trace table, and the CSV event reader;
* the synthetic generator (target >= 1 M events/s), against a pure-Python generator loop;
* stay points, S2 cells and distortion metrics: see the functions marked ``OTHER KERNELS``;
* the baseline mechanisms (uniform-disc and Gaussian noise, S2 snapping, k-anonymity, Bayesian
  remapping, adaptive and clustering Geo-I) against numpy or pure-Python baselines, and the
  AP-attack and uniqueness metrics (``--only mechanisms attacks``).

Targets (locapriv.md §5): per-event vectorised ops >= 10 M events/s (Geo-I >= 20 M events/s),
sequential per-trace kernels >= 1 M events/s, CSV round trip >= 5 M rows/s.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accio.cache.artifacts import LocalArtifactStore
from accio.ops.api import spec_of
from accio.ops.context import OperatorContext
from accio_locapriv.arrow import to_arrays
from accio_locapriv.kernels.geo import EARTH_RADIUS_M, haversine
from accio_locapriv.mechanisms import GeoIndistinguishability, geo_indistinguishability
from accio_locapriv.sources import read_source
from accio_locapriv.synthetic import generate_traces

Result = tuple[str, int, float]  # (label, events, best seconds)


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    """Smallest wall time of ``repeat`` calls, seconds."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(label: str, events: int, seconds: float, baseline: float | None = None) -> None:
    """One line: events/s, and the speed-up against a baseline rate in events/s."""
    rate = events / seconds
    extra = f"   x{rate / baseline:,.0f} vs baseline" if baseline else ""
    line = f"  {label:<44} {rate / 1e6:9.2f} M events/s  ({seconds * 1e3:8.1f} ms){extra}"
    print(line, flush=True)


def make_table(n_events: int, n_traces: int = 1000, seed: int = 0) -> pa.Table:
    """A canonical table of ``n_events`` events (random walks around Beijing)."""
    per = max(1, n_events // n_traces)
    events, _ = generate_traces(n_traces, 1, max(1, 86_400_000 // per), 10.0, (39.9, 116.4), seed)
    return events


# ---------------------------------------------------------------------------------------------
# Geo-indistinguishability


def _python_geoi(lat: list[float], lng: list[float], epsilon: float) -> None:
    rnd = random.Random(1)
    k = 180.0 / (math.pi * EARTH_RADIUS_M)
    for i in range(len(lat)):
        r = rnd.gammavariate(2.0, 1.0 / epsilon)
        theta = rnd.random() * 2.0 * math.pi
        la = lat[i] + r * math.sin(theta) * k
        lng[i] + r * math.cos(theta) * k / math.cos(math.radians(lat[i]))
        lat[i] = la


def bench_geoi(table: pa.Table, repeat: int) -> None:
    print("Geo-indistinguishability (epsilon = 0.01 / m)")
    n = table.num_rows
    arrays = to_arrays(table)
    ctx = OperatorContext("GeoIndistinguishability", True, 42, Path(tempfile.gettempdir()))
    sub = min(n, 200_000)
    lat = table.column("lat").to_numpy()[:sub].tolist()
    lng = table.column("lng").to_numpy()[:sub].tolist()
    base = sub / best_time(lambda: _python_geoi(lat, lng, 0.01), 1)
    report(f"pure-Python loop ({sub:,} events)", sub, sub / base)
    geo_indistinguishability(arrays, 0.01, ctx.trace_rng, trace_seed=ctx.trace_seed)  # compile
    t = best_time(
        lambda: geo_indistinguishability(arrays, 0.01, ctx.trace_rng, trace_seed=ctx.trace_seed),
        repeat,
    )
    report(f"kernel, gamma, local ({arrays.n_traces} traces), 1 thread", n, t, base)
    t = best_time(
        lambda: geo_indistinguishability(
            arrays, 0.01, ctx.trace_rng, trace_seed=ctx.trace_seed, threads=2
        ),
        repeat,
    )
    report("kernel, gamma, local, 2 threads", n, t, base)
    t = best_time(
        lambda: geo_indistinguishability(
            arrays, 0.01, ctx.trace_rng, mode="mercator", trace_seed=ctx.trace_seed
        ),
        repeat,
    )
    report("kernel, gamma, mercator", n, t, base)
    geo_indistinguishability(arrays, 0.01, ctx.trace_rng, sampler="lambertw")
    t = best_time(
        lambda: geo_indistinguishability(arrays, 0.01, ctx.trace_rng, sampler="lambertw"), 1
    )
    report("kernel, lambertw, local", n, t, base)
    op = spec_of(GeoIndistinguishability).instantiate()
    inputs = {"epsilon": 0.01, "sampler": "gamma", "mode": "local", "data": table}
    t = best_time(lambda: op.run(inputs, ctx), repeat)
    report("operator (validate + kernel + table)", n, t, base)


# ---------------------------------------------------------------------------------------------
# Input / output


def bench_io(table: pa.Table, repeat: int) -> None:
    print("Input / output")
    n = table.num_rows
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.parquet"
        t = best_time(lambda: pq.write_table(table, path), repeat)
        report("Parquet write (pyarrow defaults)", n, t)
        store = LocalArtifactStore(Path(tmp) / "artifacts")
        t = best_time(lambda: store.put_table(table), repeat)  # encode, fsync, SHA-256, rename
        report("artifact store put_table (first write)", n, t)
        t = best_time(lambda: pq.read_table(path), repeat)
        report("Parquet read", n, t)
        t = best_time(lambda: read_source(str(path), kind="parquet"), repeat)
        report("EventSource parquet (read + validate)", n, t)
        csv_dir = Path(tmp) / "csv"
        csv_dir.mkdir()
        arrays = to_arrays(table)
        for k in range(min(arrays.n_traces, 50)):
            a, b = arrays.offsets[k], arrays.offsets[k + 1]
            part = table.slice(a, b - a).select(["lat", "lng", "time"])
            part = part.set_column(2, "time", part.column("time").cast(pa.int64()))
            options = pacsv.WriteOptions(include_header=False)
            pacsv.write_csv(part, csv_dir / f"{arrays.ids[k]}.csv", options)
        n_csv = int(arrays.offsets[min(arrays.n_traces, 50)])
        t = best_time(lambda: read_source(str(csv_dir)), repeat)
        report("EventSource csv directory (<key>.csv)", n_csv, t)
        base_n = min(n_csv, 100_000)
        first = sorted(csv_dir.iterdir())[0]

        def python_csv() -> None:
            rows = 0
            with open(first) as fh:
                for line in fh:
                    lat, lng, tm = line.split(",")
                    float(lat), float(lng), int(tm)
                    rows += 1
                    if rows >= base_n:
                        break

        lines = first.read_text().count("\n")
        t = best_time(python_csv, 1)
        report("pure-Python CSV parse (one file)", min(lines, base_n), t)


# ---------------------------------------------------------------------------------------------
# Synthetic generator


def _python_generator(n_events: int) -> None:
    rnd = random.Random(3)
    home = (45.76, 4.84)
    work = (45.78, 4.86)
    out = []
    for i in range(n_events):
        minute = i % 1440
        at_work = 540 <= minute < 1020
        base = work if at_work else home
        out.append((base[0] + rnd.gauss(0, 1e-4), base[1] + rnd.gauss(0, 1e-4), i * 60_000))


def bench_synthetic(repeat: int) -> None:
    print("Synthetic generator")
    n_base = 200_000
    base = n_base / best_time(lambda: _python_generator(n_base), 1)
    report(f"pure-Python loop ({n_base:,} events)", n_base, n_base / base)
    holder: list[int] = []
    for users, days, interval in ((100, 7, 60_000), (50, 7, 5_000)):

        def run(users: int = users, days: int = days, interval: int = interval) -> None:
            events, _ = generate_traces(users, days, interval, 10.0, (45.76, 4.84), 1)
            holder.append(events.num_rows)

        t = best_time(run, repeat)
        report(f"{users} users x {days} days, every {interval // 1000} s", holder[-1], t, base)


# ---------------------------------------------------------------------------------------------
# Stay points (DT), S2 cell ids and distortion metrics: accio_locapriv.kernels.{stays,s2,distance}
# and the metric operators.


def _python_dt(
    lat: list[float], lng: list[float], t: list[int], diameter: float, duration: int
) -> int:
    """The diameter/duration clusterer as a plain Python loop with haversine (baseline)."""
    k = math.pi / 180.0
    stays = 0
    window: list[int] = []
    for e in range(len(lat)):
        far = -1
        for j in range(len(window) - 1, -1, -1):
            i = window[j]
            a = (
                math.sin((lat[e] - lat[i]) * k / 2) ** 2
                + math.cos(lat[e] * k)
                * math.cos(lat[i] * k)
                * math.sin((lng[e] - lng[i]) * k / 2) ** 2
            )
            if 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(a, 1.0))) > diameter:
                far = j
                break
        if far < 0:
            window.append(e)
        elif len(window) > 1 and t[window[-1]] - t[window[0]] >= duration:
            stays += 1
            window = [e]
        else:
            window = [*window[far + 1 :], e]
    return stays


def bench_stays(table: pa.Table, repeat: int) -> None:
    """Diameter/duration (DT) stay points, 200 m / 15 min (target >= 2 M events/s)."""
    from accio.values.types import Distance, Duration
    from accio_locapriv.kernels.stays import dt_stays, repeated_pois
    from accio_locapriv.pois import PoisExtraction

    print("Stay points / POI extraction (diameter 200 m, duration 15 min)")
    n = table.num_rows
    arrays = to_arrays(table)
    sub = min(int(arrays.offsets[min(arrays.n_traces, 1)]), 5_000)  # O(n·w): keep it short
    lat, lng = arrays.lat[:sub].tolist(), arrays.lng[:sub].tolist()
    tm = arrays.time[:sub].tolist()
    base = sub / best_time(lambda: _python_dt(lat, lng, tm, 200.0, 900_000), 1)
    report(f"pure-Python DT loop ({sub:,} events)", sub, sub / base)
    args = (arrays.lat, arrays.lng, arrays.time, arrays.offsets, 200.0, 900_000)
    dt_stays(*args)  # compile
    t = best_time(lambda: dt_stays(*args), repeat)
    report(f"DT kernel ({len(dt_stays(*args)[0]):,} stays)", n, t, base)
    repeated_pois(*args, 2)
    t = best_time(lambda: repeated_pois(*args, 2), repeat)
    report("repeated POIs (DT + DJ-Cluster, minPoints 2)", n, t, base)
    ctx = OperatorContext("PoisExtraction", False, None, Path(tempfile.gettempdir()))
    op = spec_of(PoisExtraction).instantiate()
    inputs = {"diameter": Distance(200.0), "duration": Duration(900_000), "data": table}
    t = best_time(lambda: op.run({**inputs, "minPoints": 0}, ctx), repeat)
    report("PoisExtraction operator (table in, table out)", n, t, base)


def bench_s2(table: pa.Table, repeat: int) -> None:
    """S2 cell ids at level 15, numba port against s2cell (target >= 20 M events/s)."""
    import s2cell

    from accio_locapriv.kernels.s2 import cell_ids, default_threads

    print("S2 cell ids (level 15)")
    n = table.num_rows
    lat = table.column("lat").to_numpy()
    lng = table.column("lng").to_numpy()
    sub = min(n, 50_000)
    sub_lat, sub_lng = lat[:sub].tolist(), lng[:sub].tolist()

    def python_s2() -> None:
        for a, b in zip(sub_lat, sub_lng, strict=True):
            s2cell.lat_lon_to_cell_id(a, b, 15)

    base = sub / best_time(python_s2, 1)
    report(f"s2cell, Python loop ({sub:,} events)", sub, sub / base)
    cell_ids(lat[:10], lng[:10], 15)  # compile
    t = best_time(lambda: cell_ids(lat, lng, 15, threads=1), repeat)
    report("numba kernel, 1 thread", n, t, base)
    threads = default_threads()
    t = best_time(lambda: cell_ids(lat, lng, 15), repeat)
    report(f"numba kernel, {threads} threads", n, t, base)
    t = best_time(lambda: cell_ids(lat, lng, 30, threads=1), repeat)
    report("numba kernel, level 30, 1 thread", n, t, base)


def _noisy(table: pa.Table, sigma_m: float) -> pa.Table:
    """The table with Gaussian noise of ``sigma_m`` metres per axis (a stand-in for an LPPM)."""
    rng = np.random.default_rng(5)
    k = 180.0 / (math.pi * EARTH_RADIUS_M)
    lat = table.column("lat").to_numpy()
    lng = table.column("lng").to_numpy()
    noisy_lat = lat + rng.normal(0.0, sigma_m, len(lat)) * k
    noisy_lng = lng + rng.normal(0.0, sigma_m, len(lng)) * k / np.cos(np.radians(lat))
    out = table.set_column(1, "lat", pa.array(noisy_lat))
    return out.set_column(2, "lng", pa.array(noisy_lng))


def bench_distortion(table: pa.Table, repeat: int) -> None:
    """Spatial / spatio-temporal distortion and area coverage on noisy copies (100 m noise)."""
    from accio.values.types import Distance, Location
    from accio_locapriv.kernels.distance import nearest_distances, spatiotemporal_distances
    from accio_locapriv.metrics import AreaCoverage, HeatMapDistortion, SpatialDistortion

    print("Distortion metrics (test = train + 100 m Gaussian noise)")
    n = table.num_rows
    test = _noisy(table, 100.0)
    ref = to_arrays(table)
    res = to_arrays(test)
    starts, ends = ref.offsets[:-1], ref.offsets[1:]
    k = min(ref.n_traces, 1)
    sub = int(ref.offsets[k])

    def numpy_brute() -> None:
        for i in range(k):
            a, b = ref.offsets[i], ref.offsets[i + 1]
            for j in range(a, b, 1024):  # blocks of test events against the whole train trace
                e = min(b, j + 1024)
                haversine(
                    res.lat[j:e, None], res.lng[j:e, None], ref.lat[None, a:b], ref.lng[None, a:b]
                ).min(axis=1)

    base = sub / best_time(numpy_brute, 1)
    report(f"numpy brute-force nearest point ({sub:,} events)", sub, sub / base)
    for interpolate in (False, True):
        args = (ref.lat, ref.lng, starts, ends, res.lat, res.lng, starts, ends)
        nearest_distances(*args, interpolate=interpolate)  # compile
        t = best_time(lambda a=args, i=interpolate: nearest_distances(*a, interpolate=i), repeat)
        label = "polyline (interpolate)" if interpolate else "nearest point"
        report(f"kernel, {label}", n, t, base)
    args2 = (ref.lat, ref.lng, ref.time, starts, ends, res.lat, res.lng, res.time, starts, ends)
    spatiotemporal_distances(*args2)
    t = best_time(lambda: spatiotemporal_distances(*args2), repeat)
    report("kernel, spatio-temporal (same instant)", n, t)
    ctx = OperatorContext("metric", False, None, Path(tempfile.gettempdir()))
    for op_class, inputs in (
        (SpatialDistortion, {"interpolate": False}),
        (SpatialDistortion, {"interpolate": True}),
        (AreaCoverage, {"level": 15, "width": None}),
        (HeatMapDistortion, {"cellSize": Distance(800.0), "distanceType": "topsoe"}),
    ):
        op = spec_of(op_class).instantiate()
        full = {**inputs, "train": table, "test": test}
        if op_class is HeatMapDistortion:
            full |= {"lower": Location(-61.0, -131.0), "upper": Location(80.0, 171.0)}
        t = best_time(lambda o=op, f=full: o.run(f, ctx), repeat)
        report(f"{spec_of(op_class).name} operator {inputs}", n, t)


# ---------------------------------------------------------------------------------------------
# Baseline mechanisms (accio_locapriv.baselines) and attacks (metrics.reident)


def _numpy_offset(lat: np.ndarray, lng: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> None:
    k = 180.0 / (math.pi * EARTH_RADIUS_M)
    lat + dy * k, lng + dx * k / np.cos(np.radians(lat))


def _numpy_disc(lat: np.ndarray, lng: np.ndarray, radius: float) -> None:
    rng = np.random.default_rng(1)
    r = radius * np.sqrt(rng.random(len(lat)))
    theta = rng.random(len(lat)) * (2.0 * math.pi)
    _numpy_offset(lat, lng, r * np.cos(theta), r * np.sin(theta))


def _numpy_gaussian(lat: np.ndarray, lng: np.ndarray, sigma: float) -> None:
    rng = np.random.default_rng(1)
    _numpy_offset(lat, lng, rng.normal(0, sigma, len(lat)), rng.normal(0, sigma, len(lat)))


def _numpy_s2_snap(lat: np.ndarray, lng: np.ndarray, level: int) -> None:
    """S2 snapping in plain vectorised numpy (cell ids through the same 6-level tables, then
    centres): the baseline of the numba kernels."""
    from accio_locapriv.kernels.s2 import _build_lookup_ij, lookup_pos

    pos_table = lookup_pos().astype(np.int64)
    ij_table = _build_lookup_ij(lookup_pos()).astype(np.int64)
    la, lo = np.radians(lat), np.radians(lng)
    p = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])
    axis = np.argmax(np.abs(p), axis=0)
    neg = p[axis, np.arange(len(lat))] < 0
    face = axis + 3 * neg
    u = np.select(
        [face == 0, face == 1, face == 2, face == 3, face == 4],
        [p[1] / p[0], -p[0] / p[1], -p[0] / p[2], p[2] / p[0], p[2] / p[1]],
        -p[1] / p[2],
    )
    v = np.select(
        [face == 0, face == 1, face == 2, face == 3, face == 4],
        [p[2] / p[0], p[2] / p[1], -p[1] / p[2], p[1] / p[0], -p[0] / p[1]],
        -p[0] / p[2],
    )

    def st_ij(x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):  # np.where evaluates both branches
            s = np.where(x >= 0, 0.5 * np.sqrt(1 + 3 * x), 1 - 0.5 * np.sqrt(1 - 3 * x))
        return np.clip(np.floor(s * 2**30), 0, 2**30 - 1).astype(np.int64)

    i, j = st_ij(u), st_ij(v)
    bits = face & 1
    pos = np.zeros(len(lat), dtype=np.int64)
    for step in range(5):
        shift = 24 - 6 * step
        val = pos_table[bits | (((i >> shift) & 63) << 8) | (((j >> shift) & 63) << 2)]
        pos |= (val >> 2) << (2 * shift)
        bits = val & 3
    # Back to the centre of the cell at `level`: decode the position (inverse table) and keep
    # the top `level` levels.
    bits = face & 1
    ci = np.zeros(len(lat), dtype=np.int64)
    cj = np.zeros(len(lat), dtype=np.int64)
    for step in range(5):
        shift = 24 - 6 * step
        val = ij_table[(((pos >> (2 * shift)) & 4095) << 2) | bits]
        ci |= ((val >> 8) & 63) << shift
        cj |= ((val >> 2) & 63) << shift
        bits = val & 3
    size = 1 << (30 - level)
    ci, cj = ci & ~(size - 1), cj & ~(size - 1)

    def uv(si: np.ndarray) -> np.ndarray:
        s = (2 * si + size) / 2.0**31
        return np.where(s >= 0.5, (4 * s * s - 1) / 3, (1 - 4 * (1 - s) ** 2) / 3)

    cu, cv = uv(ci), uv(cj)
    one = np.ones(len(lat))
    x = np.select(
        [face == 0, face == 1, face == 2, face == 3, face == 4], [one, -cu, -cu, -one, cv], cv
    )
    y = np.select(
        [face == 0, face == 1, face == 2, face == 3, face == 4], [cu, one, -cv, -cv, -one], cu
    )
    z = np.select(
        [face == 0, face == 1, face == 2, face == 3, face == 4], [cv, cv, one, -cu, -cu], -one
    )
    np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))


def _python_kanon(users: list[int], windows: list[int], cells: list[list[int]], k: int) -> None:
    """k-anonymity cloaking with Python dicts and sets, per level (baseline)."""
    todo = list(range(len(users)))
    for level_cells in cells:
        groups: dict[tuple[int, int], set[int]] = {}
        for e in range(len(users)):
            groups.setdefault((windows[e], level_cells[e]), set()).add(users[e])
        todo = [e for e in todo if len(groups[(windows[e], level_cells[e])]) < k]


def _python_clustering(lat: list[float], lng: list[float], eps: float, radius: float) -> None:
    rnd = random.Random(1)
    k = math.pi / 180.0 * EARTH_RADIUS_M
    a_lat = a_lng = z_lat = z_lng = math.nan
    for i in range(len(lat)):
        dx = (lng[i] - a_lng) * k * math.cos(math.radians(lat[i]))
        dy = (lat[i] - a_lat) * k
        if not dx * dx + dy * dy <= radius * radius:
            r = rnd.gammavariate(2.0, 1.0 / eps)
            th = rnd.random() * 2 * math.pi
            z_lat, z_lng = lat[i] + r * math.sin(th) / k, lng[i] + r * math.cos(th) / k
            a_lat, a_lng = lat[i], lng[i]
        lat[i], lng[i] = z_lat, z_lng


def bench_mechanisms(table: pa.Table, repeat: int) -> None:
    """Baseline mechanisms, each against a numpy (or, for sequential ones, pure-Python) baseline
    measured in the same run (target >= 10 M events/s for the noise and snapping kernels)."""
    from accio_locapriv.baselines import (
        PriorGrid,
        bayesian_remap,
        k_anonymity_cloak,
    )
    from accio_locapriv.kernels.geo import to_local
    from accio_locapriv.kernels.noise import adaptive_geoind, clustering_geoind, seeded_noise
    from accio_locapriv.kernels.s2 import cell_ids, parent_ids, snap_to_cells

    print("Baseline mechanisms")
    n = table.num_rows
    arrays = to_arrays(table)
    lat, lng, off = arrays.lat, arrays.lng, arrays.offsets
    seeds = np.arange(1, arrays.n_traces + 1, dtype=np.uint64)
    for law, scale, numpy_fn in (
        ("disc", 100.0, _numpy_disc),
        ("gaussian", 50.0, _numpy_gaussian),
    ):
        base = n / best_time(lambda f=numpy_fn, s=scale: f(lat, lng, s), repeat)
        report(f"{law}: numpy, one generator, vectorised", n, n / base)
        seeded_noise(lat[:10], lng[:10], off[:2].clip(max=10), seeds[:1], law, scale)
        t = best_time(lambda a=law, s=scale: seeded_noise(lat, lng, off, seeds, a, s), repeat)
        report(f"{law}: numba kernel, per-trace streams, 1 thread", n, t, base)
        t = best_time(
            lambda a=law, s=scale: seeded_noise(lat, lng, off, seeds, a, s, threads=2), repeat
        )
        report(f"{law}: numba kernel, 2 threads", n, t, base)
    base = n / best_time(lambda: _numpy_s2_snap(lat, lng, 15), repeat)
    report("S2 snapping level 15: numpy", n, n / base)
    snap_to_cells(lat[:10], lng[:10], 15)
    t = best_time(lambda: snap_to_cells(lat, lng, 15, threads=1), repeat)
    report("S2 snapping level 15: numba (ids + centres), 1 thread", n, t, base)

    from accio_locapriv.baselines import grid_snap

    sub = min(n, 200_000)
    sl, sg = lat[:sub].tolist(), lng[:sub].tolist()

    def python_grid() -> None:
        k = EARTH_RADIUS_M * math.pi / 180.0
        for a, b in zip(sl, sg, strict=True):
            row = math.floor((a + 90.0) * k / 250.0)
            mid = -90.0 + (row + 0.5) * 250.0 / k
            w = 250.0 / (k * math.cos(math.radians(mid)))
            -180.0 + (math.floor((b + 180.0) / w) + 0.5) * w

    base = sub / best_time(python_grid, 1)
    report(f"grid snapping 250 m: pure-Python loop ({sub:,})", sub, sub / base)
    t = best_time(lambda: grid_snap(lat, lng, 250.0), repeat)
    report("grid snapping 250 m: numpy", n, t, base)

    users = np.repeat(np.arange(arrays.n_traces) % 50, arrays.lengths)[:sub].tolist()
    windows = (arrays.time[:sub] // 3_600_000).tolist()
    leaf = cell_ids(lat[:sub], lng[:sub], 18)
    cells = [parent_ids(leaf, lv).tolist() for lv in range(18, 7, -1)]
    base = sub / best_time(lambda: _python_kanon(users, windows, cells, 5), 1)
    report(f"k-anonymity k=5, 1 h, levels 18..8: Python dicts ({sub:,})", sub, sub / base)
    t = best_time(lambda: k_anonymity_cloak(arrays, 5, 3_600_000, 8, 18), repeat)
    report("k-anonymity: one sort + numba run counts per level", n, t, base)

    grid = PriorGrid(lat, lng, 200.0)
    zlat, zlng = seeded_noise(lat, lng, off, seeds, "laplace", 100.0)
    zx, zy = to_local(zlat, zlng, grid.lat0, grid.lng0)
    sub = min(n, 20_000)
    px, py, logp = grid.x, grid.y, np.log(grid.prior)

    def numpy_remap() -> None:
        for a in range(0, sub, 256):  # blocks of reports against every prior cell
            d = np.hypot(zx[a : a + 256, None] - px[None, :], zy[a : a + 256, None] - py[None, :])
            w = np.exp(logp[None, :] - 0.01 * d)
            w /= w.sum(axis=1, keepdims=True)
            w @ px, w @ py

    base = sub / best_time(numpy_remap, 1)
    print(f"  (prior grid: {len(px):,} cells of 200 m)")
    report(f"remap, squared loss: numpy blocks ({sub:,} events)", sub, sub / base)
    bayesian_remap(zx[:10], zy[:10], grid, 0.01, "squared")
    t = best_time(lambda: bayesian_remap(zx[:sub], zy[:sub], grid, 0.01, "squared"), 1)
    report("remap, squared loss: numba kernel", sub, t, base)
    bayesian_remap(zx[:10], zy[:10], grid, 0.01)
    t = best_time(lambda: bayesian_remap(zx[:sub], zy[:sub], grid, 0.01), 1)
    report("remap, Euclidean loss (Weiszfeld): numba kernel", sub, t, base)
    t = best_time(lambda: bayesian_remap(zx[:sub], zy[:sub], grid, 0.01, threads=2), 1)
    report("remap, Euclidean loss: numba kernel, 2 threads", sub, t, base)

    sub = min(n, 200_000)
    sl, sg = lat[:sub].tolist(), lng[:sub].tolist()
    base = sub / best_time(lambda: _python_clustering(list(sl), list(sg), 0.01, 200.0), 1)
    report(f"clustering Geo-I: pure-Python loop ({sub:,})", sub, sub / base)
    clustering_geoind(lat[:10], lng[:10], off[:2].clip(max=10), seeds[:1], 0.01, 200.0)
    t = best_time(lambda: clustering_geoind(lat, lng, off, seeds, 0.01, 200.0), repeat)
    report("clustering Geo-I: numba kernel", n, t, base)
    adaptive_geoind(lat[:10], lng[:10], arrays.time[:10], off[:2].clip(max=10), seeds[:1], 0.01)
    t = best_time(lambda: adaptive_geoind(lat, lng, arrays.time, off, seeds, 0.01), repeat)
    report("adaptive Geo-I: numba kernel (regression on 3; no baseline)", n, t)


def bench_attacks(table: pa.Table, repeat: int) -> None:
    """AP-attack and uniqueness operators on the table against a 100 m noisy copy."""
    from accio.values.types import Distance, Duration
    from accio_locapriv.metrics import ApAttack, Uniqueness

    print("Attacks (test = train + 100 m Gaussian noise)")
    n = table.num_rows
    test = _noisy(table, 100.0)
    ctx = OperatorContext("Uniqueness", True, 1, Path(tempfile.gettempdir()))
    op = spec_of(ApAttack).instantiate()
    inputs = {"train": table, "test": test, "cellSize": Distance(800.0), "distanceType": "topsoe"}
    t = best_time(lambda: op.run(inputs, ctx), repeat)
    report(f"ApAttack operator ({len(table.column('id').unique())} users)", n, t)
    op = spec_of(Uniqueness).instantiate()
    inputs = {
        "data": test,
        "points": 4,
        "level": 15,
        "resolution": Duration(3_600_000),
        "topN": 2,
        "trials": 20,
    }
    t = best_time(lambda: op.run(inputs, ctx), repeat)
    report("Uniqueness operator (4 points x 20 trials, top-2)", n, t)


def calibrate(repeat: int) -> None:
    """numpy haversine speed: locapriv.md §5 measured 23 M pairs/s on its reference box."""
    rng = np.random.default_rng(0)
    lat, lng = rng.uniform(39, 41, 2_000_000), rng.uniform(116, 117, 2_000_000)
    t = best_time(lambda: haversine(lat, lng, lat[::-1], lng[::-1]), repeat)
    print("Calibration (reference box of locapriv.md §5: 23 M pairs/s)")
    report("numpy haversine", len(lat), t)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events in the table")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (best is kept)")
    parser.add_argument(
        "--only", nargs="*", choices=sorted(SECTIONS), help="run only these sections"
    )
    args = parser.parse_args(argv)
    table = make_table(args.events)
    print(f"{table.num_rows:,} events in {len(table.column('id').unique())} traces\n")
    calibrate(args.repeat)
    for name, section in SECTIONS.items():
        if not args.only or name in args.only:
            section(table, args.repeat)


SECTIONS: dict[str, Callable[[pa.Table, int], None]] = {
    "geoi": bench_geoi,
    "io": bench_io,
    "synthetic": lambda _table, repeat: bench_synthetic(repeat),
    "stays": bench_stays,
    "s2": bench_s2,
    "distortion": bench_distortion,
    "mechanisms": bench_mechanisms,
    "attacks": bench_attacks,
}


if __name__ == "__main__":
    main()
