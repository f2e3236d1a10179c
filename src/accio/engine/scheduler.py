"""The scheduler loop: node-level, first come first served, within resources, memoized.

One scheduler per Accio home (see :mod:`accio.engine.daemon`). It holds every unfinished run in
memory; the database is the source of truth it reloads from after a crash. Each iteration:

1. reads control requests (new submissions, kill, delete);
2. collects executor results and applies them;
3. resolves newly ready nodes from the cache in one batched lookup (identical nodes already
   running are joined instead of started twice);
4. dispatches queued nodes in arrival order while their resources fit;
5. flushes state changes to storage in a few batched transactions.

All node state changes go through :meth:`Scheduler._transition`, which enforces
:data:`accio.engine.states.NODE_TRANSITIONS`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from accio.cache.keys import KeyComponents
from accio.definitions.documents import workflow_from_document
from accio.definitions.seeds import derive_child_seed, derive_node_seed
from accio.engine.control import ControlChannel
from accio.engine.plan import NodePlan, TypedJson, WorkflowPlan, clamp, key_components, node_inputs
from accio.engine.states import (
    DONE_NODE_STATES,
    TERMINAL_NODE_STATES,
    TERMINAL_RUN_STATES,
    check_node_transition,
    parent_state_from_counts,
    run_progress,
    run_state_of,
)
from accio.engine.tuning import (
    fast_thread_switching,
    paused_gc,
    release_long_lived,
    settle_long_lived,
)
from accio.engine.writer import Batch, CacheSnapshot, NodeSnapshot, StateWriter
from accio.executors.base import Executor, NodeTask, TaskResult
from accio.ops.api import Resources
from accio.ops.registry import OperatorRegistry
from accio.storage.base import Storage
from accio.storage.records import (
    LogLine,
    NodeState,
    RunRecord,
    RunState,
)

log = logging.getLogger("accio.scheduler")

#: Attempts of a node whose worker process died (a crash may be transient: OOM, a signal).
CRASH_ATTEMPTS = 2
#: Seconds between flushes of state to storage while nodes complete.
FLUSH_INTERVAL = 0.2
#: Seconds a node or run may stay queued or running before that state is written.
COALESCE = 1.0
#: Executed results kept in memory for cache lookups (the writer thread may lag behind).
RECENT_RESULTS = 100_000
#: Small tasks handed to the executor per slot ahead of time (they queue inside workers).
PREFETCH = 64


@dataclass(slots=True)
class NodeRun:
    """The scheduler's view of one node of one run."""

    plan: NodePlan
    state: NodeState = "pending"
    waiting: int = 0
    attempts: int = 0
    key: str | None = None
    components: KeyComponents | None = None
    inputs: dict[str, TypedJson] | None = None
    outputs: str | None = None  # JSON text {port: typed json}, stored as is
    _parsed: dict[str, TypedJson] | None = None
    queued_at: float | None = None
    started: float | None = None
    completed: float | None = None
    error: dict[str, Any] | None = None
    cache_source: str | None = None
    task_id: int | None = None

    def output_values(self) -> dict[str, TypedJson]:
        """Outputs as a dict, parsed once, only when a downstream node needs them."""
        if self._parsed is None:
            self._parsed = json.loads(self.outputs) if self.outputs else {}
        return self._parsed


@dataclass(slots=True)
class ActiveRun:
    record: RunRecord
    plan: WorkflowPlan
    params: dict[str, TypedJson]
    seed: int  # the seed node seeds derive from (a child's seed, or a single run's derived one)
    nodes: dict[str, NodeRun] = field(default_factory=dict)
    state: RunState = "pending"
    started: float | None = None


class ParentTally:
    """A sweep parent's children states, with counts kept up to date (10^4 children)."""

    def __init__(self, states: dict[str, RunState] | None = None) -> None:
        self.states: dict[str, RunState] = {}
        self.counts: dict[RunState, int] = {}
        for child, state in (states or {}).items():
            self.set(child, state)

    def set(self, child: str, state: RunState) -> None:
        old = self.states.get(child)
        if old is not None:
            self.counts[old] -= 1
        self.states[child] = state
        self.counts[state] = self.counts.get(state, 0) + 1

    def state(self) -> RunState:
        return parent_state_from_counts(self.counts, len(self.states))

    def progress(self) -> float:
        ended = sum(self.counts.get(s, 0) for s in TERMINAL_RUN_STATES)
        return ended / max(1, len(self.states))


@dataclass
class SchedulerStats:
    executed: int = 0
    cached: int = 0
    joined: int = 0
    failed: int = 0


class Scheduler:
    """Runs every unfinished run of a storage to completion with an executor."""

    def __init__(
        self,
        storage: Storage,
        executor: Executor,
        registry: OperatorRegistry,
        capacity: Resources,
        *,
        control: ControlChannel | None = None,
    ) -> None:
        self.storage = storage
        self.executor = executor
        self.registry = registry
        self.capacity = capacity
        self.control = control
        self.stats = SchedulerStats()
        self.runs: dict[str, ActiveRun] = {}
        self.parents: dict[str, ParentTally] = {}
        self._plans: dict[tuple[str, str], WorkflowPlan] = {}
        self._ready: list[tuple[ActiveRun, NodeRun]] = []
        self._queue: deque[tuple[ActiveRun, NodeRun]] = deque()
        self._in_flight: dict[int, tuple[ActiveRun, NodeRun, Resources]] = {}
        self._by_key: dict[str, list[tuple[ActiveRun, NodeRun]]] = {}  # running key -> joiners
        self._used = Resources(0.0, 0, 0)
        self._next_task = 1
        # Changed since the last flush: ended nodes, and live ones ordered by last change.
        self._dirty_done: dict[tuple[str, str], NodeRun] = {}
        self._dirty_live: OrderedDict[tuple[str, str], tuple[NodeRun, float]] = OrderedDict()
        self._dirty_runs: OrderedDict[str, float] = OrderedDict()  # run id -> first change
        self._dirty_parents: set[str] = set()
        self._cache_entries: list[CacheSnapshot] = []
        self._artifacts: list[tuple[str, int]] = []
        self._logs: list[LogLine] = []
        self._last_flush = 0.0
        self._finished: list[ActiveRun] = []
        self._parent_started: dict[str, float] = {}
        self._recent: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.writer = StateWriter(storage)
        self.transition_log: deque[tuple[float, str, str, str, str, str]] = deque(maxlen=10_000)

    # ----------------------------------------------------------------- loading runs
    def load_unfinished(self) -> int:
        """Activate every unfinished run not yet in memory (new submissions, or resume)."""
        added = 0
        self.writer.drain()  # runs finished in memory must be finished in storage too
        with paused_gc():
            records = [r for r in self.storage.unfinished_runs() if r.id not in self.runs]
            records.sort(key=lambda r: (r.created, r.child_index or 0))
            self._tally_parents(records)
            for record in records:
                try:
                    self._activate(record)
                    added += 1
                except Exception as exc:  # a broken run must not stop the others
                    log.exception("cannot start run %s", record.id)
                    self._fail_unstartable(record, exc)
        if added:
            settle_long_lived()
        return added

    def _tally_parents(self, records: list[RunRecord]) -> None:
        """Children states of every new parent; read from storage only if some already ended."""
        by_parent: dict[str, dict[str, RunState]] = {}
        for r in records:
            if r.parent_id is not None and r.parent_id not in self.parents:
                by_parent.setdefault(r.parent_id, {})[r.id] = r.state
        for parent in self.storage.get_runs(list(by_parent)):
            kids = by_parent[parent.id]
            if len(kids) < parent.n_children:
                kids = {c.id: c.state for c in self.storage.children(parent.id)}
            self.parents[parent.id] = ParentTally(kids)

    def _plan_for(self, record: RunRecord) -> WorkflowPlan:
        key = (record.workflow_id, record.workflow_version)
        plan = self._plans.get(key)
        if plan is None:
            stored = self.storage.get_workflow(record.workflow_id, record.workflow_version)
            workflow, _ = workflow_from_document(json.loads(stored.definition), self.registry)
            plan = self._plans[key] = WorkflowPlan.build(workflow, self.registry)
        return plan

    def _activate(self, record: RunRecord) -> None:
        plan = self._plan_for(record)
        params: dict[str, TypedJson] = json.loads(record.params)
        if record.parent_id is None:  # a single run: same seed as the matching sweep child
            seed = derive_child_seed(record.seed, {k: v["value"] for k, v in params.items()}, 0)
        else:
            seed = record.seed
        run = ActiveRun(record, plan, params, seed, state=record.state, started=record.started)
        for node in plan.nodes:
            run.nodes[node.name] = NodeRun(node)
        if record.state != "pending":
            self._restore(run)
        self.runs[record.id] = run
        if record.parent_id is not None and record.parent_id not in self.parents:
            self.parents[record.parent_id] = ParentTally(
                {c.id: c.state for c in self.storage.children(record.parent_id)}
            )
        for node_run in run.nodes.values():
            if node_run.state == "pending":
                node_run.waiting = sum(
                    1 for d in node_run.plan.deps if run.nodes[d].state not in DONE_NODE_STATES
                )
                if node_run.waiting == 0:
                    self._ready.append((run, node_run))

    def _restore(self, run: ActiveRun) -> None:
        """Resume: finished nodes keep their results; queued or running ones start over."""
        for rec in self.storage.get_nodes(run.record.id):
            node = run.nodes.get(rec.name)
            if node is None:
                continue
            node.attempts = rec.attempts
            node.cache_source = rec.cache_source
            node.queued_at, node.started, node.completed = (
                rec.queued_at,
                rec.started,
                rec.completed,
            )
            if rec.state in DONE_NODE_STATES:
                node.state = rec.state
                node.outputs = rec.outputs or "{}"
                node.key = rec.cache_key
            elif rec.state in TERMINAL_NODE_STATES:
                node.state = rec.state
                node.error = json.loads(rec.error) if rec.error else None
            else:
                node.state = "pending"
                self._mark(run, node)

    def _fail_unstartable(self, record: RunRecord, exc: Exception) -> None:
        now = time.time()
        self.storage.set_run_states([(record.id, "failed", record.started or now, now, 1.0)])
        if record.parent_id:
            self._dirty_parents.add(record.parent_id)
            self.parents.setdefault(record.parent_id, ParentTally()).set(record.id, "failed")

    # ----------------------------------------------------------------- the loop
    @property
    def busy(self) -> bool:
        return bool(self.runs or self._in_flight)

    def step(self, timeout: float = 0.05) -> None:
        """One iteration of the loop."""
        if self.control is not None:
            self._handle_control()
        results = self.executor.poll(timeout if self._in_flight else 0.0)
        for result in results:
            self._handle_result(result)
        self._resolve_ready()
        self._dispatch()
        now = time.time()
        if now - self._last_flush >= FLUSH_INTERVAL or not self._in_flight:
            self.flush()
        if not self._in_flight and not self.runs and timeout:
            time.sleep(min(timeout, 0.05))

    def run_until_idle(self, timeout: float | None = None) -> None:
        """Load unfinished runs and drive them to the end (tests, in-process use)."""
        deadline = None if timeout is None else time.time() + timeout
        with fast_thread_switching():
            self.load_unfinished()
            while self.busy:
                if deadline is not None and time.time() > deadline:
                    raise TimeoutError("runs did not finish in time")
                self.step()
            self.flush(wait=True)

    # ----------------------------------------------------------------- transitions
    def _transition(self, run: ActiveRun, node: NodeRun, state: NodeState, why: str) -> None:
        check_node_transition(f"node {run.record.id}/{node.plan.name}", node.state, state)
        self.transition_log.append(
            (time.time(), run.record.id, node.plan.name, node.state, state, why)
        )
        node.state = state
        self._mark(run, node)

    def _mark(self, run: ActiveRun, node: NodeRun) -> None:
        ident = (run.record.id, node.plan.name)
        self._dirty_live.pop(ident, None)
        if node.state in TERMINAL_NODE_STATES:
            self._dirty_done[ident] = node
        else:
            self._dirty_live[ident] = (node, time.time())
        self._dirty_runs.setdefault(run.record.id, time.time())

    # ----------------------------------------------------------------- cache resolution
    def _resolve_ready(self) -> None:
        """Batched cache lookups for ready nodes; hits can make more nodes ready."""
        for _ in range(10_000):
            ready, self._ready = self._ready, []
            if not ready:
                return
            for run, node in ready:
                upstream = {d: run.nodes[d].output_values() for d in node.plan.deps}
                node.inputs = node_inputs(node.plan, run.params, upstream)
                seed = (
                    derive_node_seed(run.seed, node.plan.name) if node.plan.spec.unstable else None
                )
                node.components = key_components(node.plan, node.inputs, seed)
                node.key = node.components.key()
            unknown = {n.key for _, n in ready if n.key and n.key not in self._recent}
            found = self.storage.lookup_cache(list(unknown)) if unknown else {}
            for run, node in ready:
                assert node.key is not None
                recent = self._recent.get(node.key)
                entry = found.get(node.key)
                if recent is not None:
                    self._complete_cached(run, node, recent[0], recent[1], "cache hit")
                elif entry is not None:
                    self._complete_cached(run, node, entry.outputs, entry.run_id, "cache hit")
                elif node.key in self._by_key:
                    self._by_key[node.key].append((run, node))  # join the identical running node
                    self._transition(run, node, "queued", "joined identical running node")
                else:
                    self._by_key[node.key] = []
                    node.queued_at = time.time()
                    self._transition(run, node, "queued", "cache miss")
                    self._queue.append((run, node))

    def _complete_cached(
        self, run: ActiveRun, node: NodeRun, outputs: str, source: str, why: str
    ) -> None:
        node.outputs = outputs
        node._parsed = None
        node.cache_source = source
        now = time.time()
        node.started = node.started or now
        node.completed = now
        self._transition(run, node, "cached", why)
        self.stats.cached += 1
        self._node_done(run, node)

    # ----------------------------------------------------------------- dispatch
    def _fits(self, need: Resources) -> bool:
        """Whether a task can start now.

        A task that fits one executor slot (``small``) may be handed over ahead of time: the
        executor queues it behind the running ones, so at most ``slots`` run at once and workers
        never idle between tasks. Any other task waits until the resources it declares are free
        (tasks queued in workers count as using at most the whole machine).
        """
        slots = max(1, self.executor.slots)
        small = (
            need.cpus <= self.capacity.cpus / slots + 1e-9
            and need.memory_mb <= self.capacity.memory_mb / slots
        )
        if small:
            return len(self._in_flight) < slots * PREFETCH
        used_cpus = min(self._used.cpus, self.capacity.cpus)
        used_memory = min(self._used.memory_mb, self.capacity.memory_mb)
        return not self._in_flight or (
            used_cpus + need.cpus <= self.capacity.cpus + 1e-9
            and used_memory + need.memory_mb <= self.capacity.memory_mb
        )

    def _dispatch(self) -> None:
        tasks: list[NodeTask] = []
        while self._queue:
            run, node = self._queue[0]
            if node.state != "queued" or run.record.id not in self.runs:
                self._queue.popleft()
                continue
            need = clamp(node.plan.spec.resources, self.capacity)
            if not self._fits(need):
                break  # first come, first served: the head waits for resources
            self._queue.popleft()
            task_id = self._next_task
            self._next_task += 1
            node.attempts += 1
            node.task_id = task_id
            node.started = time.time()
            assert node.key is not None and node.inputs is not None
            seed = node.components.seed if node.components else None
            tasks.append(
                NodeTask(
                    task_id,
                    run.record.id,
                    node.plan.name,
                    node.plan.spec.name,
                    node.inputs,
                    seed,
                    node.key,
                    node.attempts,
                    need.cpus,
                    need.memory_mb,
                )
            )
            self._in_flight[task_id] = (run, node, need)
            self._used = Resources(
                self._used.cpus + need.cpus, self._used.memory_mb + need.memory_mb, 0
            )
            self._transition(run, node, "running", f"dispatched as task {task_id}")
            if run.state == "pending":
                run.state = "running"
                run.started = node.started
                self._child_progressed(run, "running")
        if tasks:
            self.executor.submit(tasks)

    # ----------------------------------------------------------------- results
    def _handle_result(self, result: TaskResult) -> None:
        entry = self._in_flight.pop(result.task_id, None)
        if entry is None:
            return
        run, node, need = entry
        self._used = Resources(
            self._used.cpus - need.cpus, self._used.memory_mb - need.memory_mb, 0
        )
        node.task_id = None
        now = time.time()
        for ts, stream, line in result.logs:
            self._logs.append(LogLine(run.record.id, node.plan.name, ts, stream, line))  # type: ignore[arg-type]
        if run.record.id not in self.runs:  # killed or deleted meanwhile
            self._release_joiners(node, None)
            return
        if result.status == "success":
            node.outputs = result.outputs or "{}"
            node._parsed = None
            node.started = result.started or node.started
            node.completed = result.finished or now
            node.cache_source = None
            node.error = None
            self._artifacts.extend(result.artifacts)
            assert node.key is not None and node.components is not None
            self._cache_entries.append(
                (
                    node.key,
                    node.plan.spec.name,
                    node.plan.spec.version,
                    node.plan.spec.code_hash,
                    node.components,
                    node.outputs,
                    run.record.id,
                    node.plan.name,
                    now,
                    max(0.0, (result.finished or now) - (result.started or now)),
                )
            )
            self._remember(node.key, node.outputs, run.record.id)
            self._transition(run, node, "success", f"task {result.task_id} succeeded")
            self.stats.executed += 1
            self._node_done(run, node)
            self._release_joiners(node, run.record.id)
            return
        if result.status == "killed":
            node.completed = now
            node.error = result.error
            self._transition(run, node, "killed", "task killed")
            self._release_joiners(node, None)
            self._run_changed(run)
            return
        retry = result.status == "crashed" and node.attempts < CRASH_ATTEMPTS
        if retry:
            self._transition(run, node, "queued", f"retry after {result.status}")
            self._queue.appendleft((run, node))
            return
        node.error = result.error
        node.completed = now
        self._transition(run, node, "failed", f"task {result.task_id} {result.status}")
        self.stats.failed += 1
        self._release_joiners(node, None)
        self._skip_downstream(run, node)
        self._run_changed(run)

    def _remember(self, key: str, outputs: str, run_id: str) -> None:
        """Results the writer may not have stored yet are still found by later lookups."""
        self._recent[key] = (outputs, run_id)
        while len(self._recent) > RECENT_RESULTS:
            self._recent.popitem(last=False)

    def _release_joiners(self, node: NodeRun, source_run: str | None) -> None:
        """Nodes waiting on an identical execution: reuse its outputs, or run it themselves."""
        if node.key is None:
            return
        joiners = self._by_key.pop(node.key, [])
        for jrun, jnode in joiners:
            if jnode.state != "queued" or jrun.record.id not in self.runs:
                continue
            if source_run is not None and node.outputs is not None:
                self._complete_cached(jrun, jnode, node.outputs, source_run, "joined execution")
                self.stats.joined += 1
            else:  # the execution failed or was killed elsewhere: try again on its own
                jnode.state = "pending"
                self._ready.append((jrun, jnode))

    def _node_done(self, run: ActiveRun, node: NodeRun) -> None:
        for name in node.plan.dependents:
            child = run.nodes[name]
            child.waiting -= 1
            if child.waiting == 0 and child.state == "pending":
                self._ready.append((run, child))
        self._run_changed(run)

    def _skip_downstream(self, run: ActiveRun, failed: NodeRun) -> None:
        stack = list(failed.plan.dependents)
        while stack:
            node = run.nodes[stack.pop()]
            if node.state in ("pending", "queued"):
                node.completed = time.time()
                self._transition(run, node, "skipped", f"upstream {failed.plan.name} failed")
                stack.extend(node.plan.dependents)

    def _run_changed(self, run: ActiveRun) -> None:
        states = [n.state for n in run.nodes.values()]
        state = run_state_of(states)
        if state == "running" and run.state == "pending":
            run.started = run.started or time.time()
            self._child_progressed(run, state)
        run.state = state
        self._dirty_runs.setdefault(run.record.id, time.time())
        if state in TERMINAL_RUN_STATES:
            self._finish(run)

    def _child_progressed(self, run: ActiveRun, state: RunState) -> None:
        """A child started: its parent is running too (not only once a child ends)."""
        parent = run.record.parent_id
        if parent is not None:
            self.parents.setdefault(parent, ParentTally()).set(run.record.id, state)
            self._dirty_parents.add(parent)

    def _finish(self, run: ActiveRun) -> None:
        self.runs.pop(run.record.id, None)
        if not self.runs:
            release_long_lived()
        parent = run.record.parent_id
        if parent is not None:
            self.parents.setdefault(parent, ParentTally()).set(run.record.id, run.state)
            self._dirty_parents.add(parent)
        self._finished.append(run)

    # ----------------------------------------------------------------- kill and delete
    def kill(self, run_ids: Iterable[str]) -> None:
        """Kill runs (a parent id kills its children): running nodes killed, the rest cancelled."""
        targets = self._expand_ids(run_ids)
        cancel: list[int] = []
        for rid in targets:
            run = self.runs.get(rid)
            if run is None:
                continue
            for node in run.nodes.values():
                if node.state == "running" and node.task_id is not None:
                    cancel.append(node.task_id)
                elif node.state in ("pending", "queued"):
                    node.completed = time.time()
                    self._transition(run, node, "cancelled", "run killed")
        if cancel:
            self.executor.cancel(cancel)
            for result in self.executor.poll(0.0):
                self._handle_result(result)
        for rid in targets:
            run = self.runs.get(rid)
            if run is None:
                continue
            for node in run.nodes.values():
                if node.state == "running":  # the executor could not stop it: count it killed
                    self._in_flight.pop(node.task_id or -1, None)
                    node.completed = time.time()
                    self._transition(run, node, "killed", "run killed")
            self._run_changed(run)
        # a parent with no active child (e.g. not yet started) is killed in storage directly
        self.flush(wait=True)
        pending = [
            r for r in self.storage.get_runs(list(targets)) if r.state in ("pending", "running")
        ]
        now = time.time()
        self.storage.set_run_states(
            [(r.id, "killed", r.started, now, 1.0) for r in pending if r.id not in self.runs]
        )
        self.flush(wait=True)

    def delete(self, run_ids: Iterable[str]) -> None:
        ids = list(run_ids)
        self.kill(ids)
        for rid in ids:
            for gone in self._safe_delete(rid):
                self.runs.pop(gone, None)
                self.parents.pop(gone, None)

    def _safe_delete(self, rid: str) -> list[str]:
        from accio.errors import NotFoundError

        try:
            return self.storage.delete_run(rid)
        except NotFoundError:
            return []

    def _expand_ids(self, run_ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for rid in run_ids:
            out.add(rid)
            tally = self.parents.get(rid)
            if tally is None:
                out.update(c.id for c in self.storage.children(rid))
            else:
                out.update(tally.states)
        return out

    def _handle_control(self) -> None:
        assert self.control is not None
        requests = self.control.take_requests()
        if requests.submitted:
            self.load_unfinished()
        if requests.kill:
            self.kill(requests.kill)
        if requests.delete:
            self.delete(requests.delete)

    # ----------------------------------------------------------------- persistence
    def flush(self, wait: bool = False) -> None:
        """Hand buffered state to the writer thread; ``wait`` until it is in storage."""
        self._last_flush = time.time()
        batch = Batch(self._artifacts, self._cache_entries, logs=self._logs)
        self._artifacts, self._cache_entries, self._logs = [], [], []
        # Write coalescing: a node or run still on its way (queued, running) is written once it
        # has been so for COALESCE seconds, or at its end; a 1-second node costs one write, not
        # four. Nothing is lost by waiting: after a crash, unfinished nodes start over anyway.
        cutoff = time.time() - COALESCE
        batch.nodes = [self._node_snapshot(rid, n) for (rid, _), n in self._dirty_done.items()]
        self._dirty_done = {}
        live = self._dirty_live
        while live:
            ident, (node, changed) = next(iter(live.items()))
            if not wait and changed > cutoff:
                break  # the rest changed even more recently
            live.popitem(last=False)
            batch.nodes.append(self._node_snapshot(ident[0], node))
        finished = {r.record.id: r for r in self._finished}
        due = [rid for rid in finished if rid in self._dirty_runs]
        for rid, changed in self._dirty_runs.items():
            if not wait and changed > cutoff:
                break
            if rid not in finished:
                due.append(rid)
        for rid in due:
            self._dirty_runs.pop(rid, None)
            run = self.runs.get(rid) or finished.get(rid)
            if run is None:
                continue
            states = [n.state for n in run.nodes.values()]
            done = run.state in TERMINAL_RUN_STATES
            completed = max((n.completed or 0.0) for n in run.nodes.values()) if done else None
            progress = 1.0 if done else run_progress(states)
            batch.runs.append((rid, run.state, run.started, completed, progress))
            parent = run.record.parent_id
            if parent is not None and run.started is not None:
                first = self._parent_started.get(parent)
                if first is None or run.started < first:
                    self._parent_started[parent] = run.started
                    self._dirty_parents.add(parent)
        self._finished = []
        for parent in self._dirty_parents:
            tally = self.parents.get(parent, ParentTally())
            state = tally.state()
            done = state in TERMINAL_RUN_STATES
            started = self._parent_started.get(parent)
            batch.runs.append(
                (parent, state, started, time.time() if done else None, tally.progress())
            )
            if done:
                self.parents.pop(parent, None)
                self._parent_started.pop(parent, None)
        self._dirty_parents = set()
        self.writer.submit(batch)
        if wait:
            self.writer.drain()

    def close(self) -> None:
        """Write everything and stop the writer thread."""
        self.flush(wait=True)
        self.writer.close()

    def _node_snapshot(self, run_id: str, node: NodeRun) -> NodeSnapshot:
        return (
            run_id,
            node.plan.name,
            node.plan.spec.name,
            node.state,
            node.key,
            node.components.seed if node.components else None,
            node.attempts,
            node.queued_at,
            node.started,
            node.completed,
            node.error,
            node.outputs,
            node.cache_source,
            node.plan.position,
        )
