"""The state machine's bookkeeping: checked transitions, their log, and what changed.

:class:`StateLedger` is the base of :class:`accio.engine.machine.StateMachine`: it owns the
active runs and sweep parents, loads stored node states on resume, applies one state change at
a time against the tables of :mod:`accio.states`, logs each with the stimulus that caused it
(loading included), and gathers what changed into
one :class:`~accio.engine.events.Persist` command per handled batch of events. Pure: no I/O,
no clock (``_now`` is the current event's time).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Any

from accio.engine.events import Command, Persist, RunUnstartable
from accio.engine.runs import ActiveRun, NodeRun, ParentTally
from accio.states import (
    DONE_NODE_STATES,
    NODE_TRANSITIONS,
    RUN_TRANSITIONS,
    TERMINAL_NODE_STATES,
    TERMINAL_RUN_STATES,
    UNFINISHED_RUN_STATES,
    InvalidTransition,
    NodeState,
    RunState,
    run_state_of,
)
from accio.storage.records import LogLine, NodeRecord

log = logging.getLogger("accio.scheduler")

#: (ts, stimulus_id, run id, node name or "" for the run itself, start, finish, why)
Transition = tuple[float, str, str, str, str, str, str]


class StateLedger:
    """Active runs and parents, with every change to their states checked and logged."""

    def __init__(self) -> None:
        self.runs: dict[str, ActiveRun] = {}
        self.parents: dict[str, ParentTally] = {}
        self.transition_log: deque[Transition] = deque(maxlen=10_000)
        #: (stimulus_id, subject, why) of events that changed nothing because they came too late.
        self.ignored: deque[tuple[str, str, str]] = deque(maxlen=1_000)
        self._ignored_now = 0
        self._stimulus = ""
        self._now = 0.0
        # What changed since the last Persist command.
        self._changed_nodes: list[tuple[str, NodeRun]] = []
        self._changed_runs: list[ActiveRun] = []
        self._changed_parents: dict[str, ParentTally] = {}
        self._run_states: list[tuple[str, RunState, float | None, float | None, float]] = []
        self._cache_entries: list[tuple[Any, ...]] = []
        self._artifacts: list[tuple[str, int]] = []
        self._logs: list[LogLine] = []

    def story(self, run_id: str, node: str = "") -> list[Transition]:
        """The logged transitions of one node (or of the run itself with ``node=""``)."""
        return [t for t in self.transition_log if t[2] == run_id and t[3] == node]

    def _history(self, run_id: str, node: str = "") -> list[str]:
        return [f"{t[4]}->{t[5]} ({t[6]}, {t[1]})" for t in self.story(run_id, node)]

    def _transition(self, run: ActiveRun, node: NodeRun, finish: NodeState, why: str) -> None:
        """The one place a node's state changes."""
        start = node.state
        if finish not in NODE_TRANSITIONS[start]:
            name = node.plan.name
            history = self._history(run.record.id, name)
            raise InvalidTransition(f"node {run.record.id}/{name}", start, finish, history)
        self.transition_log.append(
            (self._now, self._stimulus, run.record.id, node.plan.name, start, finish, why)
        )
        node.state = finish
        self._changed_nodes.append((run.record.id, node))

    def _load_node(self, run: ActiveRun, node: NodeRun, state: NodeState) -> None:
        """A node's state as stored (resume): not a transition, but logged like one."""
        self.transition_log.append(
            (self._now, self._stimulus, run.record.id, node.plan.name, "stored", state, "loaded")
        )
        node.state = state

    def _settle(self, run: ActiveRun) -> None:
        """What a crash left half-recorded: a pending node whose input failed (or was skipped)
        is skipped, one whose input was killed (or cancelled) is cancelled, as they would have
        been had the scheduler lived; otherwise the run would wait for them forever."""
        nodes = run.nodes
        for node in nodes.values():  # topological order: upstream nodes are settled first
            if node.state != "pending":
                continue
            blockers = {nodes[d].state for d in node.plan.deps}
            if blockers & {"failed", "skipped"}:
                node.completed = self._now
                self._transition(run, node, "skipped", "resumed: an upstream node failed")
            elif blockers & {"killed", "cancelled"}:
                node.completed = self._now
                self._transition(run, node, "cancelled", "resumed: its run was being killed")

    def _resume(self, run: ActiveRun, records: tuple[NodeRecord, ...]) -> None:
        """Finished nodes keep their results; queued or running ones go back to pending (their
        execution died with the previous scheduler) and their tries start again at 0."""
        for rec in records:
            node = run.nodes.get(rec.name)
            if node is None:
                continue
            node.attempts = rec.attempts
            node.cache_source, node.ran_on = rec.cache_source, rec.ran_on
            node.queued_at, node.started, node.completed = (
                rec.queued_at,
                rec.started,
                rec.completed,
            )
            if rec.state in DONE_NODE_STATES:
                node.outputs = rec.outputs or "{}"
                node.key = rec.cache_key
            elif rec.state in TERMINAL_NODE_STATES:
                node.error = json.loads(rec.error) if rec.error else None
            if rec.state != "pending":
                self._load_node(run, node, rec.state)
            if rec.state in ("queued", "running"):
                self._transition(run, node, "pending", "resumed after a restart")

    def _set_run_state(self, run: ActiveRun, finish: RunState, why: str) -> None:
        """The one place an active run's state changes; its parent follows."""
        start = run.state
        if finish == start or (finish == "pending" and start == "running"):
            return  # a derived pending never demotes a running run
        if finish not in RUN_TRANSITIONS[start]:
            history = self._history(run.record.id)
            raise InvalidTransition(f"run {run.record.id}", start, finish, history)
        self.transition_log.append(
            (self._now, self._stimulus, run.record.id, "", start, finish, why)
        )
        run.state = finish
        if finish == "running" and run.started is None:
            run.started = self._now
        self._child_changed(run.record.parent_id, run.record.id, finish, run.started)

    def _run_changed(self, run: ActiveRun, why: str) -> None:
        """A node ended: the run's progress changed, and maybe its state."""
        state = run_state_of([n.state for n in run.nodes.values()])
        self._set_run_state(run, state, why)
        self._changed_runs.append(run)
        if run.state in TERMINAL_RUN_STATES:
            self.runs.pop(run.record.id, None)

    def _handle_run_unstartable(self, event: RunUnstartable) -> None:
        record = event.record
        log.warning("cannot start run %s: %s", record.id, event.reason)
        if record.id in self.runs or record.state not in UNFINISHED_RUN_STATES:
            self._ignore(f"run {record.id}", "unstartable but active or finished")
            return
        self._fail_unstartable(record.id, record.state, record.started, record.parent_id)

    def _fail_unstartable(
        self, run_id: str, state: RunState, started: float | None, parent_id: str | None
    ) -> None:
        self._set_stored_run_state(run_id, state, "failed", "unstartable", started or self._now)
        self._child_changed(parent_id, run_id, "failed", started)

    def _set_stored_run_state(
        self,
        run_id: str,
        start: RunState,
        finish: RunState,
        why: str,
        started: float | None,
    ) -> None:
        """A run that is not loaded (killed before it started, or unstartable): written as
        ended now, its progress full."""
        if finish not in RUN_TRANSITIONS[start]:
            raise InvalidTransition(f"run {run_id}", start, finish, self._history(run_id))
        self.transition_log.append((self._now, self._stimulus, run_id, "", start, finish, why))
        self._run_states.append((run_id, finish, started, self._now, 1.0))

    def _child_changed(
        self, parent_id: str | None, child: str, state: RunState, started: float | None
    ) -> None:
        """A child's state moved: its parent's counts, start time and state follow."""
        tally = self.parents.get(parent_id) if parent_id is not None else None
        if tally is None:
            return
        tally.set(child, state)
        if started is not None and (tally.started is None or started < tally.started):
            tally.started = started
        self._changed_parents[tally.id] = tally
        finish = tally.derived_state()
        start = tally.state
        if finish == start or (finish == "pending" and start == "running"):
            return
        if finish not in RUN_TRANSITIONS[start]:
            raise InvalidTransition(f"parent {tally.id}", start, finish, self._history(tally.id))
        self.transition_log.append(
            (self._now, self._stimulus, tally.id, "", start, finish, f"child {child} {state}")
        )
        tally.state = finish
        if finish in TERMINAL_RUN_STATES:
            del self.parents[tally.id]  # the coalescer still holds it until written

    def _ignore(self, subject: str, why: str) -> None:
        """An event that came too late to change anything: a line in the log, no error."""
        self.ignored.append((self._stimulus, subject, why))
        self._ignored_now += 1

    def _log_ignored(self) -> None:
        """One line per handled batch, not one per node: a kill racing a 10^4-child sweep
        drops 10^4 ready nodes."""
        if self._ignored_now:
            stimulus, subject, why = self.ignored[-1]
            log.info(
                "%s: %d late event(s) ignored (last: %s: %s)",
                stimulus,
                self._ignored_now,
                subject,
                why,
            )
            self._ignored_now = 0

    def _persist(self, commands: list[Command]) -> None:
        """One Persist command with everything that changed since the last one."""
        if not (
            self._changed_nodes
            or self._changed_runs
            or self._changed_parents
            or self._run_states
            or self._cache_entries
            or self._artifacts
            or self._logs
        ):
            return
        commands.append(
            Persist(
                self._stimulus,
                nodes=tuple(self._changed_nodes),
                runs=tuple(self._changed_runs),
                parents=tuple(self._changed_parents.values()),
                run_states=tuple(self._run_states),
                cache_entries=tuple(self._cache_entries),
                artifacts=tuple(self._artifacts),
                logs=tuple(self._logs),
            )
        )
        self._changed_nodes, self._changed_runs, self._changed_parents = [], [], {}
        self._run_states, self._cache_entries, self._artifacts, self._logs = [], [], [], []
