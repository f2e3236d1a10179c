"""The transition tables, pair by pair: every allowed change passes, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from accio.engine.machine import StateMachine
from accio.states import (
    ALL_NODE_STATES,
    ALL_RUN_STATES,
    NODE_TRANSITIONS,
    REPAIRABLE_NODE_STATES,
    RUN_TRANSITIONS,
    TERMINAL_NODE_STATES,
    TERMINAL_RUN_STATES,
    InvalidTransition,
    NodeState,
    RunState,
    check_node_transition,
    check_run_transition,
    parent_state_of,
    run_state_of,
)

from .conftest import loaded, run_record

NODE_PAIRS = list(itertools.product(ALL_NODE_STATES, repeat=2))
RUN_PAIRS = list(itertools.product(ALL_RUN_STATES, repeat=2))


def test_tables_cover_every_state_and_terminal_states_are_final() -> None:
    assert set(NODE_TRANSITIONS) == set(ALL_NODE_STATES)
    assert set(RUN_TRANSITIONS) == set(ALL_RUN_STATES)
    for state in TERMINAL_NODE_STATES - REPAIRABLE_NODE_STATES:
        assert NODE_TRANSITIONS[state] == frozenset()
    for state in REPAIRABLE_NODE_STATES:  # only in-run repair moves a done node, to pending
        assert NODE_TRANSITIONS[state] == frozenset({"pending"})
    for run_state in TERMINAL_RUN_STATES:
        assert RUN_TRANSITIONS[run_state] == frozenset()
    assert {s for s in ALL_NODE_STATES if not NODE_TRANSITIONS[s]} == (
        TERMINAL_NODE_STATES - REPAIRABLE_NODE_STATES
    )


def test_repair_and_unkeyable_transitions() -> None:
    """A done node goes back to pending for repair; a pending node whose key cannot be
    computed fails; a failed node never comes back."""
    check_node_transition("n", "success", "pending")
    check_node_transition("n", "cached", "pending")
    check_node_transition("n", "pending", "failed")
    for finish in ("queued", "running", "success", "failed"):
        with pytest.raises(InvalidTransition):
            check_node_transition("n", "cached", finish)  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition):
        check_node_transition("n", "failed", "pending")


@pytest.mark.parametrize(("start", "finish"), NODE_PAIRS)
def test_node_pair(start: NodeState, finish: NodeState) -> None:
    if finish in NODE_TRANSITIONS[start]:
        check_node_transition("n", start, finish)
    else:
        with pytest.raises(InvalidTransition, match=f"{start} -> {finish}"):
            check_node_transition("n", start, finish)


@pytest.mark.parametrize(("start", "finish"), RUN_PAIRS)
def test_run_pair(start: RunState, finish: RunState) -> None:
    if finish in RUN_TRANSITIONS[start]:
        check_run_transition("r", start, finish)
    else:
        with pytest.raises(InvalidTransition, match=f"{start} -> {finish}"):
            check_run_transition("r", start, finish)


@pytest.mark.parametrize(("start", "finish"), NODE_PAIRS)
def test_machine_applies_exactly_the_node_table(
    machine: StateMachine, start: NodeState, finish: NodeState
) -> None:
    """The pure layer itself raises on a forbidden node transition and logs an allowed one."""
    machine.handle(loaded(run_record("r1")))
    run = machine.runs["r1"]
    node = run.nodes["Sum"]
    node.state = start
    if finish in NODE_TRANSITIONS[start]:
        machine._transition(run, node, finish, "test")
        assert node.state == finish
        assert machine.story("r1", "Sum")[-1][4:] == (start, finish, "test")
    else:
        with pytest.raises(InvalidTransition) as info:
            machine._transition(run, node, finish, "test")
        assert node.state == start
        assert (info.value.start, info.value.finish) == (start, finish)


@pytest.mark.parametrize(("start", "finish"), RUN_PAIRS)
def test_machine_applies_exactly_the_run_table(
    machine: StateMachine, start: RunState, finish: RunState
) -> None:
    machine.handle(loaded(run_record("r1")))
    run = machine.runs["r1"]
    run.state = start
    demotion = start == "running" and finish == "pending"
    if finish == start or demotion:
        machine._set_run_state(run, finish, "test")
        assert run.state == start  # no change, no error: a derived pending never demotes
    elif finish in RUN_TRANSITIONS[start]:
        machine._set_run_state(run, finish, "test")
        assert run.state == finish
    else:
        with pytest.raises(InvalidTransition):
            machine._set_run_state(run, finish, "test")
        assert run.state == start


def test_invalid_transition_tells_the_story(machine: StateMachine) -> None:
    machine.handle(loaded(run_record("r1")))
    run = machine.runs["r1"]
    node = run.nodes["In"]
    machine._transition(run, node, "cancelled", "killed in a test")
    with pytest.raises(InvalidTransition, match=r"cancelled -> queued.*killed in a test"):
        machine._transition(run, node, "queued", "late cache miss")


@pytest.mark.parametrize(
    ("nodes", "state"),
    [
        ((), "pending"),
        (("pending", "pending"), "pending"),
        (("queued", "pending"), "running"),
        (("cached", "pending"), "running"),
        (("success", "cached"), "success"),
        (("success", "failed", "skipped"), "failed"),
        (("success", "cancelled"), "killed"),
        (("failed", "killed"), "killed"),
    ],
)
def test_run_state_of(nodes: tuple[NodeState, ...], state: RunState) -> None:
    assert run_state_of(nodes) == state


@pytest.mark.parametrize(
    ("children", "state"),
    [
        (("pending", "pending"), "pending"),
        (("running", "pending"), "running"),
        (("success", "pending"), "running"),
        (("success", "success"), "success"),
        (("success", "failed"), "failed"),
        (("failed", "killed"), "killed"),
    ],
)
def test_parent_state_of(children: tuple[RunState, ...], state: RunState) -> None:
    assert parent_state_of(children) == state
