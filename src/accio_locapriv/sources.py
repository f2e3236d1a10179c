"""Sources: turn trace files (or a synthetic population) into a canonical trace table.

Formats read by :class:`EventSource` (decisions.md §12, locapriv.md §1.2 and §3):

``csv`` (default)
    ``url`` is a directory of ``<key>.csv`` files without header, one event per line, either
    ``id,lat,lng,time_ms`` or ``lat,lng,time_ms`` (the id is then the file's key). ``url`` may
    also be one such file, one CSV file of the canonical table with a header naming ``id``,
    ``lat``, ``lng`` and ``time`` (epoch ms or ISO-8601), or a Parquet file.
``parquet``
    A Parquet file or directory of the canonical table.
``geolife``
    Microsoft Geolife 1.3: ``[Data/]<user>/Trajectory/*.plt``, six header lines, then
    ``lat,lng,0,altitude_ft,days,date,time`` with date and time in GMT.
``cabspotting``
    ``new_<cab>.txt`` files, lines ``lat lng occupancy epoch_seconds`` (newest first).
``tdrive``
    ``<taxi>.txt`` files, lines ``taxi_id,YYYY-MM-DD HH:MM:SS,lng,lat``. Times are read as
    Beijing local time (UTC+8) and converted to UTC.

Malformed lines (wrong number of fields, numbers that do not parse, coordinates out of range) are
skipped, counted, and reported in the node's log; a file with lines but no valid one is an error.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accio.errors import RuntimeFailure
from accio.ops.api import Port, operator
from accio_locapriv.arrow import empty_traces
from accio_locapriv.schema import TRACE_SCHEMA, validate_traces
from accio_locapriv.synthetic import generate_traces

__all__ = [
    "KINDS",
    "OPERATORS",
    "EventSource",
    "ReadReport",
    "SourceError",
    "SyntheticSource",
    "read_cabspotting",
    "read_event_csv",
    "read_geolife",
    "read_source",
    "read_tdrive",
]

#: Values accepted by ``EventSource.kind``.
KINDS: tuple[str, ...] = ("csv", "geolife", "cabspotting", "tdrive", "parquet")

_FLOAT_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_INT_RE = r"^\s*[-+]?\d+\s*$"
_ISO_RE = r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?\s*$"
_TIMESTAMP = TRACE_SCHEMA.field("time").type
_BEIJING_OFFSET_MS = 8 * 3600 * 1000


class SourceError(RuntimeFailure):
    """A source cannot be read: missing path, no data files, a file without one valid line."""


class ReadReport:
    """Counts of skipped lines per file, turned into log lines."""

    def __init__(self) -> None:
        self.bad: dict[str, int] = {}
        self.files = 0
        self.events = 0

    def add(self, name: str, n_bad: int) -> None:
        self.files += 1
        if n_bad:
            self.bad[name] = self.bad.get(name, 0) + n_bad

    @property
    def total_bad(self) -> int:
        return sum(self.bad.values())

    def lines(self) -> list[str]:
        out = [f"read {self.events} event(s) from {self.files} file(s)"]
        if self.bad:
            worst = sorted(self.bad.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = ", ".join(f"{name} ({n})" for name, n in worst[:10])
            more = f" and {len(worst) - 10} more file(s)" if len(worst) > 10 else ""
            out.append(
                f"skipped {self.total_bad} malformed line(s) in {len(worst)} file(s): "
                f"{shown}{more}"
            )
        return out


# ---------------------------------------------------------------------------------------------
# Low-level parsing


def _parse(data: bytes, names: list[str], *, delimiter: str = ",") -> tuple[pa.Table, int]:
    """Parse headerless delimited text as string columns; rows with a wrong field count are
    skipped and counted."""
    bad = 0

    def skip(_row: Any) -> str:
        nonlocal bad
        bad += 1
        return "skip"

    if not data.strip():
        return pa.table({n: pa.array([], pa.string()) for n in names}), 0
    read = pacsv.ReadOptions(column_names=names)
    parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=skip)
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return pacsv.read_csv(io.BytesIO(data), read, parse, convert), bad


def _valid(col: pa.ChunkedArray | pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(
        pc.match_substring_regex(col, pattern).to_numpy(zero_copy_only=False), dtype=bool
    )


def _floats(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """float64 values of a string column, NaN where a value does not parse."""
    try:
        return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # some values are malformed: parse the valid ones only
    out = np.full(len(col), np.nan)
    idx = np.flatnonzero(_valid(col, _FLOAT_RE))
    if len(idx):
        good = pc.utf8_trim_whitespace(pc.take(col, pa.array(idx)))
        out[idx] = pc.cast(good, pa.float64()).to_numpy(zero_copy_only=False)
    return out


def _ints(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """int64 values of a string column and the mask of values that parse."""
    try:
        values = pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.int64), np.ones(len(values), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out = np.zeros(len(col), dtype=np.int64)
    ok = _valid(col, _INT_RE)
    idx = np.flatnonzero(ok)
    if len(idx):
        good = pc.utf8_trim_whitespace(pc.take(col, pa.array(idx)))
        out[idx] = pc.cast(good, pa.int64()).to_numpy(zero_copy_only=False)
    return out, ok


def _coords(
    lat_col: pa.ChunkedArray | pa.Array, lng_col: pa.ChunkedArray | pa.Array
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lng, ok): parsed coordinates and the rows where both are numbers within range."""
    lat = _floats(lat_col)
    lng = _floats(lng_col)
    with np.errstate(invalid="ignore"):
        ok = (np.abs(lat) <= 90.0) & (np.abs(lng) <= 180.0)
    return lat, lng, ok


def _events(
    ids: pa.ChunkedArray | pa.Array | str,
    lat: np.ndarray,
    lng: np.ndarray,
    time_ms: np.ndarray,
    ok: np.ndarray,
) -> pa.Table:
    """A table of the valid rows (not yet sorted)."""
    n = int(ok.sum())
    if isinstance(ids, str):
        id_col: Any = pa.repeat(pa.scalar(ids, pa.string()), n)
    else:
        id_col = pc.utf8_trim_whitespace(pc.filter(ids, pa.array(ok, type=pa.bool_())))
    return pa.table(
        {
            "id": id_col,
            "lat": pa.array(lat[ok], type=pa.float64()),
            "lng": pa.array(lng[ok], type=pa.float64()),
            "time": pa.array(time_ms[ok], type=pa.int64()).cast(_TIMESTAMP),
        }
    )


def _strptime_ms(text: pa.ChunkedArray | pa.Array, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse timestamps; returns (epoch ms, valid mask)."""
    parsed = pc.strptime(pc.utf8_trim_whitespace(text), format=fmt, unit="ms", error_is_null=True)
    valid = np.asarray(parsed.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    ms = pc.fill_null(parsed.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    return np.asarray(ms, dtype=np.int64), valid


def _iso_ms(text: pa.ChunkedArray | pa.Array, ok: np.ndarray) -> np.ndarray:
    """Epoch ms of ISO-8601 strings where ``ok``; without a zone offset they are UTC."""
    out = np.zeros(len(ok), dtype=np.int64)
    has_zone = _valid(text, r"(Z|[+-]\d{2}:?\d{2})\s*$")
    for zoned, target in ((True, pa.timestamp("ms", tz="UTC")), (False, pa.timestamp("ms"))):
        idx = np.flatnonzero(ok & (has_zone == zoned))
        if len(idx):
            strings = pc.utf8_trim_whitespace(pc.take(text, pa.array(idx)))
            strings = pc.replace_substring_regex(strings, r"^(\S+) (\S+)", r"\1T\2")
            values = pc.cast(strings, target).cast(pa.int64())
            out[idx] = values.to_numpy(zero_copy_only=False)
    return out


def _check_file(name: str, table: pa.Table, n_bad: int) -> None:
    if table.num_rows == 0 and n_bad > 0:
        raise SourceError(f"{name}: no valid event among its {n_bad} line(s)")


# ---------------------------------------------------------------------------------------------
# Readers


def _expand(url: str) -> Path:
    if url.startswith("file://"):
        url = url[len("file://") :]
    path = Path(os.path.expanduser(url))
    if not path.exists():
        raise SourceError(f"no such file or directory: {path}")
    return path


def _sniff_fields(data: bytes, delimiter: str = ",") -> tuple[int, bool]:
    """(number of fields, has a header) from the first lines of a CSV file."""
    lines = [ln for ln in data[:65536].decode("utf-8", "replace").splitlines()[:50] if ln.strip()]
    if not lines:
        return 3, False
    first = [f.strip().lower() for f in lines[0].split(delimiter)]
    if {"lat", "lng", "time"} <= set(first):
        return len(first), True
    counts: dict[int, int] = {}
    for ln in lines:
        k = len(ln.split(delimiter))
        counts[k] = counts.get(k, 0) + 1
    best = max((k for k in counts if k in (3, 4)), key=lambda k: counts[k], default=3)
    return best, False


def _read_csv_bytes(data: bytes, key: str, name: str) -> tuple[pa.Table, int]:
    n_fields, header = _sniff_fields(data)
    if header:
        return _read_canonical_csv(data, name)
    names = ["id", "lat", "lng", "time"] if n_fields == 4 else ["lat", "lng", "time"]
    raw, bad = _parse(data, names)
    lat, lng, ok = _coords(raw.column("lat"), raw.column("lng"))
    time, time_ok = _ints(raw.column("time"))
    ok &= time_ok
    if n_fields == 4:
        length = pc.utf8_length(pc.utf8_trim_whitespace(raw.column("id")))
        ok &= np.asarray(pc.greater(length, 0).to_numpy(zero_copy_only=False), dtype=bool)
    table = _events(raw.column("id") if n_fields == 4 else key, lat, lng, time, ok)
    bad += int((~ok).sum())
    _check_file(name, table, bad)
    return table, bad


def _read_canonical_csv(data: bytes, name: str) -> tuple[pa.Table, int]:
    head, _, body = data.partition(b"\n")
    names = [c.strip().strip('"').lower() for c in head.decode("utf-8", "replace").split(",")]
    missing = [c for c in ("id", "lat", "lng", "time") if c not in names]
    if missing:
        raise SourceError(f"{name}: header lacks column(s) {', '.join(missing)}")
    if len(set(names)) != len(names):
        raise SourceError(f"{name}: duplicate column names in header {head!r}")
    raw, bad = _parse(body, names)
    lat, lng, ok = _coords(raw.column("lat"), raw.column("lng"))
    time, is_int = _ints(raw.column("time"))
    is_iso = ~is_int & _valid(raw.column("time"), _ISO_RE)
    ok &= is_int | is_iso
    time = np.where(is_int, time, _iso_ms(raw.column("time"), ok & is_iso))
    table = _events(raw.column("id"), lat, lng, time, ok)
    bad += int((~ok).sum())
    _check_file(name, table, bad)
    return table, bad


def read_event_csv(path: Path, report: ReadReport | None = None) -> pa.Table:
    """Read the original's CSV event format: a directory of ``<key>.csv`` or one file.

    Returns the canonical (sorted) table; skipped lines are counted in ``report``.
    """
    report = report if report is not None else ReadReport()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".csv" and p.is_file())
        if not files:
            raise SourceError(f"{path}: no <key>.csv file in this directory")
    else:
        files = [path]
    tables = []
    for f in files:
        table, bad = _read_csv_bytes(f.read_bytes(), f.stem, f.name)
        report.add(f.name, bad)
        tables.append(table)
    return _finish(tables, report)


def read_geolife(root: Path, report: ReadReport | None = None) -> pa.Table:
    """Read a Geolife 1.3 tree (``[Data/]<user>/Trajectory/*.plt``); trace id = user folder."""
    report = report if report is not None else ReadReport()
    base = root / "Data" if (root / "Data").is_dir() else root
    users = sorted(p for p in base.iterdir() if (p / "Trajectory").is_dir())
    if not users:
        raise SourceError(f"{root}: no <user>/Trajectory/*.plt folders (Geolife layout)")
    names = ["lat", "lng", "zero", "alt", "days", "date", "clock"]
    tables = []
    for user in users:
        for plt in sorted((user / "Trajectory").glob("*.plt")):
            data = plt.read_bytes()
            body = data.split(b"\n", 6)[6] if data.count(b"\n") >= 6 else b""
            raw, bad = _parse(body, names)
            date_time = pc.binary_join_element_wise(raw.column("date"), raw.column("clock"), " ")
            time, time_ok = _strptime_ms(date_time, "%Y-%m-%d %H:%M:%S")
            lat, lng, ok = _coords(raw.column("lat"), raw.column("lng"))
            ok &= time_ok
            table = _events(user.name, lat, lng, time, ok)
            bad += int((~ok).sum())
            name = f"{user.name}/Trajectory/{plt.name}"
            _check_file(name, table, bad)
            report.add(name, bad)
            tables.append(table)
    return _finish(tables, report)


def read_cabspotting(root: Path, report: ReadReport | None = None) -> pa.Table:
    """Read Cabspotting ``new_<cab>.txt`` files (space-separated, seconds); id = cab name."""
    report = report if report is not None else ReadReport()
    files = [root] if root.is_file() else sorted(root.rglob("new_*.txt"))
    if not files:
        raise SourceError(f"{root}: no new_<cab>.txt file (Cabspotting layout)")
    tables = []
    for f in files:
        raw, bad = _parse(f.read_bytes(), ["lat", "lng", "occupancy", "time"], delimiter=" ")
        lat, lng, ok = _coords(raw.column("lat"), raw.column("lng"))
        seconds, time_ok = _ints(raw.column("time"))
        ok &= time_ok
        cab = f.stem[len("new_") :] if f.stem.startswith("new_") else f.stem
        table = _events(cab, lat, lng, seconds * 1000, ok)
        bad += int((~ok).sum())
        _check_file(f.name, table, bad)
        report.add(f.name, bad)
        tables.append(table)
    return _finish(tables, report)


def read_tdrive(root: Path, report: ReadReport | None = None) -> pa.Table:
    """Read T-Drive ``<taxi>.txt`` files (``id,datetime,lng,lat``, Beijing time -> UTC)."""
    report = report if report is not None else ReadReport()
    files = [root] if root.is_file() else sorted(root.rglob("*.txt"))
    if not files:
        raise SourceError(f"{root}: no <taxi>.txt file (T-Drive layout)")
    tables = []
    for f in files:
        raw, bad = _parse(f.read_bytes(), ["id", "datetime", "lng", "lat"])
        time, time_ok = _strptime_ms(raw.column("datetime"), "%Y-%m-%d %H:%M:%S")
        lat, lng, ok = _coords(raw.column("lat"), raw.column("lng"))
        ok &= time_ok
        table = _events(raw.column("id"), lat, lng, time - _BEIJING_OFFSET_MS, ok)
        bad += int((~ok).sum())
        _check_file(f.name, table, bad)
        report.add(f.name, bad)
        tables.append(table)
    return _finish(tables, report)


def _finish(tables: Iterable[pa.Table], report: ReadReport) -> pa.Table:
    tables = list(tables)
    if not tables:
        return empty_traces()
    out = validate_traces(pa.concat_tables(tables))
    report.events += out.num_rows
    return out


def read_source(url: str, kind: str = "csv", log: Callable[[str], None] | None = None) -> pa.Table:
    """Read a dataset of one of the :data:`KINDS` into a canonical trace table.

    Parameters
    ----------
    url : str
        File or directory; a leading ``~`` is expanded and a ``file://`` prefix removed.
    kind : str
        One of :data:`KINDS`.
    log : callable, optional
        Receives the summary lines (events read, malformed lines skipped).
    """
    path = _expand(url)
    report = ReadReport()
    if kind == "parquet" or (kind == "csv" and path.is_file() and path.suffix == ".parquet"):
        table = validate_traces(pq.read_table(path))
        report.files, report.events = 1, table.num_rows
    elif kind == "csv":
        table = read_event_csv(path, report)
    elif kind == "geolife":
        table = read_geolife(path, report)
    elif kind == "cabspotting":
        table = read_cabspotting(path, report)
    elif kind == "tdrive":
        table = read_tdrive(path, report)
    else:
        raise SourceError(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    if log is not None:
        for line in report.lines():
            log(line)
    return table


# ---------------------------------------------------------------------------------------------
# Operators


@operator(
    help="Load traces from files: event CSV, Parquet, Geolife, Cabspotting or T-Drive.",
    category="source",
    cpus=1,
    memory="512M",
    version="1",
)
class EventSource:
    """Read a trace dataset from a file or directory into a canonical trace table.

    Malformed lines are skipped; their number is written to the node's log.
    """

    class Inputs:
        url = Port("string", file=True, help="File or directory to read; a leading ~ is expanded.")
        kind = Port("string", default="csv", choices=KINDS, help="Format of the files.")

    class Outputs:
        data = Port("dataset", help="The traces, sorted by id and time.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"data": read_source(inputs["url"], inputs.get("kind") or "csv", log=ctx.log)}


@operator(
    help="Generate synthetic users who commute between home, work and other places.",
    category="source",
    unstable=True,
    cpus=1,
    memory="1G",
    version="1",
)
class SyntheticSource:
    """A deterministic synthetic population with ground-truth stays.

    See :func:`accio_locapriv.synthetic.generate_traces`; user ``u`` depends only on the node
    seed and its id.
    """

    class Inputs:
        users = Port("integer", default=10, min=1, help="Number of users (one trace each).")
        days = Port("integer", default=7, min=1, help="Days covered by every trace.")
        interval = Port(
            "duration", default="1.minutes", min=0, min_exclusive=True, help="Sampling period."
        )
        jitter = Port(
            "distance", default="10.meters", min=0, help="GPS noise (std. dev. per axis)."
        )
        center = Port("location", default="45.76,4.84", help="City centre (default Lyon).")

    class Outputs:
        data = Port("dataset", help="The events.")
        stays = Port("dataset", help="Ground truth: id, lat, lng, start, end, poi per stay.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        interval = inputs.get("interval")
        jitter = inputs.get("jitter")
        center = inputs.get("center")
        events, stays = generate_traces(
            int(inputs.get("users", 10)),
            int(inputs.get("days", 7)),
            int(getattr(interval, "millis", interval if interval is not None else 60_000)),
            float(getattr(jitter, "meters", jitter if jitter is not None else 10.0)),
            center if center is not None else (45.76, 4.84),
            ctx.seed,
        )
        ctx.log(f"generated {events.num_rows} event(s) and {stays.num_rows} stay(s)")
        return {"data": events, "stays": stays}


OPERATORS: list[type] = [EventSource, SyntheticSource]
