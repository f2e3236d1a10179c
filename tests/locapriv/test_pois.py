"""POI extraction: the operator, the POI table, and recall against ground-truth stays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from accio.values.types import Distance, Duration
from accio_locapriv.arrow import from_columns
from accio_locapriv.kernels.geo import from_local, haversine
from accio_locapriv.pois import POI_SCHEMA, PoiArrays, PoisExtraction, validate_pois
from accio_locapriv.schema import TraceSchemaError

MIN = 60_000


def _recall(pois: pa.Table, stays: pa.Table, min_ms: int, radius_m: float) -> float:
    """Share of ground-truth stays of at least ``min_ms`` met by a POI near it in space and time."""
    p = PoiArrays(pois)
    found = total = 0
    for row in stays.to_pylist():
        start = int(row["start"].timestamp() * 1000)
        end = int(row["end"].timestamp() * 1000)
        if end - start < min_ms:
            continue
        total += 1
        r = p.rows(row["id"])
        near = haversine(row["lat"], row["lng"], p.lat[r], p.lng[r]) <= radius_m
        overlap = (p.start[r] < end) & (p.end[r] >= start)
        found += bool(np.any(near & overlap))
    assert total > 0
    return found / total


def test_recall_on_synthetic_traces(run_op, synthetic) -> None:  # type: ignore[no-untyped-def]
    events, stays = synthetic
    out = run_op(
        PoisExtraction,
        {"diameter": Distance(200.0), "duration": Duration(15 * MIN), "data": events},
    )["data"]
    assert out.schema == POI_SCHEMA
    assert _recall(out, stays, 20 * MIN, 100.0) >= 0.95
    # Every POI is a real stay: compact, long enough, in time order per id.
    p = PoiArrays(out)
    assert np.all(p.end - p.start >= 15 * MIN)
    assert np.all(p.size >= 2)
    for k in range(len(p.ids)):
        s = slice(p.offsets[k], p.offsets[k + 1])
        assert np.all(np.diff(p.start[s]) > 0)


def test_repeated_pois_on_synthetic_traces(run_op, synthetic) -> None:  # type: ignore[no-untyped-def]
    events, stays = synthetic
    inputs = {"diameter": Distance(200.0), "duration": Duration(15 * MIN), "data": events}
    single = run_op(PoisExtraction, inputs)["data"]
    repeated = run_op(PoisExtraction, {**inputs, "minPoints": 2})["data"]
    assert 0 < repeated.num_rows < single.num_rows
    # Home is visited every day: each user keeps a POI near it.
    home = [r for r in stays.to_pylist() if r["poi"] == "home"]
    p = PoiArrays(repeated)
    for user in {r["id"] for r in home}:
        h = next(r for r in home if r["id"] == user)
        r = p.rows(user)
        assert haversine(h["lat"], h["lng"], p.lat[r], p.lng[r]).min() < 100.0


def test_two_stays_example_through_the_operator(run_op) -> None:  # type: ignore[no-untyped-def]
    x = [1000, 1000, 1010, 1010, 1000, 1000, 1020, 1000, 1000, 1010, 1010, 1020, 1020]
    y = [0, 10, 10, 10, 20, 10, 0, 0, 10, 10, 10, 20, 20]
    t = [600, 620, 620, 660, 670, 680, 740, 750, 770, 780, 820, 830, 880]
    lat, lng = from_local(np.array(x, float), np.array(y, float), 45.0, 4.0)
    table = from_columns(["u"] * len(x), lat, lng, np.array(t) * 1000)
    out = run_op(
        PoisExtraction, {"diameter": Distance(15.0), "duration": Duration(MIN), "data": table}
    )
    rows = out["data"].to_pylist()
    assert [r["size"] for r in rows] == [4, 4]
    assert [int(r["start"].timestamp()) for r in rows] == [600, 750]
    assert [int(r["end"].timestamp()) for r in rows] == [660, 820]
    assert rows[0]["lat"] == pytest.approx(np.mean(lat[:4]))


def test_empty_dataset(run_op) -> None:  # type: ignore[no-untyped-def]
    empty = from_columns([], [], [], [])
    out = run_op(
        PoisExtraction, {"diameter": Distance(100.0), "duration": Duration(MIN), "data": empty}
    )
    assert out["data"].num_rows == 0
    assert out["data"].schema == POI_SCHEMA


def test_validate_pois_casts_and_sorts() -> None:
    table = pa.table(
        {
            "id": ["b", "a", "a"],
            "lat": [1.0, 2.0, 3.0],
            "lng": [1.0, 2.0, 3.0],
            "start": [5, 9, 1],
            "end": [6, 10, 2],
            "size": pa.array([2, 3, 4], type=pa.int32()),
        }
    )
    out = validate_pois(table)
    assert out.schema == POI_SCHEMA
    assert out.column("id").to_pylist() == ["a", "a", "b"]
    assert out.column("size").to_pylist() == [4, 3, 2]
    with pytest.raises(TraceSchemaError, match="missing column"):
        validate_pois(table.drop_columns(["size", "end"]))
