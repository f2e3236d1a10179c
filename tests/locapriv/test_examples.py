"""examples/compare and examples/tune: committed definitions in sync with their generator, valid
against the operator registry, and the comparison protocol run end to end for two mechanisms."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

import pytest

from accio.client.client import Client
from accio.config import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    return _module(EXAMPLES / "compare" / "compare.py")


def _client(home: Path) -> Client:
    env = {**os.environ, "ACCIO_HOME": str(home), "ACCIO_CPUS": "1"}
    return Client(settings=Settings.from_env(env), autostart=False)


def test_compare_definitions_are_generated_and_valid(compare, tmp_path) -> None:
    with _client(tmp_path / "home") as client:
        for name in compare.MECHANISMS:
            doc = compare.workflow(name)
            committed = EXAMPLES / "compare" / "workflows" / f"compare_{name}.json"
            assert json.loads(committed.read_text()) == doc, f"run compare.py --write ({name})"
            run = json.loads((EXAMPLES / "compare" / "runs" / f"compare_{name}.json").read_text())
            assert run == compare.run_file(name)
            record, _ = client.push(committed)
            assert record.id == f"compare_{name}"
        client.push(EXAMPLES / "tune" / "geoind_distortion.json")


def test_compare_protocol_runs_through_the_engine(compare, tmp_path) -> None:
    import pyarrow.parquet as pq

    from accio_locapriv.synthetic import generate_traces

    events, _ = generate_traces(5, 2, 300_000, 10.0, (45.76, 4.84), seed=2)
    url = tmp_path / "traces.parquet"
    pq.write_table(events, url)
    with _client(tmp_path / "home") as client:
        runs = {}
        for name in ("geoind", "kanon"):
            client.push(compare.workflow(name))
            sub = client.submit(
                compare.run_file(name), params={"url": str(url), "kind": "parquet"}
            )
            runs[name] = sub.run_id
        client.execute("local", timeout=600)
        for run_id in runs.values():
            assert client.wait(run_id).state == "success"
            rows = client.results(run_id).to_pylist()
            assert len(rows) == 5
            for row in rows:
                for column in compare.METRICS:
                    assert row[column] is not None and 0 <= row[column] < 1e5
        # Shared protocol: the split and the attacker's POIs ran once for both mechanisms.
        executed = [
            n.name
            for run_id in runs.values()
            for child in client.results(run_id).to_pylist()
            for n in client.nodes(child["run_id"] if "run_id" in child else child["id"])
            if n.state == "success" and n.cache_source in (None, n.run_id)
        ]
        assert executed.count("Train") == 1 and executed.count("TrainPois") == 1
