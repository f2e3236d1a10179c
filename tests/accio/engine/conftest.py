"""A bare state machine fed by hand: plans from the test operators, runs as records, no I/O."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from accio.client.client import Client
from accio.config import Settings
from accio.definitions.documents import workflow_from_document
from accio.engine.events import (
    CacheLookedUp,
    Command,
    Event,
    KillRuns,
    LoadedRun,
    LookUpCache,
    RunsLoaded,
    Submit,
    TasksFinished,
)
from accio.engine.machine import StateMachine
from accio.engine.plan import WorkflowPlan
from accio.executors.base import NodeTask, TaskResult
from accio.ops.api import Resources
from accio.states import TERMINAL_NODE_STATES, TERMINAL_RUN_STATES, NodeState, RunState
from accio.storage.records import NodeRecord, RunRecord
from accio.testing import registry as test_registry

#: In -> Sum <- Other: two roots and one node that needs both.
CHAIN: dict[str, Any] = {
    "id": "chain",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
        {"op": "Number", "name": "Other", "inputs": {"value": 2.0}},
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"reference": "In/value"}, "b": {"reference": "Other/value"}},
        },
    ],
}

_ids = itertools.count(1)


def build_plan(document: dict[str, Any] = CHAIN) -> WorkflowPlan:
    registry = test_registry()
    workflow, _ = workflow_from_document(document, registry)
    return WorkflowPlan.build(workflow, registry)


def run_record(
    run_id: str,
    *,
    x: float = 1.0,
    state: RunState = "pending",
    parent: str | None = None,
    n_children: int = 0,
) -> RunRecord:
    params = {"x": {"type": "double", "value": x}}
    return RunRecord(
        id=run_id,
        parent_id=parent,
        workflow_id="chain",
        workflow_version="v1",
        name=None,
        notes=None,
        tags=(),
        owner="test",
        created=1.0,
        seed=7,
        params=json.dumps(params),
        repeat_index=0,
        child_index=None if parent is None else 0,
        state=state,
        started=None if state == "pending" else 1.0,
        completed=None,
        n_children=n_children,
    )


def node_record(run_id: str, name: str, state: NodeState, *, attempts: int = 0) -> NodeRecord:
    done = state in ("success", "cached")
    outputs = json.dumps({"value": {"type": "double", "value": 2.0}}) if done else None
    return NodeRecord(
        run_id=run_id,
        name=name,
        op="Number" if name != "Sum" else "Add",
        state=state,
        cache_key=("k-" + name) if done else None,
        seed=None,
        attempts=attempts,
        queued_at=None,
        started=None,
        completed=None,
        error=json.dumps({"message": "x"}) if state == "failed" else None,
        outputs=outputs,
        cache_source=None,
        position=0,
    )


def stimulus() -> str:
    return f"test-{next(_ids)}"


def loaded(*records: RunRecord, nodes: Sequence[NodeRecord] = ()) -> RunsLoaded:
    plan = build_plan()
    runs = tuple(LoadedRun(r, plan, tuple(n for n in nodes if n.run_id == r.id)) for r in records)
    return RunsLoaded(stimulus(), 10.0, runs)


def answer(found: dict[str, tuple[str, str]] | None = None) -> CacheLookedUp:
    return CacheLookedUp(stimulus(), 11.0, found or {})


def finished(*results: TaskResult) -> TasksFinished:
    return TasksFinished(stimulus(), 12.0, tuple(results))


def kill(*run_ids: str, stored: Iterable[RunRecord] = ()) -> KillRuns:
    return KillRuns(stimulus(), 13.0, run_ids, tuple(stored))


def of_type(commands: Iterable[Command], kind: type[Command]) -> list[Any]:
    return [c for c in commands if isinstance(c, kind)]


def submitted(commands: Iterable[Command]) -> list[NodeTask]:
    return [t for c in of_type(commands, Submit) for t in c.tasks]


def success(task: NodeTask, value: float = 1.0) -> TaskResult:
    outputs = json.dumps({"value": {"type": "double", "value": value}})
    if task.op == "Add":
        outputs = json.dumps({"sum": {"type": "double", "value": value}})
    return TaskResult(task.task_id, "success", outputs=outputs, started=11.5, finished=12.0)


def drive(machine: StateMachine, *events: Event) -> list[Command]:
    """Handle events and answer every cache lookup with a miss, as the loop would."""
    out: list[Command] = []
    pending = list(events)
    while pending:
        commands = machine.handle(pending.pop(0))
        out.extend(commands)
        if of_type(commands, LookUpCache):
            pending.append(answer())
    return out


def check_consistent(machine: StateMachine) -> None:
    """Invariants after any sequence of events (dask's validate_state, for this machine)."""
    in_flight = machine.queue.in_flight
    for task_id, (run, node, _) in in_flight.items():
        assert node.state == "running", (task_id, node.state)
        assert node.task_id == task_id
        assert run.record.id in machine.runs
    for run in machine.runs.values():
        assert run.state not in TERMINAL_RUN_STATES, run.record.id
        assert any(n.state not in TERMINAL_NODE_STATES for n in run.nodes.values())
        for node in run.nodes.values():
            if node.state == "running":
                assert node.task_id in in_flight
    for parent in machine.parents.values():
        assert parent.state not in TERMINAL_RUN_STATES


@pytest.fixture
def machine() -> StateMachine:
    """Two slots of one cpu each; strict: a forbidden transition fails the test."""
    return StateMachine(Resources(2.0, 4096, 0), 2, strict=True)


@pytest.fixture
def local_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A client on a fresh home with the test operators and two cpus, that never starts a
    scheduler process: tests drive a :class:`Scheduler` of their own on its storage."""
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCIO_CPUS", "2")
    with Client(settings=Settings.from_env(), autostart=False) as c:
        yield c
