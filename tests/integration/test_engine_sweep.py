"""End to end on the embedded default: a seeded sweep, memoization, explain, crash isolation."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accio.client.client import Client
from accio.config import Settings

pytestmark = pytest.mark.integration

WORKFLOW: dict[str, Any] = {
    "id": "noisy_sum",
    "params": [
        {"name": "a", "kind": "double"},
        {"name": "b", "kind": "double"},
        {"name": "scale", "kind": "double", "default_value": 1.0},
    ],
    "graph": [
        {"op": "Number", "name": "NumA", "inputs": {"value": {"param": "a"}}},
        {"op": "Number", "name": "NumB", "inputs": {"value": {"param": "b"}}},
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"reference": "NumA/value"}, "b": {"reference": "NumB/value"}},
        },
        {
            "op": "Noise",
            "name": "Noisy",
            "inputs": {"value": {"reference": "Sum/sum"}, "scale": {"param": "scale"}},
        },
        {
            "op": "Add",
            "name": "Final",
            "inputs": {"a": {"reference": "Noisy/value"}, "b": {"reference": "NumB/value"}},
        },
    ],
}
SWEEP: dict[str, Any] = {
    "workflow": "noisy_sum",
    "seed": 20170615,
    "repeat": 3,
    "params": {
        "a": {"values": [1, 2]},
        "b": {"from": 0, "to": 1, "step": 0.5},
        "scale": {"values": [0.1, 10]},
    },
}


POSTGRES_URL = os.environ.get("ACCIO_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def client(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:
    """The same engine tests on the embedded SQLite default and on PostgreSQL (when available)."""
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCIO_CPUS", "2")
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip("set ACCIO_TEST_POSTGRES_URL to test PostgreSQL")
        from accio.storage import schema
        from accio.storage.sqlite import open_storage

        storage = open_storage(POSTGRES_URL)
        names = ", ".join(t.name for t in schema.metadata.sorted_tables)
        with storage.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} CASCADE")
        storage.close()
        monkeypatch.setenv("ACCIO_DATABASE_URL", POSTGRES_URL)
    with Client(settings=Settings.from_env(), autostart=False) as c:
        c.push(WORKFLOW)
        yield c


def outputs(client: Client, run_id: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Outputs of every child, keyed by (params, repeat index)."""
    out = {}
    for child in client.children(run_id):
        params = tuple(sorted((k, v["value"]) for k, v in json.loads(child.params).items()))
        out[(params, child.repeat_index)] = {
            n.name: json.loads(n.outputs or "{}") for n in client.nodes(child.id)
        }
    return out


def node_states(client: Client, run_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for child in client.children(run_id):
        for node in client.nodes(child.id):
            counts[node.state] = counts.get(node.state, 0) + 1
    return counts


def test_seeded_sweep_memoized_and_explained(client: Client) -> None:
    first = client.submit(SWEEP)
    assert len(first.child_ids) == 2 * 3 * 2 * 3
    client.execute("local", timeout=120)
    parent = client.run(first.run_id)
    assert parent.state == "success" and parent.progress == 1.0
    assert all(c.state == "success" for c in client.children(first.run_id))
    results = outputs(client, first.run_id)
    # repeats of one combination differ (different child seeds), stable nodes are shared
    finals = {k: v["Final"]["sum"]["value"] for k, v in results.items()}
    by_combo: dict[Any, set[float]] = {}
    for (params, _), value in finals.items():
        by_combo.setdefault(params, set()).add(value)
    assert all(len(values) == 3 for values in by_combo.values())

    # Same definition, same seed: nothing executes, outputs identical.
    again = client.submit(SWEEP)
    client.execute("local", timeout=120)
    assert node_states(client, again.run_id) == {"cached": 36 * 5}
    assert outputs(client, again.run_id) == results

    # Change one value of `a`: only nodes downstream of `a` run for the affected children.
    changed = json.loads(json.dumps(SWEEP))
    changed["params"]["a"] = {"values": [1, 3]}
    third = client.submit(changed)
    client.execute("local", timeout=120)
    third_ids = set(third.child_ids)
    executed: set[str] = set()
    for child in client.children(third.run_id):
        a = json.loads(child.params)["a"]["value"]
        nodes = {n.name: n for n in client.nodes(child.id)}
        executed |= {name for name, n in nodes.items() if n.state == "success"}
        if a == 1:
            assert {n.state for n in nodes.values()} == {"cached"}
        else:
            assert nodes["NumB"].state == "cached" and nodes["NumB"].cache_source not in third_ids
            for name in ("NumA", "Sum", "Noisy", "Final"):
                # computed in this run: here, or once for identical siblings
                node = nodes[name]
                assert node.state == "success" or node.cache_source in third_ids
    assert executed == {"NumA", "Sum", "Noisy", "Final"}
    # explain names the changed component
    child3 = next(
        c for c in client.children(third.run_id) if json.loads(c.params)["a"]["value"] == 3
    )
    explained = {e.node: e for e in client.explain(child3.id)}
    assert explained["NumB"].verdict == "hit"
    assert explained["NumA"].verdict == "executed"
    assert explained["NumA"].differences == ("input value",)
    assert "seed" in explained["Noisy"].differences


def test_without_seed_repeats_and_resubmissions_differ(client: Client) -> None:
    run = {"workflow": "noisy_sum", "repeat": 2, "params": {"a": 1, "b": 2}}
    first = client.submit(run)
    second = client.submit(run)
    assert first.seed != second.seed and not first.seed_given
    client.execute("local", timeout=60)
    values = [
        json.loads(client.node(c, "Final").outputs or "{}")["sum"]["value"]
        for c in (*first.child_ids, *second.child_ids)
    ]
    assert len(set(values)) == 4
    # the stable part is still shared
    assert {client.node(c, "Sum").state for c in second.child_ids} == {"cached"}


def test_failure_skips_downstream_and_other_children_go_on(client: Client) -> None:
    client.push(
        {
            "id": "maybe_fail",
            "params": [{"name": "x", "kind": "double"}, {"name": "msg", "kind": "string"}],
            "graph": [
                {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
                {
                    "op": "Fail",
                    "name": "Boom",
                    "inputs": {"value": {"reference": "In/value"}, "message": {"param": "msg"}},
                },
                {"op": "Add", "name": "After", "inputs": {"a": {"reference": "Boom/value"}}},
                {"op": "Add", "name": "Side", "inputs": {"a": {"reference": "In/value"}}},
            ],
        }
    )
    sub = client.submit(
        {"workflow": "maybe_fail", "params": {"x": {"values": [1, 2]}, "msg": "bad input"}}
    )
    client.execute("local", timeout=60)
    assert client.run(sub.run_id).state == "failed"
    for child in sub.child_ids:
        states = {n.name: n.state for n in client.nodes(child)}
        assert states == {"In": "success", "Boom": "failed", "After": "skipped", "Side": "success"}
        error = json.loads(client.node(child, "Boom").error or "{}")
        assert error["classifier"] == "RuntimeError" and error["message"] == "bad input"
        assert "accio/executors" not in error["stacktrace"]


def test_a_crashing_operator_fails_only_its_node(client: Client) -> None:
    client.push(
        {
            "id": "crashy",
            "params": [{"name": "x", "kind": "double"}],
            "graph": [
                {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
                {"op": "Crash", "name": "Die", "inputs": {"value": {"reference": "In/value"}}},
                {
                    "op": "Sleep",
                    "name": "Other",
                    "inputs": {"value": {"reference": "In/value"}, "duration": "200.milliseconds"},
                },
            ],
        }
    )
    sub = client.submit({"workflow": "crashy", "params": {"x": {"values": [1, 2, 3]}}})
    client.execute("local", timeout=60)
    for child in sub.child_ids:
        die = client.node(child, "Die")
        assert die.state == "failed" and die.attempts == 2  # one retry after a worker crash
        assert "exit code 13" in json.loads(die.error or "{}")["message"]
        assert client.node(child, "Other").state == "success"
