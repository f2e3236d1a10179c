"""Stay-point kernels: the diameter/duration clusterer and DJ-Cluster / repeated POIs."""

from __future__ import annotations

import numpy as np

from accio_locapriv.kernels.geo import from_local, haversine
from accio_locapriv.kernels.stays import (
    dj_cluster,
    dt_stays,
    dt_stays_xy,
    repeated_pois,
    stay_centroids,
)

# The reference example of locapriv.md §2.4b: planar metres, time in seconds.
EXAMPLE = [
    (1000, 0, 600),
    (1000, 10, 620),
    (1010, 10, 620),
    (1010, 10, 660),  # stay 1: rows 0-3 (diameter 14.1 m, 60 s)
    (1000, 20, 670),
    (1000, 10, 680),
    (1020, 0, 740),  # no stay: diameter too large
    (1000, 0, 750),
    (1000, 10, 770),
    (1010, 10, 780),
    (1010, 10, 820),  # stay 2: rows 7-10 (70 s)
    (1020, 20, 830),
    (1020, 20, 880),  # no stay: only 50 s
]


def _example() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([p[0] for p in EXAMPLE], dtype=float)
    y = np.array([p[1] for p in EXAMPLE], dtype=float)
    t = np.array([p[2] * 1000 for p in EXAMPLE], dtype=np.int64)
    return x, y, t


def test_reference_example_gives_exactly_two_stays() -> None:
    x, y, t = _example()
    trace, begin, end = dt_stays_xy(x, y, t, np.array([0, len(x)]), 15.0, 60_000)
    assert trace.tolist() == [0, 0]
    assert list(zip(begin.tolist(), end.tolist(), strict=True)) == [(0, 4), (7, 11)]


def test_reference_example_on_the_sphere() -> None:
    x, y, t = _example()
    lat, lng = from_local(x, y, 45.0, 4.0)
    _, begin, end = dt_stays(lat, lng, t, np.array([0, len(x)]), 15.0, 60_000)
    assert list(zip(begin.tolist(), end.tolist(), strict=True)) == [(0, 4), (7, 11)]


def test_traces_are_independent() -> None:
    x, y, t = _example()
    xs, ys, ts = np.tile(x, 2), np.tile(y, 2), np.tile(t, 2)
    n = len(x)
    trace, begin, end = dt_stays_xy(xs, ys, ts, np.array([0, n, 2 * n]), 15.0, 60_000)
    assert trace.tolist() == [0, 0, 1, 1]
    assert begin.tolist() == [0, 7, n, n + 7]
    assert end.tolist() == [4, 11, n + 4, n + 11]


def test_boundaries_are_inclusive() -> None:
    # Two points exactly `diameter` apart and exactly `duration` apart form a stay.
    x = np.array([0.0, 15.0])
    y = np.zeros(2)
    t = np.array([0, 60_000])
    _, begin, end = dt_stays_xy(x, y, t, np.array([0, 2]), 15.0, 60_000)
    assert (begin.tolist(), end.tolist()) == ([0], [2])
    _, begin, _ = dt_stays_xy(x, y, t, np.array([0, 2]), 14.999, 60_000)
    assert begin.tolist() == []
    _, begin, _ = dt_stays_xy(x, y, t, np.array([0, 2]), 15.0, 60_001)
    assert begin.tolist() == []


def test_empty_and_single_event_traces() -> None:
    empty = np.zeros(0)
    trace, begin, end = dt_stays(empty, empty, np.zeros(0, np.int64), np.array([0]), 100, 1)
    assert len(trace) == len(begin) == len(end) == 0
    trace, _, _ = dt_stays(
        np.array([45.0]), np.array([4.0]), np.array([0]), np.array([0, 0, 1, 1]), 100, 0
    )
    assert len(trace) == 0


def test_random_walk_invariants() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    # A walk that alternates between lingering and moving.
    steps = np.where((np.arange(n) // 200) % 2 == 0, 2.0, 40.0)
    x = np.cumsum(rng.normal(0, 1, n) * steps)
    y = np.cumsum(rng.normal(0, 1, n) * steps)
    lat, lng = from_local(x, y, 40.0, 116.0)
    t = np.cumsum(rng.integers(1_000, 20_000, n)).astype(np.int64)
    offsets = np.array([0, 1000, 1000, n])
    diameter, duration = 120.0, 10 * 60_000
    trace, begin, end = dt_stays(lat, lng, t, offsets, diameter, duration)
    assert len(trace) > 3
    for k, a, b in zip(trace, begin, end, strict=True):
        assert offsets[k] <= a < b <= offsets[k + 1]
        assert b - a >= 2 and t[b - 1] - t[a] >= duration
        d = haversine(lat[a:b, None], lng[a:b, None], lat[None, a:b], lng[None, a:b])
        assert d.max() <= diameter * (1 + 1e-6)
    # Stays are disjoint and in order.
    assert np.all(begin[1:] >= end[:-1])


def test_stays_across_the_antimeridian() -> None:
    lat = np.full(6, 10.0)
    lng = np.array([179.9999, -179.9999, 179.99995, -179.99995, 179.9999, -179.9999])
    t = np.arange(6, dtype=np.int64) * 60_000
    _, begin, end = dt_stays(lat, lng, t, np.array([0, 6]), 50.0, 60_000)
    assert (begin.tolist(), end.tolist()) == ([0], [6])
    stays = stay_centroids(lat, lng, t, [0], begin, end)
    assert abs(abs(stays.lng[0]) - 180.0) < 1e-4
    assert stays.size.tolist() == [6]
    assert (stays.start.tolist(), stays.end.tolist()) == ([0], [300_000])


def test_dj_cluster_density_joinable() -> None:
    # Local metres: a chain of points 8 m apart is one cluster with eps 10 m and MinPts 3, a
    # pair far away is noise, a dense group is a second cluster.
    x = np.array([0, 8, 16, 24, 32, 1000, 1005, 2000, 2001, 2002, 2003], dtype=float)
    y = np.zeros_like(x)
    lat, lng = from_local(x, y, 45.0, 4.0)
    labels = dj_cluster(lat, lng, np.array([0, len(x)]), 10.0, 3)
    assert labels.tolist() == [0, 0, 0, 0, 0, -1, -1, 1, 1, 1, 1]
    # Groups never mix, and labels restart per group.
    labels = dj_cluster(lat, lng, np.array([0, 5, len(x)]), 10.0, 3)
    assert labels.tolist() == [0, 0, 0, 0, 0, -1, -1, 0, 0, 0, 0]


def _visits(places: list[tuple[float, float]], order: list[int], minutes: int) -> tuple:
    """A trace that stays `minutes` at each visited place, one event a minute, 2 m noise."""
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for p in order:
        xs.append(places[p][0] + rng.normal(0, 2.0, minutes))
        ys.append(places[p][1] + rng.normal(0, 2.0, minutes))
    x, y = np.concatenate(xs), np.concatenate(ys)
    lat, lng = from_local(x, y, 45.0, 4.0)
    # Travel between places takes 30 minutes without events.
    t = np.concatenate(
        [(np.arange(minutes) + k * (minutes + 30)) * 60_000 for k in range(len(order))]
    ).astype(np.int64)
    return lat, lng, t


def test_repeated_pois_keep_places_visited_often() -> None:
    places = [(0.0, 0.0), (3000.0, 0.0), (0.0, 5000.0)]
    lat, lng, t = _visits(places, [0, 1, 0, 1, 0, 2], minutes=40)
    offsets = np.array([0, len(lat)])
    pois = repeated_pois(lat, lng, t, offsets, 100.0, 15 * 60_000, 2)
    assert pois.trace.tolist() == [0, 0]
    assert sorted(pois.size.tolist()) == [80, 120]
    home = int(np.argmax(pois.size))
    x0, y0 = from_local(0.0, 0.0, 45.0, 4.0)
    assert haversine(pois.lat[home], pois.lng[home], x0, y0) < 2.0
    assert pois.start[home] == t[0] and pois.end[home] == t[-41]
    assert np.all(np.diff(pois.start) > 0)
    # With MinPts 1 every place is kept, with MinPts 4 none.
    assert len(repeated_pois(lat, lng, t, offsets, 100.0, 15 * 60_000, 1).trace) == 3
    assert len(repeated_pois(lat, lng, t, offsets, 100.0, 15 * 60_000, 4).trace) == 0


def _dt_reference(x: np.ndarray, y: np.ndarray, t: np.ndarray, diameter: float, duration: int):  # type: ignore[no-untyped-def]
    """The clusterer exactly as worded in locapriv.md §2.4b, in plain Python (planar metres)."""
    out = []
    window: list[int] = []

    def valid(w: list[int]) -> bool:
        return len(w) > 1 and t[w[-1]] - t[w[0]] >= duration

    for e in range(len(x)):
        while True:
            if all(np.hypot(x[i] - x[e], y[i] - y[e]) <= diameter for i in window):
                window.append(e)
                break
            if valid(window):
                out.append((window[0], window[-1] + 1))
                window = [e]
                break
            window.pop(0)
    if valid(window):
        out.append((window[0], window[-1] + 1))
    return out


def test_matches_the_literal_algorithm_on_random_walks() -> None:
    rng = np.random.default_rng(2)
    for trial in range(30):
        n = int(rng.integers(1, 400))
        scale = np.where(rng.random(n) < 0.8, 3.0, 60.0)  # mostly lingering, sometimes jumping
        x = np.cumsum(rng.normal(0, 1, n) * scale)
        y = np.cumsum(rng.normal(0, 1, n) * scale)
        t = np.cumsum(rng.integers(0, 30_000, n)).astype(np.int64)
        diameter = float(rng.choice([20.0, 50.0, 150.0]))
        duration = int(rng.choice([0, 60_000, 600_000]))
        _, begin, end = dt_stays_xy(x, y, t, np.array([0, n]), diameter, duration)
        got = list(zip(begin.tolist(), end.tolist(), strict=True))
        assert got == _dt_reference(x, y, t, diameter, duration), trial
