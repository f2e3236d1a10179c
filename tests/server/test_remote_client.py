"""RemoteClient against a real server in a thread: the same answers as the local client, the
same errors, and the CLI pointed at it with $ACCIO_SERVER."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accio.client.client import Client
from accio.client.remote import RemoteClient
from accio.config import Settings
from accio.errors import AccioError, DefinitionError, NotFoundError
from accio.server.app import create_app
from accio.server.http import ServerHandle, serve_in_thread
from accio.storage.records import RunsFilter

WORKFLOW: dict[str, Any] = {
    "id": "adder",
    "name": "Adder",
    "params": [{"name": "a", "kind": "double"}, {"name": "b", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "Left", "inputs": {"value": {"param": "a"}}},
        {"op": "Number", "name": "Right", "inputs": {"value": {"param": "b"}}},
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"reference": "Left/value"}, "b": {"reference": "Right/value"}},
        },
    ],
}


@dataclass
class Remote:
    local: Client
    server: ServerHandle
    client: RemoteClient
    env: dict[str, str]


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIO_PLUGINS", "accio.testing:operators")
        mp.setenv("ACCIO_HOME", str(home))
        mp.setenv("ACCIO_USER", "alice")
        settings = Settings.from_env()
        local = Client(settings=settings, autostart=False)
        server = serve_in_thread(create_app(settings=settings, client=local), "127.0.0.1", 0)
        client = RemoteClient(server.url, timeout=10)
        env = {**os.environ, "ACCIO_SERVER": server.url}
        env["ACCIO_HOME"] = str(tmp_path_factory.mktemp("elsewhere"))  # not the server's home
        try:
            yield Remote(local, server, client, env)
        finally:
            client.close()
            server.stop()
            local.close()


def test_push_submit_and_read_back(remote: Remote, tmp_path: Path) -> None:
    client = remote.client
    file = tmp_path / "adder.json"
    file.write_text(json.dumps({k: v for k, v in WORKFLOW.items() if k != "id"}))
    record, new = client.push(file)  # the id comes from the file name, as locally
    assert (record.id, new, record.name) == ("adder", True, "Adder")
    assert json.loads(record.definition)["graph"][2]["op"] == "Add"
    assert client.push(WORKFLOW)[1] is False
    assert client.workflow("adder").version == record.version

    sweep = {"workflow": "adder", "params": {"a": {"values": [1, 2]}}, "seed": 7}
    sub = client.submit(sweep, params={"b": "10"}, name="sweep", tags=["x"], repeat=2)
    assert len(sub.child_ids) == 4 and sub.seed == 7 and sub.seed_given
    assert sub.workflow.id == "adder" and sub.workflow.version == record.version
    remote.local.execute("inline")

    run = client.wait(sub.run_id, timeout=10)
    assert run.state == "success" and run.is_parent and run.n_children == 4
    assert (run.name, run.tags) == ("sweep", ("x",))
    assert run == remote.local.run(sub.run_id)

    children = client.children(sub.run_id)
    assert [c.id for c in children] == list(sub.child_ids)
    local_children = remote.local.children(sub.run_id)
    assert children == local_children
    assert [c.id for c in client.children(sub.run_id, limit=2, offset=1)] == list(
        sub.child_ids[1:3]
    )
    assert [r.id for r in client.runs(RunsFilter(tags=("x",)))] == [sub.run_id]
    assert client.runs(RunsFilter(workflow="nope")) == []
    assert client.count_runs(RunsFilter(parent_id=sub.run_id, states=("success",))) == 4

    requests: list[str] = []
    client._http.event_hooks["request"].append(lambda r: requests.append(r.url.path))
    nodes = client.nodes(children[0].id)
    client._http.event_hooks["request"].clear()
    assert nodes == remote.local.nodes(children[0].id)  # outputs included
    assert len(requests) == 1, requests  # one request for every node, outputs and all
    total = client.node(children[0].id, "Sum")
    assert json.loads(total.outputs or "{}")["sum"]["value"] == 11.0
    assert client.node_counts(children[0].id) == {"success": 3}
    assert client.child_counts(sub.run_id) == {"success": 4}

    table = client.results(sub.run_id)
    assert table.num_rows > 0 and "run_id" in table.column_names

    verdicts = client.explain(children[1].id)
    assert {e.node for e in verdicts} == {"Left", "Right", "Sum"}
    assert client.explain(children[0].id, "Sum")[0].verdict
    assert client.logs(children[0].id, "Sum") == []

    edited = client.edit(children[0].id, notes="noted", tags=["x", "y"])  # edits the parent
    assert edited.id == sub.run_id and edited.notes == "noted"
    assert client.run(sub.run_id).tags == ("x", "y")

    single = client.submit({"workflow": "adder", "params": {"a": 1, "b": 2}})
    assert single.child_ids == () and not single.seed_given
    assert client.delete([single.run_id]) == [single.run_id]
    with pytest.raises(NotFoundError):
        client.run(single.run_id)


def test_errors_map_to_accio_errors(remote: Remote, tmp_path: Path) -> None:
    client = remote.client
    with pytest.raises(NotFoundError):
        client.run("f" * 32)
    with pytest.raises(NotFoundError):
        client.workflow("no-such-workflow")
    bad = dict(WORKFLOW, id="bad", graph=[{"op": "Nope", "name": "X", "inputs": {}}])
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(bad))
    with pytest.raises(DefinitionError) as caught:
        client.push(file)
    assert caught.value.exit_code == 2
    assert any(p.path.startswith("graph[0]") for p in caught.value.errors)
    assert all(p.file == str(file) for p in caught.value.errors)
    with pytest.raises(DefinitionError) as caught:
        client.submit({"workflow": "adder", "params": {"a": "not a number", "b": 1}})
    assert any("params.a" in p.path for p in caught.value.errors)

    gone = RemoteClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(AccioError, match="cannot reach the Accio server") as failure:
        gone.run("x")
    assert failure.value.exit_code == 5
    gone.close()


def test_cli_against_the_server(remote: Remote) -> None:
    sub = remote.client.submit({"workflow": "adder", "params": {"a": 3, "b": 4}, "name": "cli"})
    accio = str(Path(sys.executable).parent / "accio")
    listed = subprocess.run(
        [accio, "get", "runs", "--json"],
        env=remote.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert sub.run_id in {r["id"] for r in json.loads(listed.stdout)}
    submitted = subprocess.run(
        [accio, "submit", "adder", "a=1", "b=2", "--repeat", "2", "--json"],
        env=remote.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert submitted.returncode == 0, submitted.stderr
    created = json.loads(submitted.stdout)
    assert len(created["child_ids"]) == 2 and created["workflow_id"] == "adder"  # SubmitOut
    missing = subprocess.run(
        [accio, "describe", "run", "nosuchrun"],
        env=remote.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1
    assert "ERROR" in missing.stderr and "Traceback" not in missing.stderr
