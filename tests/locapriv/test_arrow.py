"""The trace table schema and the Arrow <-> numpy boundary."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from accio_locapriv.arrow import (
    TraceArrays,
    concat_ranges,
    empty_traces,
    from_arrays,
    from_columns,
    take_rows,
    to_arrays,
    trace_index,
)
from accio_locapriv.schema import TRACE_SCHEMA, TraceSchemaError, is_sorted, validate_traces


def _table(**columns: object) -> pa.Table:
    base: dict[str, object] = {
        "id": ["b", "a", "a"],
        "lat": [1.0, 2.0, 3.0],
        "lng": [4.0, 5.0, 6.0],
        "time": pa.array([3, 2, 1]).cast(pa.timestamp("ms", tz="UTC")),
    }
    base.update(columns)
    return pa.table({k: v for k, v in base.items() if v is not None})


def test_validate_sorts_and_keeps_extra_columns() -> None:
    table = _table(speed=[7.0, 8.0, 9.0])
    out = validate_traces(table)
    assert out.schema.names == ["id", "lat", "lng", "time", "speed"]
    assert out.column("id").to_pylist() == ["a", "a", "b"]
    assert out.column("time").cast(pa.int64()).to_pylist() == [1, 2, 3]
    assert out.column("speed").to_pylist() == [9.0, 8.0, 7.0]
    assert is_sorted(out) and not is_sorted(validate_traces(table).take([2, 0, 1]))


def test_validate_casts_compatible_types() -> None:
    table = pa.table(
        {
            "time": pa.array([10, 20], pa.int64()),
            "id": pa.array([7, 7], pa.int32()),
            "lat": pa.array([1.5, 2.5], pa.float32()),
            "lng": pa.array([3, 4], pa.int16()),
        }
    )
    out = validate_traces(table)
    assert out.schema == TRACE_SCHEMA
    assert out.column("id").to_pylist() == ["7", "7"]
    naive = pa.array([1_000_000, 2_000_000], pa.int64()).cast(pa.timestamp("us"))
    out = validate_traces(_table(id=["a", "a"], lat=[1.0, 1.0], lng=[1.0, 1.0], time=naive))
    assert out.column("time").cast(pa.int64()).to_pylist() == [1000, 2000]


def test_validate_names_every_problem() -> None:
    with pytest.raises(TraceSchemaError, match="missing columns lat, time"):
        validate_traces(pa.table({"id": ["a"], "lng": [1.0]}))
    with pytest.raises(TraceSchemaError, match="column lat has type string"):
        validate_traces(_table(lat=["x", "y", "z"]))
    with pytest.raises(TraceSchemaError, match="null"):
        validate_traces(_table(lng=[1.0, None, 2.0]))
    with pytest.raises(TraceSchemaError, match="outside"):
        validate_traces(_table(lat=[1.0, 95.0, float("nan")]))
    with pytest.raises(TraceSchemaError, match=r"pyarrow\.Table"):
        validate_traces({"id": []})  # type: ignore[arg-type]


def test_to_arrays_and_back() -> None:
    table = from_columns(["b", "a", "a", "c"], [1, 2, 3, 4], [5, 6, 7, 8], [9, 8, 7, 6])
    arrays = to_arrays(table)
    assert list(arrays.ids) == ["a", "b", "c"]
    np.testing.assert_array_equal(arrays.offsets, [0, 2, 3, 4])
    np.testing.assert_array_equal(arrays.time, [7, 8, 9, 6])
    np.testing.assert_array_equal(arrays.lengths, [2, 1, 1])
    assert arrays.event_ids().tolist() == ["a", "a", "b", "c"]
    assert from_arrays(arrays).equals(table)
    np.testing.assert_array_equal(trace_index(arrays.offsets), [0, 0, 1, 2])


def test_from_arrays_orders_traces_by_id() -> None:
    arrays = TraceArrays(
        ids=np.array(["u-2", "u-10", "x"], dtype=object),
        offsets=np.array([0, 1, 1, 3]),
        lat=np.array([1.0, 2.0, 3.0]),
        lng=np.zeros(3),
        time=np.array([5, 1, 2]),
    )
    out = from_arrays(arrays)
    assert out.column("id").to_pylist() == ["u-2", "x", "x"]  # the empty trace is gone
    assert is_sorted(out)


def test_take_rows_renames_and_reorders() -> None:
    table = validate_traces(_table(speed=[1.0, 2.0, 3.0]))  # a@1, a@2, b@3
    ids = np.array(["a-2", "a-10", "b-0"], dtype=object)
    out = take_rows(table, np.array([0, 1, 2]), ids, np.array([0, 1, 2, 3]))
    assert out.column("id").to_pylist() == ["a-10", "a-2", "b-0"]
    assert out.column("speed").to_pylist() == [2.0, 3.0, 1.0]
    out = take_rows(table, None, lat=np.array([9.0, 9.0, 9.0]))
    assert out.column("lat").to_pylist() == [9.0, 9.0, 9.0]
    with pytest.raises(ValueError, match="offsets"):
        take_rows(table, None, ids)


def test_empty_tables() -> None:
    empty = empty_traces()
    assert empty.schema == TRACE_SCHEMA and empty.num_rows == 0
    arrays = to_arrays(empty)
    assert arrays.n_traces == 0 and arrays.n_events == 0
    assert from_arrays(arrays).equals(empty)


def test_concat_ranges() -> None:
    np.testing.assert_array_equal(
        concat_ranges(np.array([5, 0, 9]), np.array([2, 0, 3])), [5, 6, 9, 10, 11]
    )
    assert len(concat_ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64))) == 0
