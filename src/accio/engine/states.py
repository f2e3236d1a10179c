"""The one place that defines run and node states and every allowed transition.

Node lifecycle::

    pending ──► queued ──► running ──► success
       │          │          ├──────► failed   (after its last attempt)
       │          │          ├──────► killed   (its run was killed while it ran)
       │          │          └──────► queued   (retry after a worker crash)
       ├──► cached (memoized: resolved without running; also from queued)
       ├──► skipped (an upstream node failed)
       └──► cancelled (its run was killed first; also from queued)

    After a scheduler crash, queued and running nodes go back to pending (resume).

A run's state is derived from its nodes, a parent's from its children (definitions.md §9.8).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from accio.errors import AccioError
from accio.storage.records import NodeState, RunState

TERMINAL_NODE_STATES: frozenset[NodeState] = frozenset(
    {"cached", "success", "failed", "killed", "skipped", "cancelled"}
)
DONE_NODE_STATES: frozenset[NodeState] = frozenset({"cached", "success"})
TERMINAL_RUN_STATES: frozenset[RunState] = frozenset({"success", "failed", "killed"})

NODE_TRANSITIONS: dict[NodeState, frozenset[NodeState]] = {
    "pending": frozenset({"queued", "cached", "skipped", "cancelled"}),
    "queued": frozenset({"running", "cached", "cancelled", "pending", "skipped"}),
    "running": frozenset({"success", "failed", "killed", "queued", "pending"}),
    "cached": frozenset(),
    "success": frozenset(),
    "failed": frozenset(),
    "killed": frozenset(),
    "skipped": frozenset(),
    "cancelled": frozenset(),
}


class InvalidTransition(AccioError):
    """A state change the table does not allow: a scheduler bug, never a user error."""

    def __init__(self, what: str, start: str, finish: str) -> None:
        super().__init__(f"invalid transition of {what}: {start} -> {finish}")
        self.start = start
        self.finish = finish


def check_node_transition(what: str, start: NodeState, finish: NodeState) -> None:
    if finish not in NODE_TRANSITIONS[start]:
        raise InvalidTransition(what, start, finish)


def run_state_of(node_states: Iterable[NodeState]) -> RunState:
    """A run's state from its nodes' states (called on every node change: kept cheap)."""
    total = terminal = done = stopped = 0
    active = False
    for state in node_states:
        total += 1
        if state in TERMINAL_NODE_STATES:
            terminal += 1
            if state in DONE_NODE_STATES:
                done += 1
            elif state == "killed" or state == "cancelled":
                stopped += 1
        elif state != "pending":
            active = True
    if total and terminal == total:
        if done == total:
            return "success"
        return "killed" if stopped else "failed"
    return "running" if active or terminal else "pending"


def run_progress(node_states: Iterable[NodeState]) -> float:
    """Fraction of terminal nodes."""
    states = list(node_states)
    if not states:
        return 0.0
    return sum(1 for s in states if s in TERMINAL_NODE_STATES) / len(states)


def parent_state_of(child_states: Iterable[RunState]) -> RunState:
    """A parent's state from its children: success if all succeeded, else killed, else failed."""
    counts = Counter(child_states)
    return parent_state_from_counts(counts, sum(counts.values()))


def parent_state_from_counts(counts: Mapping[RunState, int], total: int) -> RunState:
    """:func:`parent_state_of` from state counts."""
    counts = Counter(counts)
    finished = counts["success"] + counts["failed"] + counts["killed"]
    if total and finished == total:
        if counts["success"] == total:
            return "success"
        return "killed" if counts["killed"] else "failed"
    if counts["running"] or finished:
        return "running"
    return "pending"
