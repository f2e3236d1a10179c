"""In-run repair, guarded memory hits, unkeyable nodes and forced nodes, fed to a bare machine.

The chain of the conftest (In, Other -> Sum) with In producing a dataset digest: Sum failing
with ``corrupt_input`` on that digest sends In back to execute and Sum to wait for it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from accio.engine.events import LookUpCache
from accio.engine.machine import StateMachine
from accio.executors.base import NodeTask, TaskResult
from accio.ops.api import Resources

from .conftest import (
    answer,
    build_plan,
    check_consistent,
    drive,
    finished,
    loaded,
    of_type,
    run_record,
    submitted,
    success,
)

DIGEST = "ab" * 32


def dataset_result(task: NodeTask, digest: str = DIGEST) -> TaskResult:
    outputs = json.dumps({"value": {"type": "dataset", "value": digest}})
    return TaskResult(task.task_id, "success", outputs=outputs, started=11.5, finished=12.0)


def corrupt(task: NodeTask, digest: str = DIGEST) -> TaskResult:
    error: dict[str, Any] = {
        "classifier": "CorruptInput",
        "message": f"input 'a': artifact {digest} corrupt; re-submit the run",
        "stacktrace": "",
        "causes": [],
        "reason": "corrupt_input",
        "digest": digest,
        "port": "a",
    }
    return TaskResult(task.task_id, "failed", error=error, started=12.5, finished=13.0)


def by_name(tasks: list[NodeTask]) -> dict[str, NodeTask]:
    return {t.node: t for t in tasks}


def up_to_sum(machine: StateMachine) -> NodeTask:
    """In (a dataset) and Other done; Sum dispatched."""
    tasks = by_name(submitted(drive(machine, loaded(run_record("r1")))))
    out = drive(machine, finished(dataset_result(tasks["In"]), success(tasks["Other"])))
    (task,) = submitted(out)
    assert task.node == "Sum"
    return task


def test_corrupt_input_reexecutes_its_producer_then_the_consumer(machine: StateMachine) -> None:
    sum_task = up_to_sum(machine)
    out = drive(machine, finished(corrupt(sum_task)))
    run = machine.runs["r1"]
    assert run.nodes["Sum"].state == "pending"  # waits for its input again
    (again,) = submitted(out)
    assert again.node == "In"  # the producer re-executes (no cache hit: memory forgot it)
    assert run.repairs == {DIGEST: ("In", None)}  # repairing
    check_consistent(machine)
    out = drive(machine, finished(dataset_result(again)))
    (rerun,) = submitted(out)
    assert rerun.node == "Sum"
    drive(machine, finished(success(rerun, 3.0)))
    assert "r1" not in machine.runs  # ended
    sum_node = run.nodes["Sum"]
    assert run.state == "success" and sum_node.state == "success"
    assert sum_node.error is not None and sum_node.error["reason"] == "repaired"
    assert sum_node.error["digest"] == DIGEST and sum_node.error["producer"] == "In"
    assert sum_node.attempts == 2
    stories = [t[4:6] for t in machine.story("r1", "In")]
    assert ("success", "pending") in stories


def test_a_second_corruption_of_the_same_digest_fails_for_real(machine: StateMachine) -> None:
    sum_task = up_to_sum(machine)
    (again,) = submitted(drive(machine, finished(corrupt(sum_task))))
    (rerun,) = submitted(drive(machine, finished(dataset_result(again))))
    drive(machine, finished(corrupt(rerun)))
    assert "r1" not in machine.runs
    last = machine.story("r1", "Sum")[-1]
    assert last[4:6] == ("running", "failed")
    assert machine.story("r1")[-1][5] == "failed"


def test_corrupt_input_without_an_in_run_producer_fails(machine: StateMachine) -> None:
    sum_task = up_to_sum(machine)
    drive(machine, finished(corrupt(sum_task, "cd" * 32)))
    assert machine.story("r1", "Sum")[-1][4:6] == ("running", "failed")
    assert machine.story("r1")[-1][5] == "failed"


def test_a_remembered_result_on_a_bad_artifact_is_a_miss() -> None:
    rejected: list[set[str]] = []

    def usable(digests: set[str]) -> set[str]:
        rejected.append(set(digests))
        return set()  # every artifact gone

    machine = StateMachine(Resources(2.0, 4096, 0), 2, strict=True, usable=usable)
    tasks = by_name(submitted(drive(machine, loaded(run_record("r1")))))
    drive(machine, finished(dataset_result(tasks["In"]), success(tasks["Other"])))
    # A second run: In's key is remembered, but its artifact is rejected: looked up instead.
    out = machine.handle(loaded(run_record("r2")))
    assert rejected == [{DIGEST}]
    keys = [k for c in of_type(out, LookUpCache) for k in c.keys]
    assert machine.runs["r1"].nodes["In"].key in keys


def test_a_node_whose_key_cannot_be_computed_fails_alone() -> None:
    from accio.engine.plan import key_components

    def components(plan: Any, inputs: Any, seed: int | None) -> Any:
        if plan.name == "In":
            raise OSError("cannot read /data/x")
        return key_components(plan, inputs, seed)

    machine = StateMachine(Resources(2.0, 4096, 0), 2, strict=True, components=components)
    out = drive(machine, loaded(run_record("r1")))
    assert [t.node for t in submitted(out)] == ["Other"]  # the other root still runs
    stories = {n: machine.story("r1", n)[-1][4:6] for n in ("In", "Sum")}
    assert stories == {"In": ("pending", "failed"), "Sum": ("pending", "skipped")}
    node = machine.runs["r1"].nodes["In"]
    assert node.error is not None and node.error["reason"] == "key_error"
    assert "cannot read /data/x" in node.error["message"]


def test_forced_nodes_skip_every_cache_and_replace_its_entry(machine: StateMachine) -> None:
    tasks = by_name(submitted(drive(machine, loaded(run_record("r1")))))
    drive(machine, finished(success(tasks["In"]), success(tasks["Other"])))
    forced = dataclasses.replace(run_record("r2"), force=json.dumps(["In"]))
    out = machine.handle(loaded(forced))
    key = machine.runs["r2"].nodes["In"].key
    assert key is not None
    # Storage knows In's key too: still executed.
    out = machine.handle(answer({key: ('{"value": {"type": "double", "value": 1.0}}', "r1")}))
    assert [t.node for t in submitted(out)] == ["In"]
    assert machine.runs["r2"].nodes["Other"].state == "cached"
    persisted = [
        e
        for c in machine.handle(finished(success(submitted(out)[0])))
        for e in getattr(c, "cache_entries", ())
    ]
    assert [(e[0], e[10]) for e in persisted] == [(key, True)]


def test_force_all_executes_every_node(machine: StateMachine) -> None:
    tasks = by_name(submitted(drive(machine, loaded(run_record("r1")))))
    drive(machine, finished(success(tasks["In"]), success(tasks["Other"])))
    forced = dataclasses.replace(run_record("r2"), force=json.dumps(["*"]))
    out = drive(machine, loaded(forced))
    assert sorted(t.node for t in submitted(out)) == ["In", "Other"]


def test_the_repaired_producer_ignores_a_stale_cache_entry(machine: StateMachine) -> None:
    """Without an artifact guard storage may still answer with the bad entry: the producer
    re-executes anyway (and its result replaces that entry)."""
    sum_task = up_to_sum(machine)
    out = machine.handle(finished(corrupt(sum_task)))
    producer = machine.runs["r1"].nodes["In"]
    assert producer.key is not None
    stale = json.dumps({"value": {"type": "dataset", "value": DIGEST}})
    out = machine.handle(answer({producer.key: (stale, "r0")}))
    assert [t.node for t in submitted(out)] == ["In"]
    persisted = [
        e
        for c in machine.handle(finished(dataset_result(submitted(out)[0])))
        for e in getattr(c, "cache_entries", ())
    ]
    assert [(e[0], e[10]) for e in persisted] == [(producer.key, True)]


FORK: dict[str, Any] = {
    "id": "fork",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
        {"op": "Add", "name": "Ax", "inputs": {"a": {"reference": "In/value"}}},
        {"op": "Add", "name": "Bx", "inputs": {"a": {"reference": "In/value"}, "b": 2.0}},
    ],
}


def test_two_readers_of_one_rotten_artifact_share_one_repair(machine: StateMachine) -> None:
    """Bx was dispatched before the repair ended: it waits for the same re-execution instead of
    failing, and In runs once more, not twice."""
    from accio.engine.events import LoadedRun, RunsLoaded

    plan = build_plan(FORK)
    (task,) = submitted(
        drive(machine, RunsLoaded("l", 10.0, (LoadedRun(run_record("r1"), plan),)))
    )
    readers = by_name(submitted(drive(machine, finished(dataset_result(task)))))
    assert set(readers) == {"Ax", "Bx"}
    (again,) = submitted(drive(machine, finished(corrupt(readers["Ax"]))))
    assert again.node == "In"
    assert submitted(drive(machine, finished(corrupt(readers["Bx"])))) == []  # waits too
    nodes = machine.runs["r1"].nodes
    assert nodes["Ax"].state == nodes["Bx"].state == "pending"
    rerun = by_name(submitted(drive(machine, finished(dataset_result(again)))))
    assert set(rerun) == {"Ax", "Bx"}
    drive(machine, finished(success(rerun["Ax"]), success(rerun["Bx"])))
    assert "r1" not in machine.runs
    assert [t[4:6] for t in machine.story("r1", "In")].count(("success", "pending")) == 1
    assert machine.story("r1")[-1][5] == "success"
