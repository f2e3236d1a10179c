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
from collections.abc import Iterable

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
    """A run's state from its nodes' states."""
    counts = Counter(node_states)
    total = sum(counts.values())
    terminal = sum(counts[s] for s in TERMINAL_NODE_STATES)
    if total and terminal == total:
        done = counts["success"] + counts["cached"]
        if done == total:
            return "success"
        if counts["killed"] or counts["cancelled"]:
            return "killed"
        return "failed"
    if counts["running"] or terminal or counts["queued"]:
        return "running"
    return "pending"


def run_progress(node_states: Iterable[NodeState]) -> float:
    """Fraction of terminal nodes."""
    states = list(node_states)
    if not states:
        return 0.0
    return sum(1 for s in states if s in TERMINAL_NODE_STATES) / len(states)


def parent_state_of(child_states: Iterable[RunState]) -> RunState:
    """A parent's state from its children: success if all succeeded, else killed, else failed."""
    counts = Counter(child_states)
    total = sum(counts.values())
    finished = counts["success"] + counts["failed"] + counts["killed"]
    if total and finished == total:
        if counts["success"] == total:
            return "success"
        return "killed" if counts["killed"] else "failed"
    if counts["running"] or finished:
        return "running"
    return "pending"
