"""The boundary between Arrow trace tables and the numpy arrays the kernels work on.

Every operator converts its input table once with :func:`to_arrays`, runs kernels on contiguous
arrays plus per-trace ``offsets`` (trace ``k`` owns rows ``offsets[k]:offsets[k + 1]``), and turns
the result back into a canonical table with :func:`from_arrays` or :func:`take_rows` (the latter
keeps any extra columns of the input).

The canonical table (decisions.md §12) has columns ``id`` (string), ``lat``/``lng`` (float64,
degrees) and ``time`` (timestamp[ms, UTC]), sorted by (``id``, ``time``); see
:mod:`accio_locapriv.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accio_locapriv.schema import TRACE_SCHEMA, validate_traces

__all__ = [
    "TraceArrays",
    "concat_ranges",
    "empty_traces",
    "from_arrays",
    "from_columns",
    "sort_traces_by_id",
    "take_rows",
    "to_arrays",
    "trace_index",
]


@dataclass(frozen=True)
class TraceArrays:
    """A trace table as flat numpy arrays grouped by trace.

    Attributes
    ----------
    ids : numpy.ndarray
        Object array of ``str``: the unique trace ids, in table order.
    offsets : numpy.ndarray
        int64, ``len(ids) + 1`` entries; trace ``k`` is rows ``offsets[k]:offsets[k + 1]``.
    lat, lng : numpy.ndarray
        float64 latitude and longitude in degrees, one entry per event.
    time : numpy.ndarray
        int64 event time in epoch milliseconds (UTC).
    """

    ids: np.ndarray
    offsets: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    time: np.ndarray

    @property
    def n_traces(self) -> int:
        """Number of traces."""
        return len(self.ids)

    @property
    def n_events(self) -> int:
        """Number of events over all traces."""
        return len(self.lat)

    @property
    def lengths(self) -> np.ndarray:
        """Events per trace (int64)."""
        return np.diff(self.offsets)

    def trace(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views ``(lat, lng, time)`` of trace ``k``."""
        a, b = self.offsets[k], self.offsets[k + 1]
        return self.lat[a:b], self.lng[a:b], self.time[a:b]

    def event_ids(self) -> np.ndarray:
        """Object array with the trace id of every event."""
        return np.repeat(self.ids, self.lengths)


def trace_index(offsets: np.ndarray) -> np.ndarray:
    """Trace number of every event (int64), from ``offsets``."""
    lengths = np.diff(offsets)
    return np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for every ``(s, n)``, vectorised (int64)."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    out_starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=out_starts[1:])
    return np.arange(total, dtype=np.int64) + np.repeat(starts - out_starts, lengths)


def _run_offsets(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Offsets of the runs of equal values of a (sorted) id column."""
    n = len(ids)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    changed = pc.not_equal(ids[1:], ids[:-1])
    starts = np.flatnonzero(np.asarray(changed.to_numpy(zero_copy_only=False), dtype=bool)) + 1
    return np.concatenate(([0], starts, [n])).astype(np.int64)


def to_arrays(table: pa.Table, *, validate: bool = True) -> TraceArrays:
    """Convert a trace table into :class:`TraceArrays`.

    Parameters
    ----------
    table : pyarrow.Table
        A trace table; it is validated and, if needed, cast and sorted first (see
        :func:`accio_locapriv.schema.validate_traces`).
    validate : bool, default True
        Skip validation only for tables known to be canonical already.

    Returns
    -------
    TraceArrays
        Views of the table's columns when they are single-chunk (then read-only: kernels must
        return new arrays), copies otherwise.
    """
    if validate:
        table = validate_traces(table)
    offsets = _run_offsets(table.column("id"))
    id_col = table.column("id")
    ids = np.array(id_col.take(pa.array(offsets[:-1])).to_pylist(), dtype=object)
    if len(ids) == 0:
        ids = np.zeros(0, dtype=object)
    lat = np.ascontiguousarray(table.column("lat").to_numpy(), dtype=np.float64)
    lng = np.ascontiguousarray(table.column("lng").to_numpy(), dtype=np.float64)
    time = np.ascontiguousarray(table.column("time").cast(pa.int64()).to_numpy(), dtype=np.int64)
    return TraceArrays(ids=ids, offsets=offsets, lat=lat, lng=lng, time=time)


def _table(ids: pa.Array, lat: np.ndarray, lng: np.ndarray, time_ms: np.ndarray) -> pa.Table:
    time = pa.array(np.asarray(time_ms, dtype=np.int64), type=pa.int64()).cast(
        TRACE_SCHEMA.field("time").type
    )
    return pa.Table.from_arrays(
        [
            ids,
            pa.array(np.asarray(lat, dtype=np.float64), type=pa.float64()),
            pa.array(np.asarray(lng, dtype=np.float64), type=pa.float64()),
            time,
        ],
        schema=TRACE_SCHEMA,
    )


def _id_column(ids: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """A per-event string column from per-trace ids, built through a dictionary (cheap)."""
    if len(ids) == 0:
        return pa.array([], type=pa.string())
    indices = pa.array(np.repeat(np.arange(len(ids), dtype=np.int32), lengths), type=pa.int32())
    dictionary = pa.array(list(ids), type=pa.string())
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def _strictly_ascending(ids: np.ndarray) -> bool:
    return len(ids) < 2 or bool(np.all(ids[:-1] < ids[1:]))


def sort_traces_by_id(arrays: TraceArrays) -> tuple[TraceArrays, np.ndarray | None]:
    """Reorder whole traces so that ids are ascending (events keep their order in a trace).

    Returns
    -------
    (TraceArrays, numpy.ndarray or None)
        The sorted arrays and the row permutation applied, or ``None`` if the ids were sorted.
    """
    ids = arrays.ids
    if _strictly_ascending(ids):
        return arrays, None
    order = np.argsort(ids, kind="stable")
    lengths = arrays.lengths
    rows = concat_ranges(arrays.offsets[:-1][order], lengths[order])
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lengths[order], out=offsets[1:])
    sorted_arrays = TraceArrays(
        ids=ids[order],
        offsets=offsets,
        lat=arrays.lat[rows],
        lng=arrays.lng[rows],
        time=arrays.time[rows],
    )
    return sorted_arrays, rows


def from_arrays(arrays: TraceArrays) -> pa.Table:
    """Build a canonical trace table (:data:`~accio_locapriv.schema.TRACE_SCHEMA`).

    Traces are reordered by id if needed (split ids such as ``u-10`` sort before ``u-2``); events
    keep their order within a trace, which must be by time. Empty traces disappear.
    """
    arrays, _ = sort_traces_by_id(arrays)
    return _table(_id_column(arrays.ids, arrays.lengths), arrays.lat, arrays.lng, arrays.time)


def take_rows(
    table: pa.Table,
    rows: np.ndarray | None,
    ids: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
    *,
    lat: np.ndarray | None = None,
    lng: np.ndarray | None = None,
    time_ms: np.ndarray | None = None,
) -> pa.Table:
    """Select rows of a canonical table, keeping extra columns, optionally renaming traces.

    Parameters
    ----------
    table : pyarrow.Table
        The canonical input table.
    rows : numpy.ndarray or None
        Row indices (int64) in output order; events of one output trace must be contiguous.
        ``None`` keeps every row in place (cheapest when only values are replaced).
    ids, offsets : numpy.ndarray, optional
        New trace ids and the offsets of the output traces inside ``rows``. Without them the
        selected rows keep their ids.
    lat, lng, time_ms : numpy.ndarray, optional
        Replacement values for the selected rows (same length as ``rows``).

    Returns
    -------
    pyarrow.Table
        A table sorted by (``id``, ``time``) provided each output trace is time-ordered.
    """
    if rows is None:
        out = table
    else:
        out = table.take(pa.array(np.asarray(rows, dtype=np.int64), type=pa.int64()))
    replaced: dict[str, pa.Array] = {}
    if ids is not None:
        if offsets is None:
            raise ValueError("take_rows: offsets are required with ids")
        replaced["id"] = _id_column(np.asarray(ids, dtype=object), np.diff(offsets))
    if lat is not None:
        replaced["lat"] = pa.array(np.asarray(lat, dtype=np.float64), type=pa.float64())
    if lng is not None:
        replaced["lng"] = pa.array(np.asarray(lng, dtype=np.float64), type=pa.float64())
    if time_ms is not None:
        replaced["time"] = pa.array(np.asarray(time_ms, dtype=np.int64)).cast(
            TRACE_SCHEMA.field("time").type
        )
    for name, column in replaced.items():
        out = out.set_column(out.schema.get_field_index(name), name, column)
    if ids is not None and offsets is not None:
        # Reorder whole output traces when their new ids are not ascending (``u-10`` < ``u-2``).
        offsets = np.asarray(offsets, dtype=np.int64)
        lengths = np.diff(offsets)
        keep = lengths > 0
        kept_ids = np.asarray(ids, dtype=object)[keep]
        if not _strictly_ascending(kept_ids):
            order = np.argsort(kept_ids, kind="stable")
            perm = concat_ranges(offsets[:-1][keep][order], lengths[keep][order])
            out = out.take(pa.array(perm, type=pa.int64()))
    return out


def from_columns(
    ids_per_event: Sequence[str] | np.ndarray | pa.Array,
    lat: np.ndarray | Sequence[float],
    lng: np.ndarray | Sequence[float],
    time_ms: np.ndarray | Sequence[int],
) -> pa.Table:
    """Build a canonical trace table from per-event columns in any order (it is sorted).

    Parameters
    ----------
    ids_per_event : sequence of str
        Trace id of every event.
    lat, lng : array_like
        Degrees.
    time_ms : array_like
        Epoch milliseconds (UTC).
    """
    ids = (
        ids_per_event
        if isinstance(ids_per_event, pa.Array)
        else pa.array(
            list(ids_per_event) if not isinstance(ids_per_event, np.ndarray) else ids_per_event,
            type=pa.string(),
        )
    )
    table = _table(
        ids.cast(pa.string()),
        np.asarray(lat, dtype=np.float64),
        np.asarray(lng, dtype=np.float64),
        np.asarray(time_ms, dtype=np.int64),
    )
    return validate_traces(table)


def empty_traces() -> pa.Table:
    """An empty canonical trace table."""
    return TRACE_SCHEMA.empty_table()
