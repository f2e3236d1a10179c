"""The CLI on the client contract, run in-process (``accio.cli.main.main``) on a temporary home.

* ``validate``/``expand`` of a run file whose workflow is not beside it find the pushed workflow
  through the client, locally and against a server (``$ACCIO_SERVER``);
* run id prefixes resolve through the client, sweep children included, and an ambiguous prefix
  is a usage error (exit 1) naming the candidates;
* ``get runs --json`` and ``describe run --json`` are the REST API's shapes: they parse as its
  pydantic models and equal what ``GET /api/v1/runs[/{id}]`` answers for the same home.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from tests.clirun import InProcess, use_home

from accio.client.models import NodeDetailOut, RunDetailOut, RunOut, SubmitOut
from accio.client.sweeps import sweep_records

WORKFLOW: dict[str, Any] = {
    "id": "adder",
    "params": [
        {"name": "a", "kind": "double", "default_value": 1.0},
        {"name": "b", "kind": "double", "default_value": 2.0},
    ],
    "graph": [
        {"op": "Number", "name": "Left", "inputs": {"value": {"param": "a"}}},
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"reference": "Left/value"}, "b": {"param": "b"}},
        },
    ],
}
SWEEP: dict[str, Any] = {"workflow": "adder", "params": {"a": {"values": [1, 2, 3]}}}


@dataclass
class Env(InProcess):
    """A home, a folder holding the workflow file, and another holding only run files."""

    home: Path
    workflows: Path
    runs: Path
    capsys: pytest.CaptureFixture[str]


@pytest.fixture
def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Env:
    use_home(monkeypatch, tmp_path / "home")
    workflows, runs = tmp_path / "workflows", tmp_path / "runs"
    workflows.mkdir()
    runs.mkdir()
    (workflows / "adder.json").write_text(json.dumps(WORKFLOW))
    (runs / "sweep.json").write_text(json.dumps(SWEEP))
    monkeypatch.chdir(runs)  # the workflow file is not beside the run file, nor here
    return Env(tmp_path / "home", workflows, runs, capsys)


# -- validate / expand find pushed workflows ------------------------------------------------


def test_validate_and_expand_find_the_pushed_workflow(env: Env) -> None:
    missing = env("validate", "sweep.json", code=2)
    assert "workflow 'adder' not found" in missing.err
    env("expand", "sweep.json", code=2)

    env("push", str(env.workflows / "adder.json"))
    validated = env("validate", "sweep.json")
    assert "adder:" in validated.out and "(pushed workflows)" in validated.out
    assert "First 3 of 3 children" in validated.out
    report = env("validate", "--json", "sweep.json").json()
    assert report[0]["valid"] is True and report[0]["workflow_source"] == "pushed workflows"

    expanded = env("expand", "--json", "sweep.json", "--seed=5").json()
    assert expanded["workflow"] == "adder" and expanded["workflow_source"] == "pushed workflows"
    assert [c["params"]["a"] for c in expanded["children"]] == [1.0, 2.0, 3.0]
    assert expanded["seed"] == 5
    # the same child seeds as a submission with that seed
    sub = SubmitOut.model_validate(
        env("submit", "--no-start", "--json", "sweep.json", "-seed=5").json()
    )
    with env.client() as client:
        seeds = [c.seed for c in client.children(sub.run_id)]
    assert seeds == [c["seed"] for c in expanded["children"]]


# -- run id prefixes -------------------------------------------------------------------------


def submit_sweep(env: Env) -> tuple[str, list[str]]:
    env("push", str(env.workflows / "adder.json"))
    parent, *children = env("submit", "--no-start", "--quiet", "sweep.json").out.split()
    return parent, children


def test_describe_and_logs_accept_a_child_id_prefix(env: Env) -> None:
    parent, children = submit_sweep(env)
    child = children[1]
    shown = env("describe", "run", child[:12])
    lines = shown.out.splitlines()
    assert lines[0].split() == ["Id", child] and lines[1].split() == ["Parent", "Id", parent]
    assert "a  2.0" in shown.out
    node = env("describe", "node", f"{child[:12]}/Sum", "--json").json()
    assert NodeDetailOut.model_validate(node).run_id == child and node["state"] == "pending"
    assert env("logs", child[:8], "Sum").out == ""
    listed = env("get", "runs", "--parent", parent[:12], "--json").json()
    assert [r["id"] for r in listed] == children
    edited = env("edit", child[:12], "--name", "Renamed", "--json").json()
    assert edited["id"] == parent and edited["name"] == "Renamed"  # a child edits its parent


def _fixed_id_sweep(env: Env, prefix: str) -> tuple[str, list[str]]:
    """A sweep stored with chosen ids: a parent and children that share ``prefix``."""
    env("push", str(env.workflows / "adder.json"))
    with env.client() as client:
        sweep, _ = client.prepare(str(env.runs / "sweep.json"), seed=1)
        version = client.workflow_record("adder").version
        runs, nodes = sweep_records(sweep, version, "tester")
        ids = {r.id: f"{prefix}{i:x}".ljust(32, "0") for i, r in enumerate(runs)}
        runs = [
            replace(r, id=ids[r.id], parent_id=ids.get(r.parent_id or "", r.parent_id))
            for r in runs
        ]
        nodes = [replace(n, run_id=ids[n.run_id]) for n in nodes]
        client.storage.create_runs(runs, nodes)  # test set-up only: the CLI never does this
    return runs[0].id, [r.id for r in runs[1:]]


def test_an_ambiguous_prefix_names_its_candidates(env: Env) -> None:
    parent, children = _fixed_id_sweep(env, "abcdef")
    ambiguous = env("describe", "run", "abcdef", code=1)
    assert ambiguous.out == ""
    assert ambiguous.err.startswith("ERROR: ") and "ambiguous" in ambiguous.err
    for run_id in (parent, *children):
        assert run_id in ambiguous.err
    # one more character settles it (the second child), in every command taking a run
    assert children[1].startswith("abcdef2")
    assert env("describe", "run", "abcdef2", "--json").json()["id"] == children[1]
    assert env("kill", "ABCDEF2").out.strip() == f"Killed run {children[1]}"
    unknown = env("describe", "run", "abcdef9", code=1)
    assert "no such run: abcdef9" in unknown.err
    # kill reports the ambiguous id, still kills the known one, and exits 1
    mixed = env("kill", "abcdef", "abcdef3", code=1)
    assert "ambiguous" in mixed.err and f"Killed run {children[2]}" in mixed.out


# -- --json is the REST shape ----------------------------------------------------------------


@pytest.fixture
def api(env: Env) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from accio.server.app import create_app

    with env.client() as client, TestClient(create_app(client=client)) as http:
        yield http


def test_json_of_get_runs_and_describe_run_is_the_rest_shape(env: Env, api: Any) -> None:
    parent, children = submit_sweep(env)
    single = env("submit", "--no-start", "--quiet", "adder", "a=5").out.split()[0]

    listed = env("get", "runs", "--json").json()
    rest = api.get("/api/v1/runs").json()["items"]
    assert [RunOut.model_validate(r).id for r in listed] == [single, parent]
    assert listed == rest
    kids = env("get", "runs", "--parent", parent, "--json").json()
    assert kids == api.get(f"/api/v1/runs/{parent}/children").json()["items"]
    assert kids[0]["params"]["a"] == {"type": "double", "value": 1.0, "text": "1.0"}

    for run_id in (parent, children[0], single):
        described = env("describe", "run", run_id, "--json").json()
        detail = RunDetailOut.model_validate(described)
        rest_detail = api.get(f"/api/v1/runs/{run_id}").json()
        assert detail.model_dump(mode="json") == rest_detail
        assert {k: v for k, v in described.items() if k not in ("nodes", "children")} == (
            rest_detail
        )
    top = env("describe", "run", parent, "--json").json()
    assert top["child_counts"] == {"pending": 3} and top["param_values"] == {
        "a": ["1.0", "2.0", "3.0"],
        "b": ["2.0"],
    }
    assert [RunOut.model_validate(c).id for c in top["children"]] == children
    one = env("describe", "run", single, "--json").json()
    assert one["node_counts"] == {"pending": 2}
    nodes = [NodeDetailOut.model_validate(n) for n in one["nodes"]]
    assert [n.name for n in nodes] == ["Left", "Sum"]
    rest_node = api.get(f"/api/v1/runs/{single}/nodes/Sum").json()
    assert one["nodes"][1] == rest_node


# -- against a server ($ACCIO_SERVER) ----------------------------------------------------------


def test_the_same_commands_against_a_server(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from accio.server.app import create_app
    from accio.server.http import serve_in_thread

    with env.client() as local:
        server = serve_in_thread(create_app(client=local), "127.0.0.1", 0)
        try:
            monkeypatch.setenv("ACCIO_SERVER", server.url)
            monkeypatch.setenv("ACCIO_HOME", str(env.home.parent / "elsewhere"))
            env("push", str(env.workflows / "adder.json"))
            assert "(pushed workflows)" in env("validate", "sweep.json").out
            assert env("expand", "--json", "sweep.json").json()["children"]
            parent, *children = env("submit", "--no-start", "--quiet", "sweep.json").out.split()
            shown = env("describe", "run", children[2][:12], "--json").json()
            assert shown["id"] == children[2] and shown["parent_id"] == parent
            assert env("describe", "run", "0" * 12, code=1).err.startswith("ERROR: ")
        finally:
            server.stop()
    assert not (env.home.parent / "elsewhere").exists()  # nothing was stored locally
