"""Points of interest (POIs): the POI table and the ``PoisExtraction`` operator.

A POI dataset has one row per POI:

=========  ========================  ==================================================
column     Arrow type                meaning
=========  ========================  ==================================================
``id``     ``string``                id of the trace the POI was found in
``lat``    ``float64``               centroid latitude, degrees
``lng``    ``float64``               centroid longitude, degrees
``start``  ``timestamp[ms, UTC]``    time of the first member event
``end``    ``timestamp[ms, UTC]``    time of the last member event
``size``   ``int64``                 number of member events
=========  ========================  ==================================================

Rows are sorted by (``id``, ``start``). A trace without POIs has no row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays, to_arrays
from accio_locapriv.kernels.stays import Stays, dt_stays, repeated_pois, stay_centroids
from accio_locapriv.schema import OperatorInputError, TraceSchemaError, validate_traces

__all__ = [
    "OPERATORS",
    "POI_COLUMNS",
    "POI_SCHEMA",
    "PoiArrays",
    "PoisExtraction",
    "extract_pois",
    "meters",
    "millis",
    "poi_arrays",
    "pois_table",
    "validate_pois",
]

_TS = pa.timestamp("ms", tz="UTC")

#: Arrow schema of a POI dataset.
POI_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("lat", pa.float64()),
        pa.field("lng", pa.float64()),
        pa.field("start", _TS),
        pa.field("end", _TS),
        pa.field("size", pa.int64()),
    ]
)

#: Names of the POI columns, in order.
POI_COLUMNS: tuple[str, ...] = tuple(POI_SCHEMA.names)


def meters(value: Any) -> float:
    """Metres from a ``Distance`` (or a plain number of metres)."""
    return float(getattr(value, "meters", value))


def millis(value: Any) -> int:
    """Milliseconds from a ``Duration`` (or a plain number of milliseconds)."""
    return int(getattr(value, "millis", value))


def pois_table(ids: np.ndarray, stays: Stays) -> pa.Table:
    """Build a POI table from :class:`~accio_locapriv.kernels.stays.Stays`.

    Parameters
    ----------
    ids : numpy.ndarray
        Trace ids; ``stays.trace`` indexes into it.
    stays : Stays
        POIs sorted by (trace, start), with traces in ascending id order.
    """
    id_values = np.asarray(ids, dtype=object)[stays.trace] if len(stays.trace) else []
    return pa.Table.from_arrays(
        [
            pa.array(list(id_values), type=pa.string()),
            pa.array(np.asarray(stays.lat, dtype=np.float64), type=pa.float64()),
            pa.array(np.asarray(stays.lng, dtype=np.float64), type=pa.float64()),
            pa.array(np.asarray(stays.start, dtype=np.int64), type=pa.int64()).cast(_TS),
            pa.array(np.asarray(stays.end, dtype=np.int64), type=pa.int64()).cast(_TS),
            pa.array(np.asarray(stays.size, dtype=np.int64), type=pa.int64()),
        ],
        schema=POI_SCHEMA,
    )


def validate_pois(table: pa.Table) -> pa.Table:
    """Check a POI table, cast compatible column types and sort it by (``id``, ``start``).

    Raises
    ------
    TraceSchemaError
        Naming the missing columns and those that cannot be cast.
    """
    if not isinstance(table, pa.Table):
        raise TraceSchemaError(f"expected a pyarrow.Table of POIs, got {type(table).__name__}")
    missing = [c for c in POI_COLUMNS if c not in table.column_names]
    if missing:
        raise TraceSchemaError(
            f"invalid POI table: missing column(s) {', '.join(missing)}"
            f" (have: {', '.join(table.column_names) or 'none'}); expected {', '.join(POI_COLUMNS)}"
        )
    columns = []
    for field in POI_SCHEMA:
        col = table.column(field.name)
        try:
            if pa.types.is_timestamp(field.type) and pa.types.is_integer(col.type):
                col = col.cast(pa.int64()).cast(field.type)
            elif col.type != field.type:
                col = col.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise TraceSchemaError(
                f"invalid POI table: column {field.name} has type {col.type}, "
                f"expected {field.type} ({exc})"
            ) from None
        if col.null_count:
            raise TraceSchemaError(f"invalid POI table: column {field.name} has null values")
        columns.append(col)
    out = pa.Table.from_arrays(columns, schema=POI_SCHEMA)
    return out.sort_by([("id", "ascending"), ("start", "ascending")])


class PoiArrays:
    """A POI table as numpy arrays grouped by id (like :class:`~accio_locapriv.arrow.TraceArrays`).

    Attributes
    ----------
    ids : numpy.ndarray
        Object array of the distinct ids, ascending.
    offsets : numpy.ndarray
        int64, ``len(ids) + 1``; the POIs of ``ids[k]`` are rows ``offsets[k]:offsets[k + 1]``.
    lat, lng : numpy.ndarray
        Centroids, degrees.
    start, end : numpy.ndarray
        int64 epoch ms.
    size : numpy.ndarray
        int64 event counts.
    """

    def __init__(self, table: pa.Table) -> None:
        table = validate_pois(table)
        id_list = np.asarray(table.column("id").to_pylist(), dtype=object)
        n = len(id_list)
        if n:
            change = np.flatnonzero(id_list[1:] != id_list[:-1]) + 1
            starts = np.concatenate(([0], change)).astype(np.int64)
        else:
            starts = np.zeros(0, dtype=np.int64)
        self.ids: np.ndarray = id_list[starts] if n else np.zeros(0, dtype=object)
        self.offsets: np.ndarray = np.concatenate((starts, [n])).astype(np.int64)
        self.lat: np.ndarray = table.column("lat").to_numpy().astype(np.float64)
        self.lng: np.ndarray = table.column("lng").to_numpy().astype(np.float64)
        self.start: np.ndarray = table.column("start").cast(pa.int64()).to_numpy().astype(np.int64)
        self.end: np.ndarray = table.column("end").cast(pa.int64()).to_numpy().astype(np.int64)
        self.size: np.ndarray = table.column("size").to_numpy().astype(np.int64)

    def rows(self, trace_id: str) -> slice:
        """Rows of one id (an empty slice when the id has no POI)."""
        k = int(np.searchsorted(self.ids, trace_id)) if len(self.ids) else 0
        if k < len(self.ids) and self.ids[k] == trace_id:
            return slice(int(self.offsets[k]), int(self.offsets[k + 1]))
        return slice(0, 0)


def poi_arrays(table: pa.Table) -> PoiArrays:
    """Validate a POI table and convert it to :class:`PoiArrays`."""
    return PoiArrays(table)


def extract_pois(
    arrays: TraceArrays, diameter_m: float, duration_ms: int, min_points: int = 0
) -> pa.Table:
    """POIs of every trace, as a POI table.

    Parameters
    ----------
    arrays : TraceArrays
        The traces, ids ascending.
    diameter_m : float
        Largest distance between two events of a stay, metres.
    duration_ms : int
        Shortest stay, milliseconds.
    min_points : int, default 0
        0: every diameter/duration stay is a POI. Otherwise stays are grouped with DJ-Cluster
        (radius ``diameter / 2``, ``min_points`` stays) and each group is one POI.

    Returns
    -------
    pyarrow.Table
        :data:`POI_SCHEMA`, sorted by (``id``, ``start``).
    """
    if min_points > 0:
        pois = repeated_pois(
            arrays.lat,
            arrays.lng,
            arrays.time,
            arrays.offsets,
            diameter_m,
            duration_ms,
            min_points,
        )
    else:
        trace, begin, end = dt_stays(
            arrays.lat, arrays.lng, arrays.time, arrays.offsets, diameter_m, duration_ms
        )
        pois = stay_centroids(arrays.lat, arrays.lng, arrays.time, trace, begin, end)
    return pois_table(arrays.ids, pois)


@operator(
    category="transform",
    help="Find the points of interest (places where a user stayed) of every trace.",
    description=(
        "A stay is a run of consecutive events whose pairwise distances are all at most "
        "`diameter` and which lasts at least `duration` (Hariharan & Toyama, GIScience 2004). "
        "With `minPoints` = 0 every stay is a POI. With `minPoints` > 0 the stays of a trace are "
        "grouped by DJ-Cluster (radius diameter/2, at least `minPoints` stays; Zhou et al., GIS "
        "2004) so that only places visited repeatedly become POIs (Primault et al., MoST 2014). "
        "The output has one row per POI: id, centroid lat/lng, start, end and size (events). "
        "Distances are ground metres."
    ),
    cpus=1,
    memory="3G",
)
class PoisExtraction:
    """Operator wrapper of :func:`extract_pois`."""

    class Inputs:
        diameter = Port("distance", min=0, help="Largest distance between two events of a stay.")
        duration = Port("duration", min=0, help="Shortest time spent in a stay.")
        minPoints = Port(
            "integer",
            default=0,
            min=0,
            help="0 for one POI per stay; otherwise stays recurring at least this often.",
        )
        data = Port("dataset", help="Traces.")

    class Outputs:
        data = Port("dataset", help="POIs: id, lat, lng, start, end, size.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        diameter = meters(inputs["diameter"])
        duration = millis(inputs["duration"])
        min_points = int(inputs.get("minPoints", 0) or 0)
        if diameter < 0 or duration < 0 or min_points < 0:
            raise OperatorInputError("diameter, duration and minPoints must be >= 0")
        arrays = to_arrays(validate_traces(inputs["data"]), validate=False)
        return {"data": extract_pois(arrays, diameter, duration, min_points)}


OPERATORS: list[type] = [PoisExtraction]
