"""Files on disk: a run's long table, its aggregate and dataset outputs written into a
directory (``accio export``), and tables as CSV or Parquet bytes (the REST API's downloads).

The tables themselves come from :mod:`accio.client.longtable`, re-exported here.

::

    from accio.client.export import export_run
    result = export_run(client, [run_id], "out", fmt="parquet", aggregated=True)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from accio.client.longtable import (
    FIXED_COLUMNS,
    PARAMS_KEY,
    ChildProblem,
    Validation,
    aggregate,
    explode,
    long_results,
    param_column,
    param_columns,
    parse_selection,
    validate,
    validation_json,
)
from accio.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from accio.client.contract import AccioClient as Client

ExportFormat = Literal["csv", "parquet"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "parquet")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_run` wrote, and the validation of each exported run."""

    directory: Path
    files: tuple[Path, ...]
    runs: int
    rows: int
    validations: tuple[Validation, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    #: Digests of the dataset outputs not copied (``datasets=False``): in the table's ``text``.
    dataset_digests: tuple[str, ...] = ()


# -- files -----------------------------------------------------------------------------------


def write_table(table: pa.Table, path: Path, fmt: ExportFormat) -> Path:
    """Write ``table`` as CSV (header row, RFC 4180 quoting) or Parquet; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
    return path


def table_bytes(table: pa.Table, fmt: ExportFormat) -> bytes:
    """The file content :func:`write_table` would write, for HTTP downloads."""
    sink = pa.BufferOutputStream()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sink)
    return bytes(sink.getvalue().to_pybytes())


_UNSAFE = re.compile(r"[^A-Za-z0-9._,+=-]+")


def safe_name(text: str) -> str:
    """A file-name-safe version of a label (``eps=0.01`` stays readable)."""
    cleaned = _UNSAFE.sub("_", text).strip("._") or "_"
    return cleaned[:120]


def default_out_dir() -> Path:
    return Path(f"accio-export-{os.urandom(4).hex()}")


def export_run(
    client: Client,
    run_ids: Sequence[str],
    out: str | Path | None = None,
    *,
    fmt: ExportFormat = "csv",
    split_by: str | None = None,
    aggregated: bool = False,
    outputs: Iterable[str] | None = None,
    datasets: bool = False,
) -> ExportResult:
    """Write the long table (and, with ``aggregated``, its aggregate) of runs into ``out``.

    Files: ``results.<fmt>``, ``aggregate.<fmt>``, ``validation.json``, and one Parquet file per
    dataset output, ``datasets/<Node>-<port>/<digest>.parquet``, only with ``datasets`` (they can
    be large; otherwise their digests are listed: the ``text`` cell of their row holds it). With ``split_by``, one sub-directory per value of that parameter,
    ``<param>=<value>/``, as Hive-style partitioning readers expect. An unknown run id is a
    warning and is skipped, like the original ``export``.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}: expected csv or parquet")
    selection = list(outputs) if outputs is not None else None
    directory = Path(out) if out is not None else default_out_dir()
    directory = directory.absolute()
    warnings: list[str] = []
    tables: list[pa.Table] = []
    validations: list[Validation] = []
    runs = 0
    for run_id in run_ids:
        try:
            record = client.run(run_id)
        except NotFoundError:
            warnings.append(f"no such run: {run_id} (skipped)")
            continue
        tables.append(long_results(client, record.id, selection))
        validation = validate(client, record.id)
        validations.append(validation)
        runs += validation.found
        warnings.extend(f"run {record.id}: {line}" for line in validation.lines())
    if not tables:
        raise NotFoundError("none of the given runs exists")
    table = _concat(tables)
    column = None
    if split_by is not None:
        columns = param_columns(table)
        column = split_by if split_by in columns else param_column(split_by)
        if column not in columns:
            raise UsageError(
                f"cannot split by {split_by!r}: not a parameter "
                f"(parameters: {', '.join(columns) or '<none>'})"
            )
    directory.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    parts = _split(table, column)
    for label, part in parts:
        where = directory / label if label else directory
        files.append(write_table(part, where / f"results.{fmt}", fmt))
        if aggregated:
            files.append(write_table(aggregate(part), where / f"aggregate.{fmt}", fmt))
    digests: tuple[str, ...] = ()
    if datasets:
        files.extend(_copy_datasets(client, table, directory))
    else:
        digests = tuple(dict.fromkeys(d for _, _, d in _dataset_rows(table)))
    report = directory / "validation.json"
    report.write_text(json.dumps([validation_json(v) for v in validations], indent=2) + "\n")
    files.append(report)
    return ExportResult(
        directory, tuple(files), runs, len(table), tuple(validations), tuple(warnings), digests
    )


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    params: list[str] = []
    for t in tables:
        params.extend(c for c in param_columns(t) if c not in params)
    combined = pa.concat_tables(
        [t.replace_schema_metadata(None) for t in tables], promote_options="permissive"
    )
    names = ["run_id", "name", *params, *FIXED_COLUMNS[2:], "text"]
    combined = combined.select(names)
    return combined.replace_schema_metadata({PARAMS_KEY: json.dumps(params).encode()})


def _split(table: pa.Table, column: str | None) -> list[tuple[str | None, pa.Table]]:
    if column is None:
        return [(None, table)]
    values = table.column(column)
    parts: list[tuple[str | None, pa.Table]] = []
    for value in pc.unique(values).to_pylist():
        mask = pc.is_null(values) if value is None else pc.equal(values, pa.scalar(value))
        label = safe_name(f"{column}={'null' if value is None else _label(value)}")
        parts.append((label, table.filter(mask)))
    return sorted(parts, key=lambda p: str(p[0]))


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dataset_rows(table: pa.Table) -> list[tuple[str, str, str]]:
    """``(node, output, digest)`` of the stored dataset outputs (external URIs left out)."""
    rows = table.filter(pc.equal(table.column("type"), "dataset"))
    found: dict[tuple[str, str, str], None] = {}
    for row in rows.select(["node", "output", "text"]).to_pylist():
        digest = row["text"]
        if isinstance(digest, str) and _DIGEST.match(digest):
            found[(row["node"], row["output"], digest)] = None
    return list(found)


def _copy_datasets(client: Client, table: pa.Table, directory: Path) -> list[Path]:
    """Copy the dataset outputs out of the artifact store as Parquet files (once per digest)."""
    written: list[Path] = []
    for node, output, digest in _dataset_rows(table):
        target = directory / "datasets" / safe_name(f"{node}-{output}")
        written.append(
            write_table(client.dataset(digest), target / f"{digest}.parquet", "parquet")
        )
    return written


__all__ = [
    "FIXED_COLUMNS",
    "FORMATS",
    "PARAMS_KEY",
    "ChildProblem",
    "ExportFormat",
    "ExportResult",
    "Validation",
    "aggregate",
    "default_out_dir",
    "explode",
    "export_run",
    "long_results",
    "param_column",
    "param_columns",
    "parse_selection",
    "safe_name",
    "table_bytes",
    "validate",
    "validation_json",
    "write_table",
]
