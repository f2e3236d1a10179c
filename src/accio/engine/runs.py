"""The state machine's view of runs, nodes and sweep parents (plain mutable records, no I/O).

Only :class:`accio.engine.machine.StateMachine` writes these. The write coalescer reads them when
it flushes, so that a node that changed three times since the last flush is written once, with
its latest state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from accio.cache.keys import KeyComponents
from accio.engine.plan import NodePlan, TypedJson, WorkflowPlan
from accio.states import (
    TERMINAL_RUN_STATES,
    NodeState,
    RunState,
    parent_progress_from_counts,
    parent_state_from_counts,
)
from accio.storage.records import RunRecord


@dataclass(slots=True)
class NodeRun:
    """One node of one active run.

    ``attempts`` counts every dispatch ever (stored, shown to users); ``tries`` counts dispatches
    in this scheduler's life only, so that a scheduler restart never uses up a crash retry.
    """

    plan: NodePlan
    state: NodeState = "pending"
    waiting: int = 0
    attempts: int = 0
    tries: int = 0
    key: str | None = None
    components: KeyComponents | None = None
    inputs: dict[str, TypedJson] | None = None
    outputs: str | None = None  # JSON text {port: typed json}, stored as is
    parsed: dict[str, TypedJson] | None = None
    queued_at: float | None = None
    started: float | None = None
    completed: float | None = None
    error: dict[str, Any] | None = None
    cache_source: str | None = None
    #: Where its last execution ran (:attr:`TaskResult.ran_on`); "" for a cache hit.
    ran_on: str = ""
    task_id: int | None = None
    #: Forced (``submit --force`` / ``--force-node``): no cache lookup, its result replaces
    #: the cache entry of its key.
    forced: bool = False

    def output_values(self) -> dict[str, TypedJson]:
        """Outputs as a dict, parsed once, only when a downstream node needs them."""
        if self.parsed is None:
            self.parsed = json.loads(self.outputs) if self.outputs else {}
        return self.parsed

    def set_outputs(self, outputs: str) -> None:
        self.outputs = outputs
        self.parsed = None


@dataclass(slots=True)
class ActiveRun:
    """A run being executed: its record as loaded, its plan and its nodes by name."""

    record: RunRecord
    plan: WorkflowPlan
    params: dict[str, TypedJson]
    seed: int  # the seed node seeds derive from (a child's seed, or a single run's derived one)
    nodes: dict[str, NodeRun] = field(default_factory=dict)
    state: RunState = "pending"
    started: float | None = None
    #: In-run repairs: corrupt digest -> (the node re-executed to produce it again, the first
    #: task id issued after it did, None while it runs). Once per digest: a task dispatched
    #: after the repair that finds the digest corrupt again fails for real.
    repairs: dict[str, tuple[str, int | None]] | None = None  # created on the first one

    @property
    def id(self) -> str:
        return self.record.id

    def completed(self) -> float | None:
        """When the last node ended, once the run has ended."""
        if self.state not in TERMINAL_RUN_STATES:
            return None
        return max((n.completed or 0.0) for n in self.nodes.values())


class ParentTally:
    """A sweep parent: its children's states, with counts kept up to date (10^4 children)."""

    __slots__ = ("counts", "id", "started", "state", "states")

    def __init__(
        self,
        parent_id: str,
        states: dict[str, RunState] | None = None,
        *,
        state: RunState = "pending",
        started: float | None = None,
    ) -> None:
        self.id = parent_id
        #: The parent's own state as last decided (it moves through the run table).
        self.state: RunState = state
        #: When its first child started (None until one did).
        self.started = started
        self.states: dict[str, RunState] = {}
        self.counts: dict[RunState, int] = {}
        for child, child_state in (states or {}).items():
            self.set(child, child_state)

    def set(self, child: str, state: RunState) -> None:
        old = self.states.get(child)
        if old is not None:
            self.counts[old] -= 1
        self.states[child] = state
        self.counts[state] = self.counts.get(state, 0) + 1

    def derived_state(self) -> RunState:
        return parent_state_from_counts(self.counts, len(self.states))

    def progress(self) -> float:
        return parent_progress_from_counts(self.counts, len(self.states))
