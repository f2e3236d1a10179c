"""The state machine fed by hand: events in, commands and states out, races included.

Every machine here is strict: any forbidden transition fails the test, so each race below
proves that the late event is a no-op, not an exception the loop would have to survive.
"""

from __future__ import annotations

import pytest

from accio.engine.events import (
    CancelTasks,
    LookUpCache,
    Persist,
    ReadyDiscarded,
    RunsDeleted,
    RunsLoaded,
    RunUnstartable,
)
from accio.engine.machine import CRASH_ATTEMPTS, StateMachine
from accio.engine.runs import ParentTally
from accio.executors.base import TaskResult
from accio.ops.api import Resources
from accio.states import ALL_NODE_STATES, NodeState

from .conftest import (
    answer,
    check_consistent,
    drive,
    finished,
    kill,
    loaded,
    node_record,
    of_type,
    run_record,
    stimulus,
    submitted,
    success,
)


def test_a_run_goes_from_lookup_to_success(machine: StateMachine) -> None:
    commands = machine.handle(loaded(run_record("r1")))
    (lookup,) = of_type(commands, LookUpCache)
    assert len(lookup.keys) == 2  # In and Other are ready; Sum waits for both
    commands = machine.handle(answer())
    tasks = submitted(commands)
    assert sorted(t.node for t in tasks) == ["In", "Other"]
    assert machine.runs["r1"].state == "running"
    persist = of_type(commands, Persist)[0]
    assert {n.plan.name for _, n in persist.nodes} == {"In", "Other"}
    commands = drive(machine, finished(*(success(t) for t in tasks)))
    (last,) = submitted(commands)
    assert last.node == "Sum" and last.attempt == 1
    drive(machine, finished(success(last, 3.0)))
    assert "r1" not in machine.runs and not machine.busy
    assert [t[5] for t in machine.story("r1")] == ["running", "success"]
    assert [t[5] for t in machine.story("r1", "Sum")] == ["queued", "running", "success"]
    assert all(t[1].startswith("test-") for t in machine.transition_log)
    check_consistent(machine)


def test_cache_hits_resolve_without_running(machine: StateMachine) -> None:
    machine.handle(loaded(run_record("r1")))
    lookup = machine._awaiting
    found = {n.key: ('{"value": {"type": "double", "value": 1.0}}', "old") for _, n in lookup}
    assert all(k is not None for k in found)
    commands = machine.handle(answer(found))  # type: ignore[arg-type]
    # Sum became ready: its key is unknown, so it is looked up in turn
    assert of_type(commands, LookUpCache) and not submitted(commands)
    commands = machine.handle(answer())
    (task,) = submitted(commands)
    assert task.node == "Sum"
    states = {n.plan.name: n.state for n in machine.runs["r1"].nodes.values()}
    assert states == {"In": "cached", "Other": "cached", "Sum": "running"}
    assert machine.runs["r1"].nodes["In"].cache_source == "old"


def test_identical_nodes_run_once_and_the_other_joins(machine: StateMachine) -> None:
    commands = drive(machine, loaded(run_record("r1"), run_record("r2")))
    tasks = submitted(commands)
    # In (x=1) and Other (2.0) are identical in both runs: two executions, two joiners
    assert sorted(t.node for t in tasks) == ["In", "Other"] and {t.run_id for t in tasks} == {"r1"}
    assert machine.runs["r2"].nodes["In"].state == "queued"
    drive(machine, finished(*(success(t) for t in tasks)))
    r2 = machine.runs["r2"].nodes
    assert r2["In"].state == "cached" and r2["In"].cache_source == "r1"
    check_consistent(machine)


def test_a_failed_execution_sends_its_joiner_back_to_run_alone(machine: StateMachine) -> None:
    tasks = submitted(drive(machine, loaded(run_record("r1"), run_record("r2"))))
    failed = [TaskResult(t.task_id, "failed", error={"message": "boom"}) for t in tasks]
    commands = drive(machine, finished(*failed))
    retried = submitted(commands)
    assert {t.run_id for t in retried} == {"r2"} and len(retried) == 2
    assert "r1" not in machine.runs  # failed, Sum skipped
    assert [t[5] for t in machine.story("r2", "In")] == ["queued", "pending", "queued", "running"]
    check_consistent(machine)


def test_a_crash_is_retried_once_then_fails(machine: StateMachine) -> None:
    tasks = submitted(drive(machine, loaded(run_record("r1"))))
    first = next(t for t in tasks if t.node == "In")
    crashed = TaskResult(first.task_id, "crashed", error={"message": "SIGKILL"})
    (again,) = submitted(machine.handle(finished(crashed)))
    assert again.node == "In" and again.attempt == 2 and again.task_id != first.task_id
    crashed = TaskResult(again.task_id, "crashed", error={"message": "SIGKILL"})
    machine.handle(finished(crashed))
    node = machine.runs["r1"].nodes["In"]
    assert node.state == "failed" and node.attempts == 2 == CRASH_ATTEMPTS
    assert machine.runs["r1"].nodes["Sum"].state == "skipped"


def test_a_restart_never_uses_up_a_crash_retry(machine: StateMachine) -> None:
    """The stored attempt counter (4 after earlier scheduler lives) is shown, not reused."""
    stored = [node_record("r1", "In", "running", attempts=4)]
    commands = drive(machine, loaded(run_record("r1", state="running"), nodes=stored))
    first = next(t for t in submitted(commands) if t.node == "In")
    assert first.attempt == 5
    crashed = TaskResult(first.task_id, "crashed", error={"message": "SIGKILL"})
    (again,) = submitted(machine.handle(finished(crashed)))
    assert again.node == "In" and again.attempt == 6
    assert machine.runs["r1"].nodes["In"].state == "running"


# ----------------------------------------------------------------------------------- races
def test_kill_in_the_same_batch_as_the_submission(machine: StateMachine) -> None:
    """The REST race: a submission and its kill picked up in one loop iteration."""
    commands = machine.handle(loaded(run_record("r1")), kill("r1"))
    assert not of_type(commands, LookUpCache) and not submitted(commands)
    assert not machine.runs
    assert [t[5] for t in machine.story("r1")] == ["killed"]
    assert {n.state for _, n in of_type(commands, Persist)[0].nodes} == {"cancelled"}
    assert machine.ignored  # the ready nodes were dropped with a log line
    check_consistent(machine)


def test_kill_while_the_cache_lookup_is_out(machine: StateMachine) -> None:
    machine.handle(loaded(run_record("r1")))
    machine.handle(kill("r1"))
    commands = machine.handle(answer())
    assert not submitted(commands) and not machine.busy
    assert any("looked up while cancelled" in why for _, _, why in machine.ignored)


def test_kill_during_dispatch_cancels_and_ignores_late_results(machine: StateMachine) -> None:
    tasks = submitted(drive(machine, loaded(run_record("r1"))))
    commands = machine.handle(kill("r1"))
    (cancel,) = of_type(commands, CancelTasks)
    assert sorted(cancel.task_ids) == sorted(t.task_id for t in tasks)
    states = {n.plan.name: n.state for _, n in of_type(commands, Persist)[0].nodes}
    assert states == {"In": "killed", "Other": "killed", "Sum": "cancelled"}
    assert not machine.busy  # resources freed at once
    # the executor still answers: a success and a killed result for the cancelled tasks
    commands = machine.handle(finished(success(tasks[0]), TaskResult(tasks[1].task_id, "killed")))
    assert not of_type(commands, Persist) and len(machine.ignored) == 2
    check_consistent(machine)


def test_a_result_for_a_deleted_run_is_ignored(machine: StateMachine) -> None:
    tasks = submitted(drive(machine, loaded(run_record("r1"))))
    commands = machine.handle(RunsDeleted(stimulus(), 14.0, ("r1",)))
    assert sorted(of_type(commands, CancelTasks)[0].task_ids) == sorted(t.task_id for t in tasks)
    commands = machine.handle(finished(*(success(t) for t in tasks)))
    assert not submitted(commands) and not machine.busy
    check_consistent(machine)


def test_kill_after_the_run_ended_is_a_no_op(machine: StateMachine) -> None:
    tasks = submitted(drive(machine, loaded(run_record("r1"))))
    while tasks:  # every task succeeds at once
        tasks = submitted(drive(machine, finished(*(success(t) for t in tasks))))
    assert "r1" not in machine.runs
    commands = machine.handle(kill("r1"))
    assert not of_type(commands, CancelTasks) and not of_type(commands, Persist)
    assert machine.story("r1")[-1][5] == "success"


def test_stored_runs_are_killed_without_being_loaded(machine: StateMachine) -> None:
    parent = run_record("p", state="running", n_children=2)
    machine.handle(
        RunsLoaded(stimulus(), 10.0, (), ()),
    )
    machine.parents["p"] = ParentTally("p", {"c1": "pending", "c2": "success"}, state="running")
    child = run_record("c1", parent="p")
    commands = machine.handle(kill("p", "c1", stored=[parent, child]))
    (persist,) = of_type(commands, Persist)
    assert [u[:2] for u in persist.run_states] == [("c1", "killed")]
    assert persist.parents[0].state == "killed" and "p" not in machine.parents


def test_an_unstartable_run_fails_and_its_parent_follows(machine: StateMachine) -> None:
    machine.parents["p"] = ParentTally("p", {"c1": "pending", "c2": "success"}, state="running")
    commands = machine.handle(
        RunUnstartable(stimulus(), 10.0, run_record("c1", parent="p"), "no operator")
    )
    (persist,) = of_type(commands, Persist)
    assert [u[:2] for u in persist.run_states] == [("c1", "failed")]
    assert persist.parents[0].state == "failed"


def test_ready_nodes_can_be_discarded(machine: StateMachine) -> None:
    machine.handle(loaded(run_record("r1")))
    commands = machine.handle(ReadyDiscarded(stimulus(), 11.0), answer())
    assert not submitted(commands)
    assert {n.state for n in machine.runs["r1"].nodes.values()} == {"pending"}


@pytest.mark.parametrize("state", ALL_NODE_STATES)
def test_resume_from_every_stored_state(machine: StateMachine, state: NodeState) -> None:
    """In is stored in ``state`` (Other done): unfinished work starts over, the rest stays."""
    stored = [node_record("r1", "In", state, attempts=3), node_record("r1", "Other", "success")]
    commands = drive(machine, loaded(run_record("r1", state="running"), nodes=stored))
    tasks = submitted(commands)
    node_in = None
    if "r1" in machine.runs:
        node_in = machine.runs["r1"].nodes["In"]
    if state in ("pending", "queued", "running"):
        assert [t.node for t in tasks] == ["In"] and tasks[0].attempt == 4
        assert node_in is not None and node_in.tries == 1
        if state != "pending":
            assert [t[4:6] for t in machine.story("r1", "In")][:2] == [
                ("stored", state),
                (state, "pending"),
            ]
    elif state in ("success", "cached"):
        assert [t.node for t in tasks] == ["Sum"]
    else:  # failed, skipped, killed, cancelled: Sum can never run; the run ends at once
        assert not tasks and "r1" not in machine.runs
        expected = "killed" if state in ("killed", "cancelled") else "failed"
        assert machine.story("r1")[-1][5] == expected
    check_consistent(machine)


def test_a_resumed_run_whose_nodes_all_ended_finishes(machine: StateMachine) -> None:
    stored = [node_record("r1", n, "success") for n in ("In", "Other", "Sum")]
    commands = machine.handle(loaded(run_record("r1", state="running"), nodes=stored))
    assert not machine.runs
    runs = of_type(commands, Persist)[0].runs
    assert runs[-1].state == "success"


@pytest.mark.parametrize("strict", [True, False])
def test_a_forbidden_transition_raises_only_in_a_strict_machine(
    strict: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug (here: a run's state corrupted behind the machine's back) raises from the pure
    layer in tests; a scheduler's machine logs it with the story and goes on."""
    from accio.ops.api import Resources
    from accio.states import InvalidTransition

    machine = StateMachine(Resources(2.0, 4096, 0), 2, strict=strict)
    tasks = submitted(drive(machine, loaded(run_record("r1"))))
    machine.runs["r1"].state = "killed"
    if strict:
        with pytest.raises(InvalidTransition, match="run r1: killed -> running"):
            machine.handle(finished(success(tasks[0])))
    else:
        with caplog.at_level("ERROR", logger="accio.scheduler"):
            machine.handle(finished(success(tasks[0])))
        assert "left half applied" in caplog.text and "killed -> running" in caplog.text


def test_late_events_make_one_log_line_per_batch(
    machine: StateMachine, caplog: pytest.LogCaptureFixture
) -> None:
    records = [run_record(f"r{i}", x=float(i)) for i in range(50)]
    with caplog.at_level("INFO", logger="accio.scheduler"):
        machine.handle(loaded(*records), kill(*(r.id for r in records)))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "100 late event(s) ignored" in lines[0], lines
    assert not machine.runs and len(machine.ignored) == 100


def test_a_killed_queued_node_leaves_no_execution_to_join() -> None:
    """Other (the same key in every run) is queued behind In when r1 is killed; r2's Other
    must run on its own, not wait for an execution that will never happen."""
    from accio.ops.api import Resources

    machine = StateMachine(Resources(1.0, 4096, 0), 2, strict=True)  # one task at a time
    tasks = submitted(drive(machine, loaded(run_record("r1", x=1.0))))
    assert [t.node for t in tasks] == ["In"]
    assert machine.runs["r1"].nodes["Other"].state == "queued"
    machine.handle(kill("r1"))
    tasks = submitted(drive(machine, loaded(run_record("r2", x=5.0))))
    for _ in range(5):
        if not tasks:
            break
        tasks = submitted(drive(machine, finished(*(success(t) for t in tasks))))
    assert not machine.busy, {n.plan.name: n.state for n in machine.runs["r2"].nodes.values()}
    assert machine.story("r2")[-1][5] == "success"


def test_a_cluster_that_grows_gets_more_tasks_and_one_that_shrinks_fewer() -> None:
    """A Dask cluster given by its address gains and loses workers: ``SlotsChanged`` resizes
    what may be in flight (``PREFETCH`` small tasks per slot) and the capacity tasks are
    weighed against (the cluster's, not the service machine's), FIFO kept."""
    from accio.engine.events import SlotsChanged
    from accio.engine.resources import PREFETCH

    # one worker of one thread at start, as big as the service machine (1 cpu)
    machine = StateMachine(Resources(1.0, 2048, 0), 1, strict=True)
    runs = [run_record(f"r{i:03d}", x=i + 0.5) for i in range(2 * PREFETCH)]  # never 2.0
    first = submitted(drive(machine, loaded(*runs)))
    assert len(first) == PREFETCH == machine.in_flight  # 2 * PREFETCH + 1 tasks wait to go
    assert [t.run_id for t in first if t.node == "In"] == [r.id for r in runs][: PREFETCH - 1]
    # a second worker joins: 2 slots on a cluster of 2 cpus, beyond the service machine's 1
    two = Resources(2.0, 8192, 0)
    grown = submitted(machine.handle(SlotsChanged(stimulus(), 12.0, 2, two)))
    assert len(grown) == PREFETCH and machine.in_flight == 2 * PREFETCH
    assert [t.run_id for t in grown] == [r.id for r in runs][PREFETCH - 1 : 2 * PREFETCH - 1]
    # back to one worker: nothing is recalled, but nothing more goes until below the new cap
    assert not submitted(
        machine.handle(SlotsChanged(stimulus(), 12.5, 1, Resources(1.0, 4096, 0)))
    )
    done = (first + grown)[: PREFETCH + 1]  # then PREFETCH - 1 in flight: room for one
    assert not submitted(machine.handle(finished(*(success(t) for t in done[:-1]))))
    assert len(submitted(machine.handle(finished(success(done[-1]))))) >= 1
    check_consistent(machine)
