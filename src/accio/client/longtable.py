"""A run's outputs as one long table, its aggregate over repeats, and its validation.

The long table has one row per (child run, output value): ``run_id``, ``name`` (the child's
name), one column per run parameter, ``repeat`` (1-based, as ``#1`` in child names), ``seed``,
``node``, ``output``, ``type``, ``key``, ``value`` and ``text``. Collections are exploded, one row per element: ``key`` holds the
map key, or the list/set position. Numeric values (types.md §1: integers, doubles, distances in
metres, durations in milliseconds) go to ``value`` (float64) so that they aggregate; every other
value goes to ``text`` as its canonical rendering, and a dataset as its digest. One long shape for
every workflow keeps the file format stable when a workflow gains an output.

::

    from accio.client.longtable import aggregate, long_results
    table = long_results(client, run_id)         # any AccioClient, local or remote
    stats = aggregate(table)                     # mean, std, 95 % CI, count over repeats
"""

from __future__ import annotations

import importlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from accio.errors import AccioError, UsageError
from accio.storage.records import NodeRecord, RunRecord
from accio.values.canonical import from_canonical
from accio.values.render import render
from accio.values.types import DataType, parse_type

if TYPE_CHECKING:
    from accio.client.contract import AccioClient as Client

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
            "repeat": child.repeat_index + 1,  # 1-based, as the child names (#1)
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
                child.repeat_index + 1,
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
    "FIXED_COLUMNS",
    "PARAMS_KEY",
    "ChildProblem",
    "Validation",
    "aggregate",
    "explode",
    "long_results",
    "param_column",
    "param_columns",
    "parse_selection",
    "validate",
    "validation_json",
]
