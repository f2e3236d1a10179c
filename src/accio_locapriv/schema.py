"""The canonical trace table and its validation (decisions.md §12).

A trace table has one row per event and at least these columns:

========  ========================  =================================================
column    Arrow type                meaning
========  ========================  =================================================
``id``    ``string``                trace id; the user is the part before the first ``-``
``lat``   ``float64``               latitude, degrees (WGS84), in [-90, 90]
``lng``   ``float64``               longitude, degrees (WGS84), in [-180, 180]
``time``  ``timestamp[ms, UTC]``    event time
========  ========================  =================================================

Rows are sorted by (``id``, ``time``). Other columns may follow and are carried through by the
operators where that makes sense.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accio.errors import RuntimeFailure

__all__ = [
    "TRACE_COLUMNS",
    "TRACE_SCHEMA",
    "OperatorInputError",
    "TraceSchemaError",
    "is_sorted",
    "validate_traces",
]

#: Arrow schema of the canonical columns, in order.
TRACE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("lat", pa.float64()),
        pa.field("lng", pa.float64()),
        pa.field("time", pa.timestamp("ms", tz="UTC")),
    ]
)

#: Names of the canonical columns.
TRACE_COLUMNS: tuple[str, ...] = tuple(TRACE_SCHEMA.names)


class TraceSchemaError(RuntimeFailure):
    """A table is not a valid trace table: missing columns, wrong types, nulls or bad values."""


class OperatorInputError(RuntimeFailure):
    """An operator input is unusable in a way port constraints cannot express (begin > end)."""


def _cast_id(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_string(t):
        return col
    if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_integer(t):
        return col.cast(pa.string())
    return None


def _cast_coordinate(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    t = col.type
    if pa.types.is_float64(t):
        return col
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        return col.cast(pa.float64())
    return None


def _cast_time(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    t = col.type
    target = TRACE_SCHEMA.field("time").type
    if t == target:
        return col
    if pa.types.is_timestamp(t):
        # Values are instants; a naive timestamp is read as UTC. Sub-ms precision is truncated.
        as_ms = col.cast(pa.timestamp("ms", tz=t.tz), safe=False)
        return as_ms.cast(pa.int64()).cast(target)
    if pa.types.is_integer(t):
        # Integers are epoch milliseconds, as in the original CSV format.
        return col.cast(pa.int64()).cast(target)
    return None


_CASTS = {"id": _cast_id, "lat": _cast_coordinate, "lng": _cast_coordinate, "time": _cast_time}


def is_sorted(table: pa.Table) -> bool:
    """Whether a table with canonical column types is sorted by (``id``, ``time``)."""
    n = table.num_rows
    if n < 2:
        return True
    ids = table.column("id")
    same = np.asarray(pc.equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False), dtype=bool)
    starts = np.concatenate(([0], np.flatnonzero(~same) + 1))
    if len(starts) > 1:
        run_ids = np.array(ids.take(pa.array(starts)).to_pylist(), dtype=object)
        if not np.all(run_ids[:-1] < run_ids[1:]):
            return False
    time = table.column("time").cast(pa.int64()).to_numpy()
    return not bool(np.any(same & (time[1:] < time[:-1])))


def validate_traces(table: pa.Table) -> pa.Table:
    """Check a trace table, cast compatible types and sort it if needed.

    Parameters
    ----------
    table : pyarrow.Table
        Must hold ``id``, ``lat``, ``lng`` and ``time``. Accepted types: ``id`` string, large
        string, dictionary of strings or integer; ``lat``/``lng`` any integer, float or decimal;
        ``time`` any timestamp (naive means UTC) or an integer in epoch milliseconds.

    Returns
    -------
    pyarrow.Table
        The canonical columns first (:data:`TRACE_SCHEMA`), then the extra columns unchanged,
        sorted by (``id``, ``time``) with a stable sort.

    Raises
    ------
    TraceSchemaError
        Naming every missing column, every column of an unusable type, columns with nulls and
        coordinates that are not finite or out of range.
    """
    if not isinstance(table, pa.Table):
        raise TraceSchemaError(f"expected a pyarrow.Table of traces, got {type(table).__name__}")
    problems: list[str] = []
    missing = [c for c in TRACE_COLUMNS if c not in table.column_names]
    if missing:
        problems.append(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            f" (have: {', '.join(table.column_names) or 'none'})"
        )
    columns: dict[str, pa.ChunkedArray] = {}
    for name in TRACE_COLUMNS:
        if name in missing:
            continue
        if len(table.schema.get_all_field_indices(name)) > 1:
            problems.append(f"column {name} appears more than once")
            continue
        col = table.column(name)
        cast = _CASTS[name](col)
        expected = TRACE_SCHEMA.field(name).type
        if cast is None:
            problems.append(f"column {name} has type {col.type}, expected {expected}")
            continue
        if cast.null_count:
            problems.append(f"column {name} has {cast.null_count} null value(s)")
            continue
        columns[name] = cast
    for name, bound in (("lat", 90.0), ("lng", 180.0)):
        if name not in columns or len(columns[name]) == 0:
            continue
        values = columns[name].to_numpy()
        bad = ~(np.abs(values) <= bound)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            problems.append(
                f"column {name} has {int(bad.sum())} value(s) that are not finite or outside "
                f"[-{bound:g}, {bound:g}] (first at row {first}: {values[first]!r})"
            )
    if problems:
        raise TraceSchemaError("invalid trace table: " + "; ".join(problems))
    extras = [c for c in table.column_names if c not in _CASTS]
    out = pa.Table.from_arrays(
        [columns[c] for c in TRACE_COLUMNS] + [table.column(c) for c in extras],
        schema=pa.schema([*TRACE_SCHEMA, *(table.schema.field(c) for c in extras)]),
    )
    if not is_sorted(out):
        out = out.sort_by([("id", "ascending"), ("time", "ascending")])
    return out
