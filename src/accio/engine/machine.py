"""The scheduler's state machine: events in, state changes and commands out, no I/O.

:meth:`StateMachine.handle` is the only way run and node states change (loading, resume and
re-queue included). It takes :mod:`accio.engine.events` and returns commands for the loop in
:mod:`accio.engine.scheduler` to carry out; it reads no clock (each event carries its time) and
touches no storage, executor or file, so it is tested by feeding events (tests/accio/engine).

Every state change is checked against :data:`accio.states.NODE_TRANSITIONS` and
:data:`accio.states.RUN_TRANSITIONS` and appended to :attr:`StateMachine.transition_log` with the
stimulus that caused it. Events that arrive too late (a result for a node its run's kill already
ended, a kill of a run that just finished, a lookup answer for a node cancelled meanwhile) are
no-ops noted in :attr:`StateMachine.ignored`: races between the outside world and the loop are
normal and never raise. A forbidden transition is a bug: it raises :class:`InvalidTransition`
from the internal methods, which ``handle`` logs (or re-raises when ``strict``, as in tests).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from accio.cache.keys import KeyComponents
from accio.definitions.seeds import derive_child_seed, derive_node_seed
from accio.engine.events import (
    CacheLookedUp,
    CancelTasks,
    Command,
    Event,
    KillRuns,
    LoadedRun,
    LookUpCache,
    ReadyDiscarded,
    RunsDeleted,
    RunsLoaded,
    RunUnstartable,
    SlotsChanged,
    Submit,
    TasksFinished,
)
from accio.engine.ledger import StateLedger
from accio.engine.plan import NodePlan, TypedJson, key_components, node_inputs
from accio.engine.provenance import key_of_ran_code
from accio.engine.repair import Usable, fail_unkeyable, recent_hit, repair_input, repaired
from accio.engine.resources import DispatchQueue
from accio.engine.runs import ActiveRun, NodeRun, ParentTally
from accio.executors.base import NodeTask, TaskResult
from accio.ops.api import Resources
from accio.states import (
    DONE_NODE_STATES,
    UNFINISHED_RUN_STATES,
    InvalidTransition,
    NodeState,
)
from accio.storage.records import LogLine

log = logging.getLogger("accio.scheduler")

#: Dispatches of a node whose worker process died, per scheduler life (a crash may be transient:
#: OOM, a signal). A scheduler restart starts the count again: it never uses up a retry.
CRASH_ATTEMPTS = 2
#: Executed results kept in memory for cache lookups (the writer thread may lag behind).
RECENT_RESULTS = 100_000
#: Rounds of cache resolution per event (each hit can make more nodes ready).
RESOLVE_ROUNDS = 10_000
#: The error of a node killed on request.
KILLED: dict[str, Any] = {
    "classifier": "Killed",
    "message": "killed on request",
    "stacktrace": "",
    "causes": [],
}

Pair = tuple[ActiveRun, NodeRun]
ComponentsOf = Callable[[NodePlan, Mapping[str, TypedJson], int | None], KeyComponents]


class StateMachine(StateLedger):
    """Every active run's and node's state, the ready list, the dispatch queue, what runs.

    ``capacity`` and ``slots`` describe the executor (see :mod:`accio.engine.resources`).
    """

    def __init__(
        self,
        capacity: Resources,
        slots: int,
        *,
        strict: bool = False,
        components: ComponentsOf = key_components,
        usable: Usable | None = None,
    ) -> None:
        super().__init__()
        self.strict = strict
        #: Key components of a node from its inputs and seed: pure, except that operators with
        #: ``file=True`` ports fingerprint the files they name (a stat, a hash when changed).
        self.components = components
        #: The artifact guard: remembered results whose artifacts it rejects are misses.
        self.usable = usable
        self.queue = DispatchQueue(capacity, slots)
        self._ready: list[Pair] = []
        self._awaiting: list[Pair] = []  # keys asked of storage (LookUpCache)
        # key being executed -> (the node executing it, the identical nodes that joined it)
        self._by_key: dict[str, tuple[NodeRun, list[Pair]]] = {}
        self._recent: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._cancel: list[int] = []

    @property
    def busy(self) -> bool:
        """Runs still active, or tasks still out."""
        return bool(self.runs or self.queue.in_flight)

    @property
    def in_flight(self) -> int:
        return len(self.queue.in_flight)

    def handle(self, *events: Event) -> list[Command]:
        """Apply events in order; return the commands they call for (lookups, submissions,
        cancellations, then one :class:`Persist` of everything that changed)."""
        commands: list[Command] = []
        for event in events:
            self._stimulus = event.stimulus_id
            self._now = event.ts
            try:
                self._HANDLERS[type(event)](self, event)
            except InvalidTransition:
                if self.strict:
                    raise
                log.exception("state machine: %s left half applied", event.stimulus_id)
        try:
            self._resolve(commands)
            self._dispatch(commands)
        except InvalidTransition:
            if self.strict:
                raise
            log.exception("state machine: resolving after %s", self._stimulus)
        if self._cancel:
            commands.append(CancelTasks(self._stimulus, tuple(self._cancel)))
            self._cancel = []
        self._persist(commands)
        self._log_ignored()
        return commands

    # ------------------------------------------------------------------------- loading
    def _handle_runs_loaded(self, event: RunsLoaded) -> None:
        for parent in event.parents:
            if parent.id not in self.parents:
                self.parents[parent.id] = ParentTally(
                    parent.id, dict(parent.children), state=parent.state, started=parent.started
                )
        for loaded in event.runs:
            record = loaded.record
            if record.id in self.runs or record.state not in UNFINISHED_RUN_STATES:
                self._ignore(f"run {record.id}", f"loaded while {record.state} or active")
                continue
            try:
                self._activate(loaded)
            except (ValueError, KeyError, TypeError) as exc:  # a broken run, not the others
                log.warning("cannot start run %s: %s", record.id, exc)
                self._fail_unstartable(record.id, record.state, record.started, record.parent_id)

    def _activate(self, loaded: LoadedRun) -> None:
        record = loaded.record
        params = json.loads(record.params)
        if record.parent_id is None:  # a single run: same seed as the matching sweep child
            seed = derive_child_seed(record.seed, {k: v["value"] for k, v in params.items()}, 0)
        else:
            seed = record.seed
        run = ActiveRun(record, loaded.plan, params, seed, state=record.state)
        run.started = record.started
        nodes = run.nodes
        if record.force:  # JSON list of names, "*" for all
            forced = set(json.loads(record.force))
            for plan in loaded.plan.nodes:
                nodes[plan.name] = NodeRun(plan, forced="*" in forced or plan.name in forced)
        else:
            for plan in loaded.plan.nodes:
                nodes[plan.name] = NodeRun(plan)
        if loaded.nodes:
            self._resume(run, loaded.nodes)
        self.runs[record.id] = run
        ready = self._ready
        for node in nodes.values():
            if node.state == "pending":
                node.waiting = sum(
                    1 for d in node.plan.deps if nodes[d].state not in DONE_NODE_STATES
                )
                if node.waiting == 0:
                    ready.append((run, node))
        if loaded.nodes:
            self._settle(run)
            self._run_changed(run, "resumed")

    def _handle_ready_discarded(self, event: ReadyDiscarded) -> None:
        self._ready.clear()
        self._awaiting.clear()

    # ------------------------------------------------------------------------- cache
    def _resolve(self, commands: list[Command]) -> None:
        """Keys of ready nodes; recent results resolve at once, other keys are looked up
        (forced nodes skip both)."""
        runs, recent, awaiting = self.runs, self._recent, self._awaiting
        checked: dict[str, bool] = {}  # digest -> usable, once per pass
        for _ in range(RESOLVE_ROUNDS):
            ready, self._ready = self._ready, []
            if not ready:
                break
            for run, node in ready:
                if node.state != "pending" or run.record.id not in runs:
                    self._ignore(f"node {run.id}/{node.plan.name}", f"ready while {node.state}")
                    continue
                if node.waiting > 0:
                    continue  # an input is being repaired: ready again once it is done
                plan = node.plan
                try:
                    upstream = {d: run.nodes[d].output_values() for d in plan.deps}
                    node.inputs = node_inputs(plan, run.params, upstream)
                    seed = derive_node_seed(run.seed, plan.name) if plan.spec.unstable else None
                    node.components = self.components(plan, node.inputs, seed)
                    node.key = key = node.components.key()
                except Exception as exc:  # this node fails, never the loop
                    fail_unkeyable(self, run, node, exc)
                    continue
                hit = None if node.forced else recent.get(key)
                if hit is not None and "dataset" in hit[0]:  # its artifacts must still be good
                    hit = recent_hit(recent, key, self.usable, checked)
                if hit is not None:
                    self._complete_cached(run, node, hit[0], hit[1], "cache hit")
                else:
                    awaiting.append((run, node))
        if awaiting:
            keys = tuple({n.key: None for _, n in awaiting if n.key is not None})
            commands.append(LookUpCache(self._stimulus, keys))

    def _handle_cache_looked_up(self, event: CacheLookedUp) -> None:
        awaiting, self._awaiting = self._awaiting, []
        found, recent, by_key = event.found, self._recent, self._by_key
        checked: dict[str, bool] = {}
        for run, node in awaiting:
            if node.state != "pending" or run.record.id not in self.runs:
                self._ignore(f"node {run.id}/{node.plan.name}", f"looked up while {node.state}")
                continue
            if node.waiting > 0:
                continue  # an input is being repaired
            key = node.key
            assert key is not None
            hit = None if node.forced else recent.get(key)
            if hit is not None and "dataset" in hit[0]:
                hit = recent_hit(recent, key, self.usable, checked)
            if hit is None and not node.forced:
                hit = found.get(key)
            if hit is not None:
                self._complete_cached(run, node, hit[0], hit[1], "cache hit")
            elif key in by_key:
                by_key[key][1].append((run, node))
                self._transition(run, node, "queued", "joined identical running node")
            else:
                by_key[key] = (node, [])
                node.queued_at = self._now
                self._transition(run, node, "queued", "cache miss")
                self.queue.append((run, node))

    def _complete_cached(
        self, run: ActiveRun, node: NodeRun, outputs: str, source: str, why: str
    ) -> None:
        node.set_outputs(outputs)
        node.cache_source = source
        node.started = node.started or self._now
        node.completed = self._now
        self._transition(run, node, "cached", why)
        self._node_done(run, node)

    def _remember(self, key: str, outputs: str, run_id: str) -> None:
        """Results the writer may not have stored yet are still found by later lookups."""
        self._recent[key] = (outputs, run_id)
        while len(self._recent) > RECENT_RESULTS:
            self._recent.popitem(last=False)

    # ------------------------------------------------------------------------- dispatch
    def _dispatch(self, commands: list[Command]) -> None:
        """Queued nodes in arrival order while their resources fit."""
        if not len(self.queue):
            return
        tasks: list[NodeTask] = []
        now = self._now
        for task_id, run, node, need in self.queue.take(self.runs):
            node.attempts += 1
            node.tries += 1
            node.started = now
            assert node.key is not None and node.inputs is not None
            seed = node.components.seed if node.components else None
            plan = node.plan
            tasks.append(
                NodeTask(
                    task_id,
                    run.record.id,
                    plan.name,
                    plan.spec.name,
                    node.inputs,
                    seed,
                    node.key,
                    node.attempts,
                    need.cpus,
                    need.memory_mb,
                )
            )
            self._transition(run, node, "running", f"dispatched as task {task_id}")
            if run.state == "pending":
                self._set_run_state(run, "running", f"{plan.name} dispatched")
                self._changed_runs.append(run)
        if tasks:
            commands.append(Submit(self._stimulus, tuple(tasks)))

    # ------------------------------------------------------------------------- results
    def _handle_tasks_finished(self, event: TasksFinished) -> None:
        for result in event.results:
            entry = self.queue.release(result.task_id)
            if entry is None:
                self._ignore(f"task {result.task_id}", f"{result.status} after its node ended")
                continue
            run, node, _ = entry
            rid, name = run.record.id, node.plan.name
            for ts, stream, line in result.logs:
                self._logs.append(LogLine(rid, name, ts, stream, line))  # type: ignore[arg-type]
            if rid not in self.runs or node.state != "running":
                self._ignore(f"node {rid}/{name}", f"{result.status} while {node.state}")
                self._release_joiners(node, None)
                continue
            node.ran_on = result.ran_on
            self._apply_result(run, node, result)

    def _apply_result(self, run: ActiveRun, node: NodeRun, result: TaskResult) -> None:
        now = self._now
        status = result.status
        if status == "success":
            node.set_outputs(result.outputs or "{}")
            node.started = result.started or node.started
            node.completed = result.finished or now
            node.cache_source = None
            if node.error is not None and node.error.get("reason") != "repaired":
                node.error = None  # a repair note stays: describe shows it
            memoize = key_of_ran_code(self, run, node, result)  # under the code that ran
            self._artifacts.extend(result.artifacts)
            plan = node.plan
            key = node.key
            assert key is not None and node.components is not None and node.outputs is not None
            if memoize:  # not when the code that ran is unknown
                self._cache_entries.append(
                    (
                        key,
                        plan.spec.name,
                        plan.spec.version,
                        node.components.code_hash,
                        node.components,
                        node.outputs,
                        run.record.id,
                        plan.name,
                        now,
                        max(0.0, (result.finished or now) - (result.started or now)),
                        node.forced,
                    )
                )
                self._remember(key, node.outputs, run.record.id)
            self._transition(run, node, "success", f"task {result.task_id} succeeded")
            self._node_done(run, node)
            self._release_joiners(node, run.record.id)
            return
        if status == "killed":
            node.completed = now
            node.error = result.error or KILLED
            self._transition(run, node, "killed", f"task {result.task_id} killed")
            self._release_joiners(node, None)
            self._skip_downstream(run, node, "cancelled")  # killed outside a run kill
            self._run_changed(run, f"{node.plan.name} killed")
            return
        if status == "crashed" and node.tries < CRASH_ATTEMPTS:
            self._transition(run, node, "queued", f"task {result.task_id} crashed: retry")
            self.queue.appendleft((run, node))
            return
        error = result.error
        if (
            status == "failed"
            and error is not None
            and error.get("reason") == "corrupt_input"
            and repair_input(self, run, node, error, result.task_id)
        ):
            return
        node.error = error
        node.completed = now
        self._transition(run, node, "failed", f"task {result.task_id} {status}")
        self._release_joiners(node, None)
        self._skip_downstream(run, node)
        self._run_changed(run, f"{node.plan.name} failed")

    def _release_joiners(self, node: NodeRun, source_run: str | None) -> None:
        """``node`` ended (or will never run): if it was the execution others joined, they
        reuse its outputs, or run on their own."""
        key = node.key
        if key is None:
            return
        entry = self._by_key.get(key)
        if entry is None or entry[0] is not node:
            return
        del self._by_key[key]
        for jrun, jnode in entry[1]:
            if jnode.state != "queued" or jrun.record.id not in self.runs:
                continue
            if source_run is not None and node.outputs is not None:
                self._complete_cached(jrun, jnode, node.outputs, source_run, "joined execution")
            else:  # the execution failed or was killed elsewhere: try again on its own
                self._transition(jrun, jnode, "pending", "joined execution did not succeed")
                self._ready.append((jrun, jnode))

    def _node_done(self, run: ActiveRun, node: NodeRun) -> None:
        if run.repairs:
            repaired(run, node, self.queue.next_task)
        nodes = run.nodes
        for name in node.plan.dependents:
            child = nodes[name]
            child.waiting -= 1
            if child.waiting == 0 and child.state == "pending":
                self._ready.append((run, child))
        self._run_changed(run, f"{node.plan.name} {node.state}")

    def _skip_downstream(
        self, run: ActiveRun, ended: NodeRun, finish: NodeState = "skipped"
    ) -> None:
        """Nodes that need ``ended``'s outputs can never run: skipped after a failure,
        cancelled after a kill (otherwise the run would wait for them forever)."""
        why = f"upstream {ended.plan.name} {ended.state}"
        stack = list(ended.plan.dependents)
        while stack:
            node = run.nodes[stack.pop()]
            if node.state == "pending" or node.state == "queued":
                node.completed = self._now
                self._transition(run, node, finish, why)
                self._release_joiners(node, None)
                stack.extend(node.plan.dependents)

    # ------------------------------------------------------------------------- kill, delete
    def _handle_kill_runs(self, event: KillRuns) -> None:
        """Running nodes are killed (their tasks cancelled), pending and queued ones cancelled;
        unfinished runs that are not loaded are killed in storage only."""
        # Loaded runs and known parents are driven by their nodes and children, whatever
        # their (older) stored records say.
        in_memory = {rid for rid in event.run_ids if rid in self.runs or rid in self.parents}
        for rid in event.run_ids:
            run = self.runs.get(rid)
            if run is None:
                continue
            for node in run.nodes.values():
                state = node.state
                if state == "running":
                    task_id = node.task_id
                    if task_id is not None and self.queue.release(task_id) is not None:
                        self._cancel.append(task_id)
                    node.completed = self._now
                    node.error = KILLED
                    self._transition(run, node, "killed", "run killed")
                    self._release_joiners(node, None)
                elif state == "pending" or state == "queued":
                    node.completed = self._now
                    self._transition(run, node, "cancelled", "run killed")
                    self._release_joiners(node, None)  # a queued execution others joined
            self._run_changed(run, "killed")
        for record in event.stored:
            if record.id in in_memory or record.id in self.runs or record.id in self.parents:
                continue
            if record.state not in UNFINISHED_RUN_STATES:
                self._ignore(f"run {record.id}", f"kill while {record.state}")
                continue
            self._set_stored_run_state(
                record.id, record.state, "killed", "run killed", record.started
            )
            self._child_changed(record.parent_id, record.id, "killed", record.started)

    def _handle_runs_deleted(self, event: RunsDeleted) -> None:
        for rid in event.run_ids:
            run = self.runs.pop(rid, None)
            if run is not None:  # deleted without a kill first: its tasks are abandoned
                for node in run.nodes.values():
                    task_id = node.task_id
                    if task_id is not None and self.queue.release(task_id) is not None:
                        self._cancel.append(task_id)
                    self._release_joiners(node, None)
            self.parents.pop(rid, None)

    _HANDLERS: ClassVar[dict[type[Event], Callable[[StateMachine, Any], None]]] = {
        RunsLoaded: _handle_runs_loaded,
        RunUnstartable: StateLedger._handle_run_unstartable,
        ReadyDiscarded: _handle_ready_discarded,
        CacheLookedUp: _handle_cache_looked_up,
        TasksFinished: _handle_tasks_finished,
        KillRuns: _handle_kill_runs,
        RunsDeleted: _handle_runs_deleted,
        SlotsChanged: lambda machine, event: machine.queue.resize(event.slots, event.capacity),
    }
