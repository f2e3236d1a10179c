"""A run's outputs as one long table, its aggregate over repeats, and files on disk.

The long table has one row per (child run, output value): ``run_id``, ``name`` (the child's
name), one column per run parameter, ``repeat``, ``seed``, ``node``, ``output``, ``type``,
``key``, ``value`` and ``text``. Collections are exploded, one row per element: ``key`` holds the
map key, or the list/set position. Numeric values (types.md §1: integers, doubles, distances in
metres, durations in milliseconds) go to ``value`` (float64) so that they aggregate; every other
value goes to ``text`` as its canonical rendering, and a dataset as its digest. One long shape for
every workflow keeps the file format stable when a workflow gains an output.

::

    from accio.client.export import aggregate, export_run, long_results
    table = long_results(client, run_id)
    stats = aggregate(table)                     # mean, std, 95 % CI, count over repeats
    result = export_run(client, [run_id], "out", fmt="parquet", aggregated=True)
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from accio.errors import AccioError, NotFoundError, UsageError
from accio.storage.records import NodeRecord, RunRecord
from accio.values.canonical import from_canonical
from accio.values.render import render
from accio.values.types import DataType, parse_type

if TYPE_CHECKING:
    from accio.client.client import Client

ExportFormat = Literal["csv", "parquet"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "parquet")

#: Columns of the long table other than the parameters, in order.
FIXED_COLUMNS = ("run_id", "name", "repeat", "seed", "node", "output", "type", "key", "value")
#: Schema metadata key listing the parameter columns (``aggregate`` groups by them).
PARAMS_KEY = b"accio.params"

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_RESERVED = frozenset(
    {*FIXED_COLUMNS, "text", "mean", "std", "ci95", "ci_low", "ci_high", "count", "state"}
)


@dataclass(frozen=True)
class ChildProblem:
    """A child without usable results: missing (deleted or never created), failed, unfinished."""

    child_index: int
    run_id: str | None
    name: str | None
    repeat: int | None
    state: str
    reason: str


@dataclass(frozen=True)
class Validation:
    """Whether every child of a run produced its outputs; lists those that did not."""

    run_id: str
    expected: int
    found: int
    succeeded: int
    problems: tuple[ChildProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """One human line per problem, for the CLI."""
        return [
            f"child {p.child_index} ({p.name or p.run_id or 'missing'}): {p.reason}"
            for p in self.problems
        ]


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_run` wrote, and the validation of each exported run."""

    directory: Path
    files: tuple[Path, ...]
    runs: int
    rows: int
    validations: tuple[Validation, ...] = ()
    warnings: tuple[str, ...] = field(default=())


# -- the long table --------------------------------------------------------------------------


def param_column(name: str) -> str:
    """The column of a parameter; prefixed when its name clashes with a fixed column."""
    return f"param.{name}" if name in _RESERVED or name.startswith("param.") else name


def _target_runs(client: Client, run: RunRecord) -> list[RunRecord]:
    return client.children(run.id) if run.is_parent else [run]


def parse_selection(outputs: Iterable[str] | None) -> list[tuple[str, str | None]] | None:
    """``["Node/port", "Node"]`` as (node, port or None); None selects every output."""
    if outputs is None:
        return None
    selected: list[tuple[str, str | None]] = []
    for item in outputs:
        text = item.strip()
        if not text:
            continue
        node, sep, port = text.partition("/")
        if not node or (sep and not port) or "/" in port:
            raise UsageError(f"an output is named Node/port (or Node for all its ports): {item!r}")
        selected.append((node, port or None))
    return selected or None


def _check_selection(
    client: Client, nodes: Sequence[NodeRecord], selection: Sequence[tuple[str, str | None]]
) -> None:
    """Reject names that no node (or no declared output port) has: a typo must not export
    an empty table silently."""
    by_name = {n.name: n for n in nodes}
    for node, port in selection:
        record = by_name.get(node)
        if record is None:
            known = ", ".join(sorted(by_name)) or "<none>"
            raise UsageError(f"the run has no node {node!r} (nodes: {known})")
        if port is None:
            continue
        spec = client.registry.get(record.op)
        if spec is not None and all(p.name != port for p in spec.outputs):
            known = ", ".join(p.name for p in spec.outputs)
            raise UsageError(f"node {node!r} ({record.op}) has no output {port!r} ({known})")


def _selected(selection: Sequence[tuple[str, str | None]] | None, node: str, port: str) -> bool:
    if selection is None:
        return True
    return any(n == node and (p is None or p == port) for n, p in selection)


def _param_value(typed: Any) -> Any:
    """A parameter cell: numbers and booleans as themselves, anything else rendered."""
    if not isinstance(typed, Mapping):
        return None
    value = typed.get("value")
    try:
        dtype = parse_type(str(typed.get("type")))
    except AccioError:
        return json.dumps(value)
    if dtype.base in ("byte", "integer", "long", "double", "boolean", "string"):
        return value
    try:
        return render(dtype, from_canonical(dtype, value))
    except AccioError:
        return json.dumps(value)


def _atomic_cell(dtype: DataType, data: Any) -> tuple[float | None, str | None]:
    """(value, text) of one canonical atomic value."""
    if dtype.is_numeric and isinstance(data, int | float) and not isinstance(data, bool):
        number = float(data)
        return (number if math.isfinite(number) else None), None
    if dtype.base in ("string", "dataset") and isinstance(data, str):
        return None, data
    try:
        return None, render(dtype, from_canonical(dtype, data))
    except AccioError:
        return None, json.dumps(data)


def explode(typed: Mapping[str, Any]) -> list[tuple[str, str | None, float | None, str | None]]:
    """Rows ``(type, key, value, text)`` of one stored ``{"type", "value"}`` output."""
    try:
        dtype = parse_type(str(typed.get("type")))
    except AccioError:
        return [(str(typed.get("type")), None, None, json.dumps(typed.get("value")))]
    data = typed.get("value")
    if dtype.base in ("list", "set") and isinstance(data, list):
        element = dtype.args[0]
        return [(str(element), str(i), *_atomic_cell(element, x)) for i, x in enumerate(data)]
    if dtype.base == "map" and isinstance(data, dict):
        element = dtype.args[1]
        return [(str(element), str(k), *_atomic_cell(element, v)) for k, v in data.items()]
    return [(str(dtype), None, *_atomic_cell(dtype, data))]


def long_results(client: Client, run_id: str, outputs: Iterable[str] | None = None) -> pa.Table:
    """Every output value of a run's children (or of a single run), one row each.

    ``outputs`` restricts the table to ``Node/port`` (or whole ``Node``) names. Children that
    did not succeed contribute the outputs of the nodes that did; :func:`validate` lists them.
    """
    run = client.run(run_id)
    runs = _target_runs(client, run)
    selection = parse_selection(outputs)
    params: dict[str, str] = {}  # parameter name -> column, in first-seen order
    rows: list[dict[str, Any]] = []
    checked = False
    for child in runs:
        child_params = json.loads(child.params or "{}")
        for pname in child_params:
            params.setdefault(pname, param_column(pname))
        base: dict[str, Any] = {
            "run_id": child.id,
            "name": child.name,
            **{params[k]: _param_value(v) for k, v in child_params.items()},
            "repeat": child.repeat_index,
            "seed": child.seed,
        }
        nodes = client.nodes(child.id)
        if selection is not None and not checked:
            _check_selection(client, nodes, selection)
            checked = True
        for node in sorted(nodes, key=lambda n: n.position):
            if not node.outputs:
                continue
            for port, typed in json.loads(node.outputs).items():
                if not _selected(selection, node.name, port) or not isinstance(typed, Mapping):
                    continue
                for kind, key, value, text in explode(typed):
                    rows.append(
                        {
                            **base,
                            "node": node.name,
                            "output": port,
                            "type": kind,
                            "key": key,
                            "value": value,
                            "text": text,
                        }
                    )
    return _table(rows, list(params.values()))


def _table(rows: list[dict[str, Any]], param_columns: list[str]) -> pa.Table:
    names = ["run_id", "name", *param_columns, *FIXED_COLUMNS[2:], "text"]
    fixed: dict[str, pa.DataType] = {
        "run_id": pa.string(),
        "name": pa.string(),
        "repeat": pa.int64(),
        "seed": pa.int64(),
        "node": pa.string(),
        "output": pa.string(),
        "type": pa.string(),
        "key": pa.string(),
        "value": pa.float64(),
        "text": pa.string(),
    }
    arrays = []
    for column in names:
        cells = [row.get(column) for row in rows]
        kind = fixed.get(column)
        if kind is None:  # a parameter: let Arrow infer (all cells share the parameter's type)
            try:
                array = pa.array(cells)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                array = pa.array([None if c is None else str(c) for c in cells], pa.string())
            if pa.types.is_null(array.type):
                array = array.cast(pa.string())
        else:
            array = pa.array(cells, kind)
        arrays.append(array)
    metadata = {PARAMS_KEY: json.dumps(param_columns).encode()}
    return pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(metadata)


def param_columns(table: pa.Table) -> list[str]:
    """The parameter columns of a long table (from its metadata, else by elimination)."""
    metadata = table.schema.metadata or {}
    if PARAMS_KEY in metadata:
        listed: list[str] = json.loads(metadata[PARAMS_KEY])
        return [c for c in listed if c in table.column_names]
    return [c for c in table.column_names if c not in _RESERVED]


# -- aggregation -----------------------------------------------------------------------------


def aggregate(table: pa.Table, by: Sequence[str] | None = None) -> pa.Table:
    """Mean, sample std, 95 % confidence interval and count of each numeric output.

    Rows are grouped by ``by`` (default: every parameter, i.e. one group per combination, over
    its repeats) plus node, output and key. The interval is ``mean ± t(0.975, n-1)·std/√n``
    (Student's t, as repeats are few); std and the interval are null for a single value.
    """
    # scipy ships no type stubs; the module is only needed here, so import it untyped and late.
    stats: Any = importlib.import_module("scipy.stats")

    params = param_columns(table)
    keys = list(params if by is None else by)
    for column in keys:
        if column not in params:
            raise UsageError(
                f"cannot aggregate by {column!r}: not a parameter column "
                f"(parameters: {', '.join(params) or '<none>'})"
            )
    group_keys = [*keys, "node", "output", "key"]
    numeric = table.filter(pc.is_valid(table.column("value")))
    grouped = numeric.group_by(group_keys, use_threads=False).aggregate(
        [
            ("value", "mean"),
            ("value", "stddev", pc.VarianceOptions(ddof=1)),
            ("value", "count"),
        ]
    )
    means = grouped.column("value_mean").to_pylist()
    stds = grouped.column("value_stddev").to_pylist()
    counts = grouped.column("value_count").to_pylist()
    halves: list[float | None] = []
    for std, n in zip(stds, counts, strict=True):
        if n is None or n < 2 or std is None or not math.isfinite(std):
            halves.append(None)
        else:
            halves.append(float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n))
    lows = [None if h is None else m - h for m, h in zip(means, halves, strict=True)]
    highs = [None if h is None else m + h for m, h in zip(means, halves, strict=True)]
    stds = [None if n is None or n < 2 else s for s, n in zip(stds, counts, strict=True)]
    result = pa.table(
        {
            **{k: grouped.column(k) for k in group_keys},
            "mean": pa.array(means, pa.float64()),
            "std": pa.array(stds, pa.float64()),
            "ci95": pa.array(halves, pa.float64()),
            "ci_low": pa.array(lows, pa.float64()),
            "ci_high": pa.array(highs, pa.float64()),
            "count": pa.array(counts, pa.int64()),
        }
    )
    order = [(k, "ascending") for k in group_keys]
    result = result.sort_by(order) if len(result) else result
    return result.replace_schema_metadata({PARAMS_KEY: json.dumps(keys).encode()})


# -- validation ------------------------------------------------------------------------------


def validate(client: Client, run_id: str) -> Validation:
    """Children that are missing (deleted) or did not succeed, with the first failed node."""
    run = client.run(run_id)
    runs = _target_runs(client, run)
    expected = run.n_children if run.is_parent else 1
    problems: list[ChildProblem] = []
    present = {r.child_index if r.child_index is not None else 0 for r in runs}
    for index in range(expected):
        if index not in present:
            problems.append(ChildProblem(index, None, None, None, "missing", "missing (deleted)"))
    for child in runs:
        if child.state == "success":
            continue
        reason: str = child.state
        if child.state in ("failed", "killed"):
            bad = [n for n in client.nodes(child.id) if n.state in ("failed", "killed")]
            if bad:
                reason = f"{child.state}: node {bad[0].name}: {_error_message(bad[0])}"
        elif child.state in ("pending", "running"):
            reason = f"not finished ({child.state})"
        problems.append(
            ChildProblem(
                child.child_index or 0,
                child.id,
                child.name,
                child.repeat_index,
                child.state,
                reason,
            )
        )
    problems.sort(key=lambda p: p.child_index)
    succeeded = sum(1 for r in runs if r.state == "success")
    return Validation(run.id, expected, len(runs), succeeded, tuple(problems))


def _error_message(node: NodeRecord) -> str:
    if not node.error:
        return node.state
    try:
        error = json.loads(node.error)
    except ValueError:
        return node.error
    if isinstance(error, dict):
        return str(error.get("message") or error.get("classifier") or node.state)
    return str(error)


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
) -> ExportResult:
    """Write the long table (and, with ``aggregated``, its aggregate) of runs into ``out``.

    Files: ``results.<fmt>``, ``aggregate.<fmt>``, ``validation.json``, and one Parquet file per
    dataset output, ``datasets/<Node>-<port>/<digest>.parquet`` (the ``text`` cell of its row
    holds the digest). With ``split_by``, one sub-directory per value of that parameter,
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
    files.extend(_copy_datasets(client, table, directory))
    report = directory / "validation.json"
    report.write_text(json.dumps([validation_json(v) for v in validations], indent=2) + "\n")
    files.append(report)
    return ExportResult(
        directory, tuple(files), runs, len(table), tuple(validations), tuple(warnings)
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


def _copy_datasets(client: Client, table: pa.Table, directory: Path) -> list[Path]:
    """Copy the dataset outputs out of the artifact store as Parquet files (once per digest)."""
    datasets = table.filter(pc.equal(table.column("type"), "dataset"))
    if not len(datasets):
        return []
    from accio.cache.artifacts import LocalArtifactStore

    store = LocalArtifactStore(client.settings.artifacts_dir)
    written: list[Path] = []
    seen: set[tuple[str, str, str]] = set()
    for row in datasets.select(["node", "output", "text"]).to_pylist():
        digest = row["text"]
        key = (row["node"], row["output"], digest)
        if not isinstance(digest, str) or not _DIGEST.match(digest) or key in seen:
            continue  # an external URI, or already copied
        seen.add(key)
        target = directory / "datasets" / safe_name(f"{row['node']}-{row['output']}")
        written.append(
            write_table(store.get_table(digest), target / f"{digest}.parquet", "parquet")
        )
    return written


def validation_json(v: Validation) -> dict[str, Any]:
    return {
        "run_id": v.run_id,
        "expected": v.expected,
        "found": v.found,
        "succeeded": v.succeeded,
        "ok": v.ok,
        "problems": [
            {
                "child_index": p.child_index,
                "run_id": p.run_id,
                "name": p.name,
                "repeat": p.repeat,
                "state": p.state,
                "reason": p.reason,
            }
            for p in v.problems
        ],
    }


__all__ = [
    "ChildProblem",
    "ExportResult",
    "Validation",
    "aggregate",
    "export_run",
    "long_results",
    "validate",
]
