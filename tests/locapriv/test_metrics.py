"""Metric operators: edge cases, reference values and sanity on unprotected data."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from accio.ops.api import spec_of
from accio.values.types import Distance, Duration, Location
from accio_locapriv.arrow import from_columns, to_arrays
from accio_locapriv.kernels.geo import from_local
from accio_locapriv.metrics import (
    HEATMAP_DISTANCES,
    OPERATORS,
    AreaCoverage,
    CountQueriesDistortion,
    DataCompleteness,
    HeatMapDistortion,
    MmcReident,
    PoisReident,
    PoisRetrieval,
    SpatialDistortion,
    SpatioTemporalDistortion,
    TransmissionDelay,
    fscores,
    heatmap_distance,
    trace_stats,
)
from accio_locapriv.pois import extract_pois

MIN = 60_000


def _table(rows: list[tuple[str, float, float, int]]) -> pa.Table:
    """Trace table from (id, x metres east, y metres north, time ms) around Lyon."""
    if not rows:
        return from_columns([], [], [], [])
    ids, x, y, t = zip(*rows, strict=True)
    lat, lng = from_local(np.array(x, float), np.array(y, float), 45.76, 4.84)
    return from_columns(list(ids), lat, lng, np.array(t, dtype=np.int64))


def _shift(table: pa.Table, east_m: float) -> pa.Table:
    a = to_arrays(table)
    x, y = np.zeros(a.n_events) + east_m, np.zeros(a.n_events)
    lat, lng = from_local(x, y, a.lat, a.lng)
    return from_columns(list(a.event_ids()), lat, lng, a.time)


def test_every_metric_declares_its_ports() -> None:
    names = {spec_of(op).name for op in OPERATORS}
    assert names == {
        "ApAttack",
        "AreaCoverage",
        "CountQueriesDistortion",
        "DataCompleteness",
        "HeatMapDistortion",
        "MmcReident",
        "PoisReident",
        "PoisRetrieval",
        "SpatialDistortion",
        "SpatioTemporalDistortion",
        "TransmissionDelay",
        "Uniqueness",
    }
    assert spec_of(MmcReident).input("duration").default == Duration(3_600_000)
    assert spec_of(CountQueriesDistortion).unstable


# -- F-scores and area coverage ----------------------------------------------------------------


def test_fscore_edge_cases() -> None:
    p, r, f = fscores([0, 0, 0, 2], [0, 3, 0, 3], [0, 0, 2, 4])
    assert p.tolist() == [1.0, 1.0, 0.0, 0.5]  # empty result: precision 1
    assert r.tolist() == [0.0, 0.0, 0.0, pytest.approx(2 / 3)]  # empty reference: recall 0
    assert f.tolist() == [0.0, 0.0, 0.0, pytest.approx(4 / 7)]


def test_area_coverage_reference_example(run_op) -> None:  # type: ignore[no-untyped-def]
    # Cells 2 km apart are distinct at level 15 (about 280 m). Train visits A, B, C; test visits
    # A, B, D, E: P = 2/4, R = 2/3, F = 4/7.
    a, b, c, d, e = (0, 0), (2000, 0), (4000, 0), (0, 2000), (0, 4000)
    train = _table([("u", *p, i * MIN) for i, p in enumerate([a, b, c])])
    test = _table([("u", *p, i * MIN) for i, p in enumerate([a, b, d, e, a])])
    out = run_op(AreaCoverage, {"level": 15, "train": train, "test": test})
    assert out["precision"] == {"u": 0.5}
    assert out["recall"]["u"] == pytest.approx(2 / 3)
    assert out["fscore"]["u"] == pytest.approx(4 / 7)
    assert out["meanFscore"] == pytest.approx(4 / 7)


def test_area_coverage_missing_traces_and_time_buckets(run_op) -> None:  # type: ignore[no-untyped-def]
    train = _table([("u", 0, 0, 0), ("v", 0, 0, 0)])
    test = _table([("u", 0, 0, 3 * 3_600_000), ("w", 0, 0, 0)])
    out = run_op(AreaCoverage, {"level": 15, "train": train, "test": test})
    assert out["fscore"] == {"u": 1.0, "v": 0.0, "w": 0.0}
    assert out["precision"]["v"] == 1.0 and out["recall"]["w"] == 0.0
    hourly = run_op(
        AreaCoverage,
        {"level": 15, "width": Duration(3_600_000), "train": train, "test": test},
    )
    assert hourly["fscore"]["u"] == 0.0  # same cell, different hour


def test_area_coverage_identical_data(run_op, synthetic) -> None:  # type: ignore[no-untyped-def]
    events, _ = synthetic
    out = run_op(AreaCoverage, {"level": 15, "train": events, "test": events})
    assert set(out["fscore"].values()) == {1.0}


# -- Distortions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("interpolate", [True, False])
def test_spatial_distortion_identical_and_shifted(run_op, synthetic, interpolate) -> None:  # type: ignore[no-untyped-def]
    events, _ = synthetic
    out = run_op(SpatialDistortion, {"interpolate": interpolate, "train": events, "test": events})
    assert max(out["max"].values()) < 1e-6
    assert out["meanDistortion"] < 1e-6
    # A straight east-west trace shifted 100 m north is 100 m away everywhere.
    line = _table([("u", 50.0 * i, 0.0, i * MIN) for i in range(41)])
    north = _table([("u", 50.0 * i + 25.0, 100.0, i * MIN) for i in range(40)])
    out = run_op(SpatialDistortion, {"interpolate": interpolate, "train": line, "test": north})
    expected = 100.0 if interpolate else math.hypot(100.0, 25.0)
    for port in ("min", "max", "avg", "median"):
        assert out[port]["u"] == pytest.approx(expected, rel=1e-4)
    assert out["stddev"]["u"] == pytest.approx(0.0, abs=1e-3)
    assert out["meanDistortion"] == pytest.approx(expected, rel=1e-4)


def test_spatial_distortion_missing_sides(run_op) -> None:  # type: ignore[no-untyped-def]
    train = _table([("u", 0, 0, 0), ("v", 0, 0, 0)])
    test = _table([("u", 30, 40, 0), ("w", 0, 0, 0)])
    out = run_op(SpatialDistortion, {"train": train, "test": test})
    assert out["avg"]["u"] == pytest.approx(50.0, rel=1e-4)
    assert out["avg"]["v"] == 0.0  # no test event: zeros
    assert "w" not in out["avg"]  # no train event: left out
    assert out["meanDistortion"] == pytest.approx(50.0, rel=1e-4)


def test_trace_stats() -> None:
    stats = trace_stats(np.array([3.0, 1.0, 2.0, 10.0, 4.0]), np.array([0, 0, 0, 2, 2]), 3)
    assert stats["n"].tolist() == [3, 0, 2]
    assert stats["median"].tolist() == [2.0, 0.0, 7.0]
    assert stats["min"].tolist() == [1.0, 0.0, 4.0]
    assert stats["max"].tolist() == [3.0, 0.0, 10.0]
    assert stats["avg"].tolist() == [2.0, 0.0, 7.0]
    assert stats["stddev"][2] == pytest.approx(3.0)
    shuffled = trace_stats(np.array([10.0, 3.0, 4.0, 1.0, 2.0]), np.array([2, 0, 2, 0, 0]), 3)
    for key in ("n", "min", "max", "avg", "stddev", "median"):
        np.testing.assert_array_equal(shuffled[key], stats[key])


def test_spatiotemporal_distortion(run_op) -> None:  # type: ignore[no-untyped-def]
    # Train moves 1 km east in 10 minutes; test stands still at the start: at minute k the gap
    # is 100·k metres. Test is the shorter trace, so its events are measured.
    train = _table([("u", 100.0 * k, 0.0, k * MIN) for k in range(11)])
    test = _table([("u", 0.0, 0.0, k * MIN) for k in (0, 5, 10)])
    out = run_op(SpatioTemporalDistortion, {"train": train, "test": test})
    assert out["avg"]["u"] == pytest.approx(500.0, rel=1e-4)
    assert out["max"]["u"] == pytest.approx(1000.0, rel=1e-4)
    # Swapping sides measures the events of the (now shorter) train side: same values.
    swapped = run_op(SpatioTemporalDistortion, {"train": test, "test": train})
    assert swapped["avg"]["u"] == pytest.approx(500.0, rel=1e-4)
    same = run_op(SpatioTemporalDistortion, {"train": train, "test": train})
    assert same["max"]["u"] < 1e-6


def test_data_completeness_edge_cases(run_op) -> None:  # type: ignore[no-untyped-def]
    train = _table([("a", 0, 0, t) for t in range(4)] + [("b", 0, 0, 0)])
    test = _table([("a", 0, 0, t) for t in range(6)] + [("c", 0, 0, 0)])
    out = run_op(DataCompleteness, {"train": train, "test": test})
    assert out["value"] == {"a": 1.5, "b": 0.0}  # can exceed 1; empty test gives 0
    assert out["meanCompleteness"] == pytest.approx(0.75)
    empty = _table([])
    out = run_op(DataCompleteness, {"train": empty, "test": empty})
    assert out == {"value": {}, "meanCompleteness": 0.0}


def test_transmission_delay(run_op) -> None:  # type: ignore[no-untyped-def]
    train = _table([("a", 0, 0, 1000), ("a", 0, 0, 5000), ("b", 0, 0, 0)])
    test = _table([("a", 0, 0, 7500)])
    out = run_op(TransmissionDelay, {"train": train, "test": test})
    assert out["value"] == {"a": 2500}
    assert out["meanDelay"] == 2500.0


# -- POI metrics ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_pois(synthetic) -> pa.Table:  # type: ignore[no-untyped-def]
    events, _ = synthetic
    return extract_pois(to_arrays(events), 200.0, 15 * MIN)


def test_poi_retrieval_on_unprotected_data(run_op, synthetic_pois) -> None:  # type: ignore[no-untyped-def]
    pois = synthetic_pois
    out = run_op(PoisRetrieval, {"threshold": Distance(100.0), "train": pois, "test": pois})
    assert set(out["fscore"].values()) == {1.0}
    assert out["meanFscore"] == 1.0
    with_overlap = run_op(
        PoisRetrieval,
        {"threshold": Distance(100.0), "overlap": Duration(MIN), "train": pois, "test": pois},
    )
    assert set(with_overlap["fscore"].values()) == {1.0}


def test_poi_retrieval_counts_distinct_reference_pois(run_op) -> None:  # type: ignore[no-untyped-def]
    def pois(rows: list[tuple[str, float, float, int, int]]) -> pa.Table:
        ids, x, y, s, e = zip(*rows, strict=True)
        lat, lng = from_local(np.array(x, float), np.array(y, float), 45.76, 4.84)
        ts = pa.timestamp("ms", tz="UTC")
        return pa.table(
            {
                "id": list(ids),
                "lat": lat,
                "lng": lng,
                "start": pa.array(s, pa.int64()).cast(ts),
                "end": pa.array(e, pa.int64()).cast(ts),
                "size": pa.array([5] * len(rows), pa.int64()),
            }
        )

    train = pois([("u", 0, 0, 0, 100), ("u", 1000, 0, 200, 300), ("v", 0, 0, 0, 10)])
    # Two test POIs near the first train POI, one 150 m from the second; w has no train POIs.
    test = pois(
        [("u", 10, 0, 0, 50), ("u", 0, 20, 60, 90), ("u", 1150, 0, 200, 300), ("w", 0, 0, 0, 1)]
    )
    out = run_op(PoisRetrieval, {"threshold": Distance(100.0), "train": train, "test": test})
    assert out["precision"]["u"] == pytest.approx(1 / 3)
    assert out["recall"]["u"] == pytest.approx(1 / 2)
    assert out["fscore"]["v"] == 0.0 and out["precision"]["v"] == 1.0
    assert out["recall"]["w"] == 0.0 and out["precision"]["w"] == 0.0
    far = run_op(PoisRetrieval, {"threshold": Distance(200.0), "train": train, "test": test})
    assert far["recall"]["u"] == 1.0
    # The overlap requirement rejects the second test POI for the first train POI only if its
    # overlap (30 ms) is too short; the first one (50 ms) still matches.
    strict = run_op(
        PoisRetrieval,
        {"threshold": Distance(100.0), "overlap": Duration(40), "train": train, "test": test},
    )
    assert strict["recall"]["u"] == pytest.approx(1 / 2)


def test_poi_reidentification_on_unprotected_data(run_op, synthetic_pois) -> None:  # type: ignore[no-untyped-def]
    out = run_op(PoisReident, {"train": synthetic_pois, "test": synthetic_pois})
    assert out["rate"] == 1.0
    assert all(k == v for k, v in out["matches"].items())
    assert len(out["matches"]) == 6


def test_mmc_reidentification_on_unprotected_data(run_op, synthetic) -> None:  # type: ignore[no-untyped-def]
    events, _ = synthetic
    out = run_op(
        MmcReident,
        {
            "train": events,
            "test": events,
            "minPts": 2,
            "diameter": Distance(200.0),
            "duration": Duration(15 * MIN),
        },
    )
    assert out["rate"] == 1.0
    assert all(k == v for k, v in out["matches"].items())


# -- Heat maps -----------------------------------------------------------------------------------


def test_topsoe_reference_values() -> None:
    p = np.array([0.5, 0.5])
    assert heatmap_distance(p, p, "topsoe") == 0.0
    assert heatmap_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0]), "topsoe") == (
        pytest.approx(2 * math.log(2))
    )
    assert heatmap_distance(p, np.array([1.0, 0.0]), "topsoe") == pytest.approx(0.431523, abs=1e-6)
    assert heatmap_distance(p, np.array([1.0, 0.0]), "jensendiv") == pytest.approx(
        0.431523 / 2, abs=1e-6
    )


@pytest.mark.parametrize("kind", sorted([*HEATMAP_DISTANCES, "det"]))
def test_every_distance_is_zero_or_minimal_on_equal_maps(kind: str) -> None:
    p = np.array([0.2, 0.3, 0.5])
    q = np.array([0.5, 0.3, 0.2])
    same = heatmap_distance(p, p, kind, "u")
    other = heatmap_distance(p, q, kind, "u")
    if kind == "nonzerocellsratio":
        assert same == other == 0.5  # 1 - shared / (|P| + |Q|): only the supports matter
    elif kind == "innerp":
        assert same == pytest.approx(1 - 0.38) and other > same  # 1 - Σpq is not 0 for p = q
    else:
        assert same == pytest.approx(0.0, abs=1e-12)
        assert other > 0
    assert heatmap_distance(p, q, kind, "u") == other  # deterministic, det included


def test_heatmap_distortion_operator(run_op, synthetic) -> None:  # type: ignore[no-untyped-def]
    events, _ = synthetic
    out = run_op(HeatMapDistortion, {"train": events, "test": events, "cellSize": Distance(800.0)})
    assert len(out["distortions"]) == 6
    assert max(out["distortions"].values()) == pytest.approx(0.0, abs=1e-12)
    moved = _shift(events, 2000.0)
    out = run_op(HeatMapDistortion, {"train": events, "test": moved, "cellSize": Distance(800.0)})
    assert min(out["distortions"].values()) > 0.1
    assert out["avgDist"] == pytest.approx(np.mean(list(out["distortions"].values())))
    # A user on one side only is left out, and so are events outside the box.
    solo = _table([("zz", 0, 0, 0)])
    out = run_op(
        HeatMapDistortion,
        {
            "train": pa.concat_tables([events, solo]),
            "test": events,
            "cellSize": Distance(800.0),
            "distanceType": "kl",
            "lower": Location(0.0, 0.0),
            "upper": Location(10.0, 10.0),
        },
    )
    assert out == {"distortions": {}, "avgDist": 0.0}


# -- Count queries -------------------------------------------------------------------------------


def test_count_queries(run_op, synthetic) -> None:  # type: ignore[no-untyped-def]
    events, _ = synthetic
    same = run_op(CountQueriesDistortion, {"n": 200, "train": events, "test": events}, seed=3)
    assert len(same["value"]) == 200
    assert set(same["value"]) == {0.0}
    assert same["meanDistortion"] == 0.0
    # Moving everybody 5 km away empties (almost) every query box: errors near 1.
    far = run_op(
        CountQueriesDistortion, {"n": 200, "train": events, "test": _shift(events, 5000.0)}, seed=3
    )
    assert far["meanDistortion"] > 0.9
    again = run_op(
        CountQueriesDistortion, {"n": 200, "train": events, "test": _shift(events, 5000.0)}, seed=3
    )
    assert again == far
