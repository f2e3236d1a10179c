"""The run commands end to end: the real ``accio`` console script against a real home.

Every command runs as a subprocess, as a user would type it, with its own ``ACCIO_HOME`` and the
small test operators (``accio.testing``). What got stored is checked through ``--json`` reads,
not through the library. A fixture stops the background scheduler after each test.

Process start-up dominates the cost (about half a second per command), so independent reads run
in parallel (:meth:`Cli.many`) and only two tests execute runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.clirun import AccioCli, Result, wait_until

from accio.client.client import Client
from accio.testing import registry

pytestmark = pytest.mark.integration

TOY = {
    "id": "toy",
    "name": "Toy workflow",
    "params": [
        {"name": "epsilon", "kind": "double", "default_value": 1.0},
        {"name": "rows", "kind": "integer", "default_value": 5},
    ],
    "graph": [
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": {"param": "rows"}}},
        {"op": "Mean", "inputs": {"data": {"reference": "Table/data"}}},
        {
            "op": "Noise",
            "name": "Noisy",
            "inputs": {"value": {"reference": "Mean/mean"}, "scale": {"param": "epsilon"}},
        },
    ],
}
ARITH = {
    "id": "arith",
    "params": [
        {"name": "x", "kind": "double", "default_value": 1.0},
        {"name": "b", "kind": "double", "default_value": 0.0},
    ],
    "graph": [
        {"op": "Number", "inputs": {"value": {"param": "x"}}},
        {"op": "Add", "inputs": {"a": {"reference": "Number/value"}, "b": {"param": "b"}}},
    ],
}
FAILING = {
    "id": "failing",
    "graph": [
        {"op": "Number", "inputs": {"value": {"value": 1.0}}},
        {
            "op": "Fail",
            "inputs": {"value": {"reference": "Number/value"}, "message": {"value": "boom"}},
        },
    ],
}
SLEEPY = {
    "id": "sleepy",
    "params": [
        {"name": "x", "kind": "double", "default_value": 1.0},
        {"name": "duration", "kind": "duration", "default_value": "30.seconds"},
    ],
    "graph": [
        {
            "op": "Sleep",
            "inputs": {"value": {"param": "x"}, "duration": {"param": "duration"}},
        }
    ],
}


class Cli(AccioCli):
    """Runs ``accio`` in a directory holding the workflow files, on one Accio home."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, env={"ACCIO_USER": "tester"})
        for doc in (TOY, ARITH, FAILING, SLEEPY):
            (root / f"{doc['id']}.json").write_text(json.dumps(doc))

    def __call__(self, *args: str, code: int | None = 0, **env: str) -> Result:
        return self.run(*args, code=code, **env)

    def many(self, *calls: Sequence[str], code: int | None = 0) -> list[Result]:
        """Independent commands, run in parallel (each pays its own start-up)."""
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            return list(pool.map(lambda args: self(*args, code=code), calls))

    def write(self, name: str, document: Any) -> str:
        (self.root / name).write_text(json.dumps(document))
        return name

    def reader(self) -> Client:
        """Read-only access for polling (no scheduler start, no plugin loading)."""
        return Client(home=self.home, registry=registry(), autostart=False)


def stopping(tool: Cli) -> Iterator[Cli]:
    """Yield the tool, then stop any scheduler the test started (never leave one behind)."""
    yield tool
    if (tool.home / "scheduler.lock").exists():  # only a scheduler creates the lock file
        tool("server", "stop", code=None)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    yield from stopping(Cli(tmp_path))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One home for the read-only tests of submitted runs (submitting is the slow part)."""
    yield from stopping(Cli(tmp_path_factory.mktemp("shared")))


def ids_of(result: Result) -> list[str]:
    return [line.split()[2] for line in result.out.splitlines() if line.startswith("Created run")]


# -- definitions -----------------------------------------------------------------------------


def test_push_get_and_describe_workflows_and_operators(cli: Cli) -> None:
    cli.write("bad.json", {"id": "bad", "graph": [{"op": "NoSuchOp"}]})
    pushed = cli("push", "bad.json", "toy.json", "arith.json", code=2)  # every file is tried
    assert "Pushed workflow toy:" in pushed.out and "Pushed workflow arith:" in pushed.out
    assert "ERROR: bad.json" in pushed.err and "NoSuchOp" in pushed.err

    listed, described, ops, op = cli.many(
        ["get", "workflows", "--json"],
        ["describe", "workflow", "toy"],
        ["get", "ops"],
        ["describe", "operator", "Noise"],
    )
    assert {w["id"] for w in listed.json()} == {"toy", "arith"}
    assert all(w["owner"] == "tester" for w in listed.json())
    text = described.out
    assert "Toy workflow" in text and "epsilon" in text and "double" in text
    assert "Table/data" in text and "$epsilon" in text and "RandomTable" in text
    assert "Operators in test category" in ops.out
    noise_line = next(line for line in ops.out.splitlines() if "Noise" in line)
    assert "Gaussian noise" in noise_line
    assert "AllTypes" in ops.out and "EventSource" in ops.out
    assert op.out.startswith("Operator: Noise (test)")
    assert "scale (double; default: 1.0" in op.out and "- value (double)" in op.out
    assert "Unstable       yes" in op.out


# -- submit and listing ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def submitted(shared: Cli) -> dict[str, Any]:
    """The four forms of the seed page, submitted without a scheduler (runs stay pending)."""
    cli = shared
    cli.write(
        "run.json",
        {
            "workflow": "toy",
            "name": "From file",
            "notes": "some notes",
            "tags": ["file"],
            "params": {"epsilon": {"values": [0.5, 1.0]}},
        },
    )
    # 1. a run file; toy is not pushed yet: found as toy.json beside the run file
    from_file = cli("submit", "--no-start", "run.json")
    assert "(parent of 2 children)" in from_file.out
    assert "Created 3 runs successfully" in from_file.out
    assert "Seed: " in from_file.out and "(random; reuse with --seed=" in from_file.out
    # submitting stored the workflow it used: pushing the same file again changes nothing
    again = cli("push", "toy.json").out.strip()
    assert again.startswith("Workflow toy:") and again.endswith(" unchanged")
    # 2. workflow k=v; 3. flags, single and double dash (owner from ACCIO_USER)
    short, single, double = cli.many(
        ["submit", "--no-start", "--json", "toy", "epsilon=0.25"],
        ["submit", "--no-start", "--json", "-name=My first", "-tags=awesome,geoind", "toy",
         "epsilon=0.0001", "rows=3"],
        ["submit", "--no-start", "--json", "toy", "--name", "Second", "--tags=x",
         "rows=7", "--notes=n2"],
    )  # fmt: skip
    alice = cli("submit", "--no-start", "--quiet", "toy", "-seed=120482382048", ACCIO_USER="alice")
    # 4. a file plus overrides: flags win, tags add up, k=v replaces the sweep
    combined = cli(
        "submit", "--no-start", "--json", "-repeat=2", "-tags=more,tags", "run.json",
        "epsilon=0.01", "--name", "Overridden",
    )  # fmt: skip
    return {
        "from_file": ids_of(from_file),
        "short": short.json(),
        "single": single.json(),
        "double": double.json(),
        "alice": alice.out.split(),
        "combined": combined.json(),
    }


def test_submit_forms_store_what_the_seed_page_says(
    shared: Cli, submitted: dict[str, Any]
) -> None:
    cli = shared
    parent, *children = submitted["from_file"]
    combined = submitted["combined"]
    runs, kids, combined_kids, workflow_over = cli.many(
        ["get", "runs", "--json"],
        ["get", "runs", "--parent", parent, "--json"],
        ["get", "runs", "--parent", combined["run_id"][:8], "--json"],
        ["submit", "--no-start", "run.json", "workflow=arith"],
        code=None,
    )
    by_id = {r["id"]: r for r in runs.json()}
    assert len(by_id) == 6  # children are not listed at the top level

    top = by_id[parent]
    assert (top["name"], top["notes"], top["tags"], top["n_children"]) == (
        "From file", "some notes", ["file"], 2,
    )  # fmt: skip
    assert [k["id"] for k in kids.json()] == children
    assert [k["name"] for k in kids.json()] == ["epsilon=0.5", "epsilon=1.0"]
    assert [k["params"]["epsilon"]["value"] for k in kids.json()] == [0.5, 1.0]

    short = by_id[submitted["short"]["run_id"]]
    assert short["params"]["epsilon"] == {"type": "double", "value": 0.25, "text": "0.25"}
    assert short["params"]["rows"]["value"] == 5 and short["n_children"] == 0
    assert submitted["short"]["seed_given"] is False

    single = by_id[submitted["single"]["run_id"]]
    assert single["name"] == "My first" and single["tags"] == ["awesome", "geoind"]
    assert single["params"]["rows"]["value"] == 3 and single["owner"] == "tester"

    double = by_id[submitted["double"]["run_id"]]
    assert (double["name"], double["notes"], double["tags"]) == ("Second", "n2", ["x"])

    alice = by_id[submitted["alice"][0]]
    assert alice["owner"] == "alice" and alice["seed"] == 120482382048

    over = by_id[combined["run_id"]]
    assert over["name"] == "Overridden" and over["notes"] == "some notes"
    assert over["tags"] == ["file", "more", "tags"] and over["n_children"] == 2
    assert over["workflow_id"] == "toy"
    pair = combined_kids.json()
    assert [k["repeat_index"] for k in pair] == [0, 1]
    assert {k["params"]["epsilon"]["value"] for k in pair} == {0.01}
    assert pair[0]["seed"] != pair[1]["seed"]

    # the workflow cannot be overridden: "workflow" is just an unknown parameter
    assert workflow_over.code == 2 and "workflow" in workflow_over.err


def test_get_runs_filters_and_pagination(shared: Cli, submitted: dict[str, Any]) -> None:
    cli = shared
    combined = submitted["combined"]["run_id"]
    page, last, tagged, text, owner, states, none, wide = cli.many(
        ["list", "-n=2"],
        ["get", "run", "--limit", "2", "--offset", "5", "--json"],
        ["get", "runs", "--tag", "file", "-tags=more,tags", "--json"],
        ["get", "runs", "-q", "first", "--json"],
        ["get", "runs", "--owner", "alice", "--json"],
        ["get", "runs", "--state", "pending", "--state=running", "--workflow", "toy", "--json"],
        ["get", "runs", "--state=success", "--json"],
        ["get", "runs", "--text", "from file", "--wide"],
    )
    rows = page.out.splitlines()
    assert rows[0].split() == ["ID", "WORKFLOW", "CREATED", "NAME", "STATE", "PROGRESS"]
    assert len(rows) == 4 and rows[-1] == "4 more..."
    assert rows[1].split()[:5] == [combined[:12], "toy", "just", "now", "(2)"]  # newest first
    assert "(2) Overridden" in rows[1] and "<no name>" in rows[2] and "pending" in rows[2]
    assert [r["id"] for r in last.json()] == [submitted["from_file"][0]]
    assert [r["id"] for r in tagged.json()] == [combined]  # every tag must match
    assert [r["name"] for r in text.json()] == ["My first"]
    assert [r["id"] for r in owner.json()] == submitted["alice"]
    assert len(states.json()) == 6 and none.json() == []
    assert submitted["from_file"][0] in wide.out and "(2) From file" in wide.out
    assert combined not in wide.out


def test_edit_on_a_child_edits_the_parent(cli: Cli) -> None:
    cli.write(
        "pair.json", {"workflow": "toy", "tags": ["file"], "params": {"rows": {"values": [1, 2]}}}
    )
    parent, child, _ = cli("submit", "--no-start", "--quiet", "pair.json").out.split()
    edited = cli("edit", child, "--name", "Renamed", "--add-tag", "k1,k2", "--remove-tag=file")
    assert f"Edited run {parent}" in edited.out
    assert "child" in edited.err and parent in edited.err
    cli("edit", parent[:10], "--notes", "")  # a unique prefix; '' clears
    top, kid, nothing = cli.many(
        ["describe", "run", parent, "--json"],
        ["describe", "run", child, "--json"],
        ["edit", child],
        code=None,
    )
    assert top.json()["name"] == "Renamed"
    assert top.json()["tags"] == ["k1", "k2"] and top.json()["notes"] is None
    assert kid.json()["name"] == "rows=1"  # generated names never change
    assert nothing.code == 1 and "nothing to edit" in nothing.err


# -- execution -------------------------------------------------------------------------------


def test_wait_describe_logs_and_explain(cli: Cli) -> None:
    cli("push", "toy.json", "arith.json", "failing.json")
    first = cli("submit", "--wait", "arith", "x=2", "b=1")  # starts the scheduler
    assert "success" in first.out
    (base,) = ids_of(first)
    second = cli("submit", "--wait", "--quiet", "arith", "x=2", "b=3")
    (changed,) = second.out.split()
    failed = cli("submit", "--wait", "failing", code=4)
    assert "boom" in failed.err and "failed" in failed.out
    (failing_id,) = ids_of(failed)
    toy = cli("submit", "--wait", "--json", "--seed=7", "toy")
    assert toy.json()["state"] == "success" and toy.json()["seed"] == 7
    toy_id = toy.json()["run_id"]

    explained, node, logs, described, described_json = cli.many(
        ["explain", changed],
        ["describe", "node", f"{failing_id}/Fail"],
        ["logs", f"{toy_id[:8]}/Mean", "--follow"],
        ["describe", "run", toy_id],
        ["describe", "run", toy_id, "--json"],
    )
    lines = {line.split()[0]: line for line in explained.out.splitlines()}
    assert lines["Number"].split()[1:] == ["hit", "(from", "run", f"{base})"]
    assert f"executed: input b changed since run {base}" in lines["Add"]
    assert "RuntimeError" in node.out and "boom" in node.out and "Stack trace" in node.out
    assert logs.out == "averaging 5 values\n"
    text = described.out
    for label in ("Id", "Workflow", "Created", "Owner", "Tags", "Seed", "State", "Duration"):
        assert any(line.startswith(f"{label:<15}") for line in text.splitlines()), label
    assert "toy:" in text and "Parameters" in text and "epsilon" in text and "Noisy" in text
    # counted in nodes, also when finished
    assert "Progress       3/3 nodes (100%): 3 done" in text
    data = described_json.json()
    assert (
        data["state"] == "success" and data["seed"] == 7 and data["node_counts"] == {"success": 3}
    )
    assert [n["name"] for n in data["nodes"]] == ["Table", "Mean", "Noisy"]
    assert data["nodes"][2]["outputs"]["value"]["type"] == "double"


def test_server_kill_and_delete_a_running_sweep(cli: Cli) -> None:
    assert "Scheduler started" in cli("server", "start").out
    assert "already running" in cli("server", "start").out
    cli("push", "sleepy.json")
    cli.write("sleepy_sweep.json", {"workflow": "sleepy", "params": {"x": {"values": [1, 2, 3]}}})
    parent, *children = cli("submit", "--quiet", "sleepy_sweep.json").out.split()
    assert len(children) == 3
    with cli.reader() as reader:
        wait_until(
            lambda: any(c.state == "running" for c in reader.children(parent)),
            30,
            "no child started",
            every=0.1,
        )
    status = cli("server", "status", "--json").json()
    assert status["running"] is True and isinstance(status["pid"], int)
    assert status["home"] == str(cli.home) and sum(status["active_runs"].values()) == 1

    killed = cli("kill", parent[:12])
    assert killed.out.strip() == f"Killed run {parent}"
    state = cli("describe", "run", parent, "--json").json()
    assert state["state"] == "killed" and state["child_counts"] == {"killed": 3}
    assert {c["state"] for c in state["children"]} == {"killed"}
    deleted = cli("delete", "run", parent)
    assert deleted.out.strip() == f"Deleted run {parent}"

    assert "Scheduler stopped" in cli("server", "stop").out
    gone_parent, gone_child, unknown, after, gc = cli.many(
        ["describe", "run", parent],
        ["describe", "run", children[0]],
        ["kill", "f" * 32],
        ["server", "status"],
        ["gc", "--json"],
        code=None,
    )
    assert gone_parent.code == gone_child.code == unknown.code == 1
    assert "no such run" in gone_parent.err and "no such run" in unknown.err
    assert children[0] in gone_child.err  # the children went with their parent
    assert "not running" in after.out
    assert gc.json()["files"] == 0


# -- usage errors ----------------------------------------------------------------------------


USAGE_ERRORS = [
    ["bogus"],
    ["get", "runs", "--bogus"],
    ["get", "things"],
    ["submit", "toy", "epsilon"],
    ["describe", "run", "0123456789abcdef0123456789abcdef"],
    ["describe", "node", "no-slash"],
    ["kill"],
    ["delete", "0123456789abcdef"],
    ["logs", "0123456789abcdef0123456789abcdef", "Mean"],
    ["server", "restart"],
]


def test_usage_errors_exit_1_without_traceback(cli: Cli) -> None:
    for args, result in zip(USAGE_ERRORS, cli.many(*USAGE_ERRORS, code=None), strict=True):
        assert result.code == 1, (args, result)
        assert result.err.startswith("ERROR: ") and result.out == "", (args, result)
