"""The one place that names run and node states and every allowed transition between them.

This is a bottom-layer module (stdlib and :mod:`accio.errors` only): storage, the engine, the
client, the server and the CLI all read the same vocabulary from here.

Node lifecycle::

    pending ──► queued ──► running ──► success
       │          │          ├──────► failed   (after its last attempt)
       │          │          ├──────► killed   (its run was killed while it ran)
       │          │          └──────► queued   (retry after a worker crash)
       ├──► cached    (memoized: resolved without running; also from queued, when it joined an
       │               identical execution that succeeded)
       ├──► skipped   (an upstream node failed; also from queued)
       └──► cancelled (its run was killed first; also from queued)

    queued ──► pending   an identical execution it joined failed: it tries on its own
    queued, running ──► pending   resume after a scheduler crash (nothing half-done is kept)
    pending ──► failed   its inputs or cache key could not be computed (the loop goes on)
    success, cached ──► pending   in-run repair: a consumer found this node's output artifact
                                  corrupt, so the producer runs again (once per digest per run)

Run lifecycle (single runs, sweep children and sweep parents alike)::

    pending ──► running ──► success | failed | killed
       └──────────────────► success | failed | killed   (all cached, unstartable, or killed
                                                         before anything ran)

A run's state is derived from its nodes' (:func:`run_state_of`), a parent's from its children's
(:func:`parent_state_from_counts`). A derived ``pending`` never demotes a ``running`` run: once
something ran, the run stays running until it ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Literal, get_args

from accio.errors import AccioError

RunState = Literal["pending", "running", "success", "failed", "killed"]
NodeState = Literal[
    "pending", "queued", "running", "cached", "success", "failed", "killed", "skipped", "cancelled"
]

ALL_RUN_STATES: tuple[RunState, ...] = get_args(RunState)
ALL_NODE_STATES: tuple[NodeState, ...] = get_args(NodeState)

#: Node states that end a node (nothing runs for it any more). Only in-run repair moves one on:
#: a done node (:data:`REPAIRABLE_NODE_STATES`) back to pending.
TERMINAL_NODE_STATES: frozenset[NodeState] = frozenset(
    {"cached", "success", "failed", "killed", "skipped", "cancelled"}
)
#: Node states whose outputs exist (downstream nodes may use them).
DONE_NODE_STATES: frozenset[NodeState] = frozenset({"cached", "success"})
#: Done nodes whose output artifact may be found corrupt by a consumer and re-produced.
REPAIRABLE_NODE_STATES: frozenset[NodeState] = DONE_NODE_STATES
#: Node states a scheduler crash can leave behind; resume sends them back to pending.
UNFINISHED_NODE_STATES: frozenset[NodeState] = frozenset({"pending", "queued", "running"})
#: Run states that never change again.
TERMINAL_RUN_STATES: frozenset[RunState] = frozenset({"success", "failed", "killed"})
#: Run states that may still change; a run in one of these is resumed after a crash.
UNFINISHED_RUN_STATES: tuple[RunState, ...] = ("pending", "running")

NODE_TRANSITIONS: dict[NodeState, frozenset[NodeState]] = {
    "pending": frozenset({"queued", "cached", "skipped", "cancelled", "failed"}),
    "queued": frozenset({"running", "cached", "cancelled", "pending", "skipped"}),
    "running": frozenset({"success", "failed", "killed", "queued", "pending"}),
    "cached": frozenset({"pending"}),  # repair
    "success": frozenset({"pending"}),  # repair
    "failed": frozenset(),
    "killed": frozenset(),
    "skipped": frozenset(),
    "cancelled": frozenset(),
}

#: Runs and sweep parents share one table: a parent moves as its children do.
RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    "pending": frozenset({"running", "success", "failed", "killed"}),
    "running": frozenset({"success", "failed", "killed"}),
    "success": frozenset(),
    "failed": frozenset(),
    "killed": frozenset(),
}


class InvalidTransition(AccioError):
    """A state change the tables do not allow: a scheduler bug, never a user error.

    ``story`` holds the subject's recent transitions, to tell how it got there.
    """

    def __init__(self, what: str, start: str, finish: str, story: Iterable[str] = ()) -> None:
        self.what = what
        self.start = start
        self.finish = finish
        self.story = tuple(story)
        message = f"invalid transition of {what}: {start} -> {finish}"
        if self.story:
            message += "; history: " + ", ".join(self.story)
        super().__init__(message)


def check_node_transition(what: str, start: NodeState, finish: NodeState) -> None:
    """Raise :class:`InvalidTransition` unless ``start -> finish`` is in the node table."""
    if finish not in NODE_TRANSITIONS[start]:
        raise InvalidTransition(what, start, finish)


def check_run_transition(what: str, start: RunState, finish: RunState) -> None:
    """Raise :class:`InvalidTransition` unless ``start -> finish`` is in the run table."""
    if finish not in RUN_TRANSITIONS[start]:
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
    """:func:`parent_state_of` from state counts (a sweep parent of 10^4 children keeps counts
    up to date instead of scanning its children on every change)."""
    success = counts.get("success", 0)
    failed = counts.get("failed", 0)
    killed = counts.get("killed", 0)
    finished = success + failed + killed
    if total and finished == total:
        if success == total:
            return "success"
        return "killed" if killed else "failed"
    if counts.get("running", 0) or finished:
        return "running"
    return "pending"


def parent_progress_from_counts(counts: Mapping[RunState, int], total: int) -> float:
    """Fraction of a parent's children that ended."""
    ended = sum(counts.get(s, 0) for s in TERMINAL_RUN_STATES)
    return ended / max(1, total)
