"""The client contract, once for both clients: the local one on a home, and the remote one
against the real app served over loopback HTTP from a thread. Same records, same shapes (the
wide ``results()`` table included), same errors."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from accio.client.contract import AccioClient
from accio.client.local import LocalClient
from accio.client.remote import RemoteClient
from accio.config import Settings
from accio.errors import NotFoundError, UsageError
from accio.server.app import create_app
from accio.server.http import ServerHandle, serve_in_thread
from accio.storage.records import RunsFilter

WORKFLOW: dict[str, Any] = {
    "id": "stats",
    "name": "Stats",
    "params": [{"name": "a", "kind": "double"}, {"name": "rows", "kind": "integer"}],
    "graph": [
        {"op": "Number", "name": "Left", "inputs": {"value": {"param": "a"}}},
        {"op": "Number", "name": "Right", "inputs": {"value": 10}},
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"reference": "Left/value"}, "b": {"reference": "Right/value"}},
        },
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": {"param": "rows"}}},
        {"op": "Mean", "name": "Mean", "inputs": {"data": {"reference": "Table/data"}}},
    ],
}
#: 4 values x 4 repeats: 16 children and a parent, so two of the 17 ids share a first character.
SWEEP: dict[str, Any] = {
    "workflow": "stats",
    "params": {"a": {"values": [1, 2, 3, 4]}, "rows": 3},
    "repeat": 4,
    "seed": 11,
    "name": "contract sweep",
    "tags": ["contract"],
}


@dataclass
class Home:
    local: LocalClient
    remote: RemoteClient
    server: ServerHandle
    sweep: str
    children: list[str]
    single: str


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIO_PLUGINS", "accio.testing:operators")
        mp.setenv("ACCIO_HOME", str(tmp_path_factory.mktemp("home")))
        mp.setenv("ACCIO_USER", "alice")
        settings = Settings.from_env()
        local = LocalClient(settings=settings, autostart=False)
        local.push(WORKFLOW)
        sweep = local.submit(SWEEP)
        single = local.submit({"workflow": "stats", "params": {"a": 5, "rows": 2}})
        local.execute("inline")
        server = serve_in_thread(create_app(client=local), "127.0.0.1", 0)
        remote = RemoteClient(server.url, timeout=10)
        try:
            yield Home(local, remote, server, sweep.run_id, list(sweep.child_ids), single.run_id)
        finally:
            remote.close()
            server.stop()
            local.close()


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, home: Home) -> AccioClient:
    chosen: AccioClient = home.local if request.param == "local" else home.remote
    return chosen


def test_both_implement_the_protocol(home: Home) -> None:
    assert isinstance(home.local, AccioClient)
    assert isinstance(home.remote, AccioClient)


def test_workflows(client: AccioClient, home: Home) -> None:
    record = client.workflow_record("stats")
    assert (record.id, record.name, record.active) == ("stats", "Stats", True)
    assert json.loads(record.definition)["graph"][2]["op"] == "Add"
    assert client.workflow_record(f"stats:{record.version[:8]}") == record
    assert client.workflow("stats").version == record.version
    assert client.find_stored_workflow("nope") is None
    assert [w.id for w in client.workflows()] == ["stats"]
    assert client.workflows(text="zzz") == [] and client.count_workflows() == 1
    assert [w.version for w in client.workflow_versions("stats")] == [record.version]
    assert client.workflow_versions("nope") == []
    with pytest.raises(NotFoundError):
        client.workflow("nope")


def test_operators(client: AccioClient) -> None:
    names = [o.name for o in client.operators()]
    assert "Add" in names and "Mean" in names
    mean = client.operator("Mean")
    assert [p.name for p in mean.outputs] == ["mean", "count"]
    with pytest.raises(NotFoundError, match="Mean"):  # the suggestion names it
        client.operator("Meen")


def test_runs_children_and_counts(client: AccioClient, home: Home) -> None:
    parent = client.run(home.sweep)
    assert parent == home.local.run(home.sweep)
    assert (parent.state, parent.n_children, parent.tags) == ("success", 16, ("contract",))
    listed = client.runs(RunsFilter(tags=("contract",)))
    assert [r.id for r in listed] == [home.sweep]
    assert client.count_runs(workflow="stats") == 2
    children = client.children(home.sweep)
    assert [c.id for c in children] == home.children
    assert [c.id for c in client.children(home.sweep, limit=2, offset=3)] == home.children[3:5]
    assert client.child_counts(home.sweep) == {"success": 16}
    assert client.child_counts(home.single) == {}
    assert client.node_counts(home.children[0]) == {"success": 5}
    per_node = client.child_node_counts(home.sweep)
    assert set(per_node) == {"Left", "Right", "Sum", "Table", "Mean"}
    assert sum(per_node["Right"].values()) == 16 and per_node["Right"].get("cached", 0) >= 12

    nodes = client.nodes(home.children[0])
    assert nodes == home.local.nodes(home.children[0])
    total = client.node(home.children[0], "Sum")
    assert json.loads(total.outputs or "{}")["sum"]["value"] == 11.0
    with pytest.raises(NotFoundError):
        client.node(home.children[0], "Nope")
    with pytest.raises(NotFoundError):
        client.run("f" * 32)


def test_run_id_prefixes_include_children(client: AccioClient, home: Home) -> None:
    child = home.children[5]
    assert client.resolve_run_id(child) == child
    assert client.resolve_run_id(child[:16]) == child
    ids = sorted([home.sweep, *home.children])
    first = next(a for a, b in itertools.pairwise(ids) if a[0] == b[0])[0]
    shared = [i for i in [*ids, home.single] if i.startswith(first)]
    assert client.run_ids_with_prefix(first, limit=50) == sorted(shared)
    with pytest.raises(UsageError, match="ambiguous") as info:
        client.resolve_run_id(first)
    assert shared[0] in str(info.value)  # the message names the candidates
    with pytest.raises(NotFoundError):
        client.resolve_run_id("zz")
    with pytest.raises(UsageError):
        client.resolve_run_id("")


def test_results_are_the_same_wide_table(client: AccioClient, home: Home) -> None:
    table = client.results(home.sweep)
    assert table.num_rows == 16
    for column in ("run_id", "name", "repeat", "seed", "state", "a", "rows", "Sum/sum"):
        assert column in table.column_names
    assert "Mean/mean" in table.column_names
    assert all(len(d) == 64 for d in table.column("Table/data").to_pylist())  # by digest
    assert table.column("run_id").to_pylist() == home.children
    assert table.to_pylist() == home.local.results(home.sweep).to_pylist()
    single = client.results(home.single)
    assert single.num_rows == 1 and single.column("Sum/sum").to_pylist() == [15.0]


def test_explain_logs_and_datasets(client: AccioClient, home: Home) -> None:
    explained = client.explain(home.children[1])
    assert {e.node for e in explained} == {"Left", "Right", "Sum", "Table", "Mean"}
    assert client.explain(home.children[1], "Right")[0].verdict == "hit"
    assert client.logs(home.children[0], "Sum") == []
    lines = client.logs(home.children[0], "Mean")
    assert [x.line for x in lines] == ["averaging 3 values"]
    with pytest.raises(NotFoundError):
        client.logs(home.children[0], "Nope")

    outputs = json.loads(client.node(home.children[0], "Table").outputs or "{}")
    digest = outputs["data"]["value"]
    table = client.dataset(digest)
    assert table.column_names == ["id", "x"] and table.num_rows == 3
    with pytest.raises(NotFoundError):
        client.dataset("0" * 64)


def test_prepare_submit_edit_kill_delete(client: AccioClient, home: Home) -> None:
    sweep, warnings = client.prepare(SWEEP, repeat=1)
    assert len(sweep) == 4 and warnings == []
    sub = client.submit({"workflow": "stats", "params": {"a": 9, "rows": 1}}, name="to kill")
    assert sub.child_ids == () and not sub.seed_given
    edited = client.edit(sub.run_id, notes="noted", tags=["k"])
    assert (edited.name, edited.notes, edited.tags) == ("to kill", "noted", ("k",))
    client.kill([sub.run_id])
    assert client.run(sub.run_id).state == "killed"
    assert client.delete([sub.run_id]) == [sub.run_id]
    with pytest.raises(NotFoundError):
        client.run(sub.run_id)


def test_wait_and_scheduler_status(client: AccioClient, home: Home) -> None:
    assert client.wait(home.single, timeout=5).state == "success"
    status = client.scheduler_status()
    assert status.remote is isinstance(client, RemoteClient)
    assert status.running is False  # no scheduler serves the home (the server only serves HTTP)
    assert status.executor is None and status.condition is None
    # the remote client never starts or replays anything itself: the server's side does
    assert client.scheduler_running() is isinstance(client, RemoteClient)


def test_progress_failure_reasons_and_retention(client: AccioClient, home: Home) -> None:
    # a sweep's progress is over every child's nodes: 16 children x 5 nodes
    progress = client.node_progress(home.sweep)
    assert sum(progress.values()) == 80
    assert set(progress) <= {"success", "cached"}
    assert client.node_progress(home.single) == home.local.node_counts(home.single)
    assert client.failure_reason(home.sweep) is None
    # retention, dry run only (the module's home is shared): keep the newest run
    plan = client.retain(keep_last=1, dry_run=True)
    assert plan.dry_run is True and plan.runs == [home.sweep]
    assert plan.runs_deleted == 17
    assert client.run(home.sweep).id == home.sweep  # nothing deleted
    with pytest.raises(UsageError):  # no policy: nothing is deleted by accident
        client.retain()


def test_a_server_older_than_the_status_route_still_runs_its_scheduler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``GET /api/v1/status`` answers 404 on an older server: after a submit, the CLI asks
    for the status; that must not turn the accepted submission into an error."""
    from accio.errors import NotFoundError

    remote = RemoteClient("http://127.0.0.1:9")

    def older(method: str, url: str, **kwargs: object) -> object:
        raise NotFoundError(f"not found: {url}")

    monkeypatch.setattr(remote, "_json", older)
    status = remote.scheduler_status()
    assert (status.running, status.remote, status.url) == (True, True, "http://127.0.0.1:9")
    remote.close()
