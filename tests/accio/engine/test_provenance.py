"""A result is cached under the key of the code that produced it, not of the code planned.

Plugins re-imported while a run is in flight: the run keeps its plan (keys of the old code)
while its later nodes run the new code. The worker says which code it ran; the machine must
then store the node, its cache entry and its remembered result under that code's key, or a
later run of the reverted code would be served outputs that code never produced.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from accio.engine.events import Command, LookUpCache, Persist
from accio.engine.machine import StateMachine
from accio.engine.provenance import CODE_CHANGED
from accio.executors.base import UNKNOWN_CODE, NodeTask, TaskResult

from .conftest import answer, drive, finished, loaded, of_type, run_record, submitted, success

NEW_CODE = "c0de" * 16


def ran(task: NodeTask, code_hash: str, value: float = 1.0) -> TaskResult:
    return replace(success(task, value), code_hash=code_hash)


def entries(commands: list[Command]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Cache entries written, by (run, node)."""
    return {(e[6], e[7]): e for p in of_type(commands, Persist) for e in p.cache_entries}


def start(machine: StateMachine, *run_ids: str) -> dict[str, NodeTask]:
    tasks = submitted(drive(machine, loaded(*(run_record(r) for r in run_ids))))
    return {t.node: t for t in tasks}


def test_a_result_of_new_code_is_cached_under_the_new_codes_key(machine: StateMachine) -> None:
    tasks = start(machine, "r1")
    node = machine.runs["r1"].nodes["In"]
    planned_key, planned = node.key, node.components
    assert planned is not None and planned.code_hash != NEW_CODE
    commands = drive(machine, finished(ran(tasks["In"], NEW_CODE, 5.0), success(tasks["Other"])))

    new_key = replace(planned, code_hash=NEW_CODE).key()
    assert new_key != planned_key
    entry = entries(commands)[("r1", "In")]
    assert entry[0] == new_key and entry[3] == NEW_CODE and entry[4].code_hash == NEW_CODE
    assert node.key == new_key  # the node record names the key explain looks up
    assert node.state == "success" and node.error is not None
    assert node.error["reason"] == CODE_CHANGED and "code changed" in node.error["message"]
    assert node.error["planned_key"] == planned_key
    persisted = [n for p in of_type(commands, Persist) for _, n in p.nodes]
    assert node in persisted
    logs = [line for p in of_type(commands, Persist) for line in p.logs]
    assert any(line.node == "In" and "code changed" in line.line for line in logs)
    assert new_key in machine._recent and planned_key not in machine._recent
    # Other ran the planned code: its key and entry are the planned ones, without a note.
    other = machine.runs["r1"].nodes["Other"]
    assert other.error is None
    assert entries(commands)[("r1", "Other")][3] == other.plan.spec.code_hash


def test_a_later_run_of_the_planned_code_does_not_take_the_new_codes_result(
    machine: StateMachine,
) -> None:
    tasks = start(machine, "r1")
    commands = drive(machine, finished(ran(tasks["In"], NEW_CODE, 5.0), success(tasks["Other"])))
    (total,) = submitted(commands)
    assert total.node == "Sum"
    drive(machine, finished(success(total, 7.0)))
    assert "r1" not in machine.runs

    # r2: same workflow and inputs, planned with the code r1 was planned with (reverted).
    commands = machine.handle(loaded(run_record("r2")))
    (lookup,) = of_type(commands, LookUpCache)
    r2 = machine.runs["r2"].nodes
    assert r2["In"].key in lookup.keys  # not served by the remembered result of r1's In
    assert r2["Other"].state == "cached"  # Other ran the planned code: a hit, as ever
    rerun = submitted(machine.handle(answer()))  # nor is storage: r1's entry has another key
    assert [t.node for t in rerun] == ["In"]


def test_the_planned_code_keeps_the_planned_key(machine: StateMachine) -> None:
    tasks = start(machine, "r1")
    node = machine.runs["r1"].nodes["In"]
    planned_key = node.key
    assert node.components is not None
    same = ran(tasks["In"], node.components.code_hash)
    unknown = ran(tasks["Other"], "")  # a worker that could not tell: the plan is trusted
    commands = drive(machine, finished(same, unknown))
    assert node.key == planned_key and node.error is None
    assert entries(commands)[("r1", "In")][0] == planned_key
    other = machine.runs["r1"].nodes["Other"]
    assert entries(commands)[("r1", "Other")][0] == other.key


def test_identical_nodes_that_joined_follow_the_execution_to_the_new_key(
    machine: StateMachine,
) -> None:
    tasks = start(machine, "r1", "r2")
    joiner = machine.runs["r2"].nodes["In"]
    assert joiner.state == "queued"
    planned_key = joiner.key
    drive(machine, finished(ran(tasks["In"], NEW_CODE, 5.0), success(tasks["Other"])))
    executed = machine.runs["r1"].nodes["In"]
    assert joiner.state == "cached" and joiner.cache_source == "r1"
    assert joiner.key == executed.key != planned_key
    assert joiner.components is not None and joiner.components.code_hash == NEW_CODE
    assert joiner.output_values()["value"]["value"] == 5.0
    assert executed.key not in machine._by_key  # released: no one waits on it any more


def test_a_failure_is_never_rekeyed(machine: StateMachine) -> None:
    tasks = start(machine, "r1")
    node = machine.runs["r1"].nodes["In"]
    planned_key = node.key
    failed = TaskResult(tasks["In"].task_id, "failed", error={"message": "boom"})
    commands = drive(machine, finished(replace(failed, code_hash=NEW_CODE)))
    assert node.state == "failed" and node.key == planned_key
    assert not entries(commands)


def test_a_result_of_unknown_code_is_used_but_never_memoized(machine: StateMachine) -> None:
    """A worker that imported the module before it was edited on disk (a Dask worker, say)
    runs code whose hash it cannot know: the run goes on with the result, but no key may
    name it, or some later run would be served outputs its code never produced."""
    tasks = start(machine, "r1")
    node = machine.runs["r1"].nodes["In"]
    planned_key = node.key
    commands = drive(
        machine, finished(ran(tasks["In"], UNKNOWN_CODE, 5.0), success(tasks["Other"]))
    )
    assert node.state == "success" and node.output_values()["value"]["value"] == 5.0
    assert ("r1", "In") not in entries(commands) and ("r1", "Other") in entries(commands)
    assert planned_key not in machine._recent
    assert node.error is not None and "not memoized" in node.error["message"]
    (total,) = submitted(commands)  # downstream goes on with it
    assert total.node == "Sum"
