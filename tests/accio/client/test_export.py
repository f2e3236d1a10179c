"""Export of results: the long table, aggregation over repeats (checked by hand), validation,
files on disk and the ``accio export`` command."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from accio.client.client import Client
from accio.client.export import (
    aggregate,
    explode,
    export_run,
    long_results,
    parse_selection,
    validate,
)
from accio.config import Settings
from accio.errors import NotFoundError, UsageError

WORKFLOW: dict[str, Any] = {
    "id": "noisy",
    "params": [
        {"name": "a", "kind": "double"},
        {"name": "scale", "kind": "double", "default_value": 1.0},
        {"name": "rows", "kind": "integer", "default_value": 4},
    ],
    "graph": [
        {"op": "Number", "name": "Num", "inputs": {"value": {"param": "a"}}},
        {
            "op": "Noise",
            "name": "Noisy",
            "inputs": {"value": {"reference": "Num/value"}, "scale": {"param": "scale"}},
        },
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": {"param": "rows"}}},
        {"op": "Mean", "name": "Avg", "inputs": {"data": {"reference": "Table/data"}}},
    ],
}
SWEEP: dict[str, Any] = {
    "workflow": "noisy",
    "seed": 7,
    "repeat": 3,
    "params": {"a": {"values": [1, 2]}, "scale": {"values": [0.5, 2.0]}},
}
FAILING: dict[str, Any] = {
    "id": "failing",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "Num", "inputs": {"value": {"param": "x"}}},
        {"op": "Fail", "name": "Boom", "inputs": {"value": {"reference": "Num/value"}}},
    ],
}
#: Student's t quantile t(0.975, 2), from a printed table: the 95 % CI of 3 repeats.
T_975_2 = 4.302652729911275


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    with Client(settings=Settings.from_env(), autostart=False) as c:
        c.push(WORKFLOW)
        c.push(FAILING)
        yield c


@pytest.fixture
def sweep(client: Client) -> str:
    sub = client.submit(SWEEP)
    client.execute("inline")
    return sub.run_id


def test_long_table_has_one_row_per_child_and_output(client: Client, sweep: str) -> None:
    table = long_results(client, sweep)
    cols = table.column_names
    assert cols[:2] == ["run_id", "name"]
    assert {"a", "scale", "rows", "repeat", "seed", "node", "output", "key", "value"} <= set(cols)
    # 12 children x (Num/value, Noisy/value, Table/data, Avg/mean, Avg/count)
    assert len(table) == 12 * 5
    rows = table.to_pylist()
    noisy = [r for r in rows if (r["node"], r["output"]) == ("Noisy", "value")]
    assert len(noisy) == 12
    assert {(r["a"], r["scale"]) for r in noisy} == {
        (1.0, 0.5),
        (1.0, 2.0),
        (2.0, 0.5),
        (2.0, 2.0),
    }
    # 1-based, as the children are named (#1, #2, #3); was 0-based before
    assert sorted(r["repeat"] for r in noisy) == [1] * 4 + [2] * 4 + [3] * 4
    data = [r for r in rows if r["node"] == "Table"]
    assert all(r["type"] == "dataset" and r["value"] is None for r in data)
    assert all(len(r["text"]) == 64 for r in data)  # the digest
    counts = [r for r in rows if r["output"] == "count"]
    assert {r["value"] for r in counts} == {4.0}


def test_output_selection(client: Client, sweep: str) -> None:
    table = long_results(client, sweep, ["Noisy/value", "Avg"])
    assert set(
        zip(table.column("node").to_pylist(), table.column("output").to_pylist(), strict=True)
    ) == {
        ("Noisy", "value"),
        ("Avg", "mean"),
        ("Avg", "count"),
    }
    with pytest.raises(UsageError, match="no node 'Nope'"):
        long_results(client, sweep, ["Nope/value"])
    with pytest.raises(UsageError, match="no output 'nope'"):
        long_results(client, sweep, ["Noisy/nope"])
    with pytest.raises(UsageError):
        parse_selection(["a/b/c"])


def test_aggregate_matches_a_hand_computation(client: Client, sweep: str) -> None:
    table = long_results(client, sweep, ["Noisy/value"])
    by_combo: dict[tuple[float, float], list[float]] = {}
    for row in table.to_pylist():
        by_combo.setdefault((row["a"], row["scale"]), []).append(row["value"])
    stats = aggregate(table).to_pylist()
    assert len(stats) == 4
    for row in stats:
        values = by_combo[(row["a"], row["scale"])]
        assert len(values) == 3 == row["count"]
        mean = sum(values) / 3
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)  # sample std, n - 1
        half = T_975_2 * std / math.sqrt(3)
        assert row["mean"] == pytest.approx(mean, rel=1e-12)
        assert row["std"] == pytest.approx(std, rel=1e-9)
        assert row["ci95"] == pytest.approx(half, rel=1e-9)
        assert row["ci_low"] == pytest.approx(mean - half, rel=1e-9)
        assert row["ci_high"] == pytest.approx(mean + half, rel=1e-9)
        assert (row["node"], row["output"], row["key"]) == ("Noisy", "value", None)


def test_aggregate_by_one_parameter_pools_the_others(client: Client, sweep: str) -> None:
    table = long_results(client, sweep, ["Noisy/value"])
    stats = aggregate(table, by=["a"]).to_pylist()
    assert [r["a"] for r in stats] == [1.0, 2.0]
    for row in stats:
        values = [r["value"] for r in table.to_pylist() if r["a"] == row["a"]]
        assert row["count"] == 6
        assert row["mean"] == pytest.approx(statistics.fmean(values))
        assert row["std"] == pytest.approx(statistics.stdev(values))
    with pytest.raises(UsageError, match="not a parameter"):
        aggregate(table, by=["node"])


def test_aggregate_of_one_value_has_no_spread() -> None:
    table = pa.table({"p": [1], "node": ["N"], "output": ["o"], "key": [None], "value": [2.5]})
    table = table.replace_schema_metadata({b"accio.params": b'["p"]'})
    (row,) = aggregate(table).to_pylist()
    assert row["mean"] == 2.5 and row["count"] == 1
    assert row["std"] is None and row["ci95"] is None


def test_collections_explode_one_row_per_element() -> None:
    rows = explode({"type": "map(string, double)", "value": {"t1": 0.5, "t2": 1.5}})
    assert rows == [("double", "t1", 0.5, None), ("double", "t2", 1.5, None)]
    assert explode({"type": "list(string)", "value": ["x", "y"]}) == [
        ("string", "0", None, "x"),
        ("string", "1", None, "y"),
    ]
    assert explode({"type": "distance", "value": 12.5}) == [("distance", None, 12.5, None)]
    assert explode({"type": "boolean", "value": True}) == [("boolean", None, None, "true")]


def test_validation_lists_failed_and_missing_children(client: Client) -> None:
    sub = client.submit({"workflow": "failing", "params": {"x": {"values": [1, 2, 3]}}})
    client.execute("inline")
    client.delete([sub.child_ids[0]])
    report = validate(client, sub.run_id)
    assert (report.expected, report.found, report.succeeded) == (3, 2, 0)
    assert not report.ok
    reasons = {p.child_index: p.reason for p in report.problems}
    assert reasons[0] == "missing (deleted)"
    assert "failed: node Boom: asked to fail" in reasons[1]
    # the succeeded Num nodes still export
    assert set(long_results(client, sub.run_id).column("node").to_pylist()) == {"Num"}


def test_validation_of_a_complete_sweep_is_ok(client: Client, sweep: str) -> None:
    report = validate(client, sweep)
    assert report.ok and (report.expected, report.found, report.succeeded) == (12, 12, 12)


def test_export_writes_csv_split_and_aggregated(
    client: Client, sweep: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = export_run(
        client, [sweep, "f" * 32], out, split_by="a", aggregated=True, datasets=True
    )
    assert result.directory == out.absolute()
    assert result.runs == 12 and result.rows == 60
    assert any("no such run" in w for w in result.warnings)
    names = {p.relative_to(out).as_posix() for p in result.files}
    assert {"a=1.0/results.csv", "a=2.0/results.csv", "a=1.0/aggregate.csv"} <= names
    assert "validation.json" in names
    datasets = [p for p in result.files if p.suffix == ".parquet"]
    assert len(datasets) == 12 and all(p.parent.name == "Table-data" for p in datasets)
    assert pq.read_table(datasets[0]).column_names == ["id", "x"]
    part = pacsv.read_csv(out / "a=1.0" / "results.csv")
    assert set(part.column("a").to_pylist()) == {1.0} and len(part) == 30
    agg = pacsv.read_csv(out / "a=2.0" / "aggregate.csv").to_pylist()
    assert {r["count"] for r in agg} == {3}
    assert json.loads((out / "validation.json").read_text())[0]["ok"] is True


def test_export_parquet_keeps_types(client: Client, sweep: str, tmp_path: Path) -> None:
    result = export_run(client, [sweep], tmp_path / "p", fmt="parquet", outputs=["Avg/mean"])
    table = pq.read_table(tmp_path / "p" / "results.parquet")
    assert table.schema.field("value").type == pa.float64()
    assert len(table) == 12 and result.rows == 12
    with pytest.raises(UsageError, match="cannot split"):
        export_run(client, [sweep], tmp_path / "q", split_by="nope")
    with pytest.raises(NotFoundError):
        export_run(client, ["0" * 32], tmp_path / "r")


def test_export_command(
    client: Client, sweep: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from accio.cli.main import main

    out = tmp_path / "cli"
    args = ["export", sweep[:10], "--format", "parquet", "--out", str(out), "--aggregate"]
    code = main(args)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"Writing export to {out.absolute()}" in printed
    assert "Found 12 matching runs" in printed
    assert (out / "results.parquet").exists() and (out / "aggregate.parquet").exists()
    code = main(["export", sweep, "--outputs", "Nope/x", "--out", str(tmp_path / "bad")])
    assert code == 1
