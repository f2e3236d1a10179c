"""The synthetic generator: determinism, layout and agreement with its ground truth."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from accio.values.types import Location
from accio_locapriv.arrow import to_arrays
from accio_locapriv.kernels.geo import haversine
from accio_locapriv.schema import TRACE_SCHEMA, is_sorted
from accio_locapriv.synthetic import DAY_MS, DEFAULT_START_MS, generate_traces, user_ids

LYON = (45.76, 4.84)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = generate_traces(4, 2, 60_000, 10.0, LYON, seed=1)
    b = generate_traces(4, 2, 60_000, 10.0, LYON, seed=1)
    c = generate_traces(4, 2, 60_000, 10.0, LYON, seed=2)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert not a[0].equals(c[0])


def test_a_user_does_not_depend_on_the_population_size() -> None:
    small, small_stays = generate_traces(2, 3, 120_000, 10.0, LYON, seed=9)
    large, large_stays = generate_traces(5, 3, 120_000, 10.0, LYON, seed=9)
    keep = pc.is_in(large.column("id"), pa.array(["000", "001"]))
    assert large.filter(keep).equals(small)
    assert large_stays.filter(pc.is_in(large_stays.column("id"), pa.array(["000", "001"]))).equals(
        small_stays
    )


def test_layout() -> None:
    events, stays = generate_traces(3, 2, 30_000, 5.0, Location(48.85, 2.35), seed=3)
    assert events.schema == TRACE_SCHEMA and is_sorted(events)
    assert events.num_rows == 3 * 2 * DAY_MS // 30_000
    times = events.column("time").cast(pa.int64()).to_numpy()
    assert times.min() >= DEFAULT_START_MS and times.max() < DEFAULT_START_MS + 2 * DAY_MS
    assert stays.column_names == ["id", "lat", "lng", "start", "end", "poi"]
    assert user_ids(3) == ["000", "001", "002"] and user_ids(1500)[-1] == "1499"
    centre_dist = haversine(
        48.85, 2.35, events.column("lat").to_numpy(), events.column("lng").to_numpy()
    )
    assert np.median(centre_dist) < 15_000


def test_events_agree_with_the_ground_truth() -> None:
    events, stays = generate_traces(4, 7, 60_000, 10.0, LYON, seed=11)
    arrays = to_arrays(events)
    for k, uid in enumerate(arrays.ids):
        lat, lng, t = arrays.trace(k)
        mine = stays.filter(pc.equal(stays.column("id"), uid))
        start = mine.column("start").cast(pa.int64()).to_numpy()
        end = mine.column("end").cast(pa.int64()).to_numpy()
        assert np.all(start < end) and np.all(end[:-1] <= start[1:])  # ordered, disjoint
        assert start[0] == DEFAULT_START_MS and end[-1] == DEFAULT_START_MS + 7 * DAY_MS
        assert set(mine.column("poi").to_pylist()) >= {"home", "work"}
        for s_lat, s_lng, a, b in zip(
            mine.column("lat").to_numpy(), mine.column("lng").to_numpy(), start, end, strict=True
        ):
            inside = (t >= a) & (t < b)
            d = haversine(s_lat, s_lng, lat[inside], lng[inside])
            assert np.all(d < 60.0)  # 10 m per axis: beyond 60 m is a > 6-sigma event
        # Stays are long enough for stay-point detection at 15 min.
        assert np.all(end[1:-1] - start[1:-1] >= 30 * 60_000)


def test_without_jitter_stay_events_sit_on_the_place() -> None:
    events, stays = generate_traces(1, 1, 60_000, 0.0, LYON, seed=4)
    first = stays.slice(0, 1)
    inside = pc.less(events.column("time"), first.column("end")[0])
    lat = events.filter(inside).column("lat").to_numpy()
    np.testing.assert_allclose(lat, first.column("lat")[0].as_py(), atol=1e-12)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="interval"):
        generate_traces(1, 1, 0, 10.0, LYON, seed=1)
    with pytest.raises(ValueError, match="jitter"):
        generate_traces(1, 1, 1000, -1.0, LYON, seed=1)
    events, stays = generate_traces(0, 1, 1000, 1.0, LYON, seed=1)
    assert events.num_rows == 0 and stays.num_rows == 0
