"""The scheduler loop: feeds events to the state machine and carries out its commands.

One scheduler per Accio home (the process started by :mod:`accio.engine.daemon`). It holds
every unfinished run in memory; the database is the source of truth it reloads from after a
crash. Each iteration:

1. reads control requests (new submissions, kill, delete) and turns them into events;
2. collects executor results as one :class:`~accio.engine.events.TasksFinished` event;
3. carries out what the machine asks for: cache lookups (answered as events at once), task
   submissions and cancellations, and changes handed to the write coalescer;
4. flushes due changes to the writer thread in a few batched transactions.

Every state decision is the machine's (:mod:`accio.engine.machine`); this module only does I/O.

A storage failure that passes (:func:`accio.engine.writer.transient`: a full disk, a locked or
unreachable database) never stops the loop: while a write or a cache lookup fails, dispatch is
paused (results are still collected, nothing new starts), the condition is reported
(:mod:`accio.engine.health`), the failed operation is retried with backoff, and work resumes
once it goes through, with nothing lost.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import time
from collections.abc import Iterable

from accio.cache.fingerprint import snapshot
from accio.definitions.documents import workflow_from_document
from accio.engine.agents import AgentBoard
from accio.engine.coalesce import WriteCoalescer
from accio.engine.control import ControlChannel
from accio.engine.events import (
    CacheLookedUp,
    CancelTasks,
    Event,
    KillRuns,
    LoadedParent,
    LoadedRun,
    LookUpCache,
    Persist,
    ReadyDiscarded,
    RunsDeleted,
    RunsLoaded,
    RunUnstartable,
    SlotsChanged,
    Submit,
    TasksFinished,
)
from accio.engine.health import StatusBoard, status_path
from accio.engine.machine import StateMachine
from accio.engine.plan import WorkflowPlan
from accio.engine.tuning import (
    fast_thread_switching,
    paused_gc,
    release_long_lived,
    settle_long_lived,
)
from accio.engine.unstartable import unstartable_nodes
from accio.engine.writer import BACKOFF, StateWriter, describe, transient
from accio.errors import NotFoundError
from accio.executors.base import Executor, TaskResult
from accio.ops.api import Resources
from accio.ops.registry import OperatorRegistry
from accio.states import UNFINISHED_RUN_STATES, RunState
from accio.storage.base import Storage
from accio.storage.records import RunRecord

log = logging.getLogger("accio.scheduler")

#: Seconds between flushes of state to storage while nodes complete.
FLUSH_INTERVAL = 0.2
#: Rounds of commands and their answers per batch of events (cache hits cascading).
MAX_ROUNDS = 10_000


class Scheduler:
    """Runs every unfinished run of a storage to completion with an executor.

    ``strict`` makes a forbidden transition raise instead of being logged (tests).
    """

    def __init__(
        self,
        storage: Storage,
        executor: Executor,
        registry: OperatorRegistry,
        capacity: Resources,
        *,
        control: ControlChannel | None = None,
        strict: bool = False,
    ) -> None:
        self.storage = storage
        self.executor = executor
        self.registry = registry
        self.capacity = capacity
        self.control = control
        # What the machine dispatches by; a Dask cluster by address may grow and shrink.
        self._size = (executor.slots, executor.capacity)
        slots, cluster = self._size
        self.machine = StateMachine(cluster or capacity, slots, strict=strict, usable=self._usable)
        self.coalescer = WriteCoalescer()
        home = control.dir.parent if control is not None else None
        self.status = StatusBoard(status_path(home) if home is not None else None)
        self.agents = AgentBoard(home, executor)  # accio get agents, from other processes
        self._stalled: LookUpCache | None = None  # a cache lookup storage could not answer
        self._stall_since = 0.0
        self._failures = 0
        self._retry_at = 0.0
        self.writer = StateWriter(storage, report=self._writes_failing)
        self._plans: dict[tuple[str, str], WorkflowPlan] = {}
        self._last_flush = 0.0
        self._settled = False  # long-lived objects frozen out of the cycle collector
        self._ids = itertools.count(1)
        self._inbox: list[Event] = []  # events not yet handed to the machine
        self._loading: set[str] = set()  # ids of the runs loaded into the inbox
        self._first_load = True  # the runs of a previous scheduler's life are read then

    # ----------------------------------------------------------------- public surface
    @property
    def busy(self) -> bool:
        return bool(self._inbox) or self.machine.busy

    @property
    def trouble(self) -> str | None:
        """Why dispatch is paused (storage failing), or None."""
        if self._stalled is not None:
            return self.status.condition or "cache lookup failing"
        return self.writer.trouble

    def step(self, timeout: float = 0.05) -> None:
        """One iteration of the loop."""
        machine = self.machine
        paused = self._paused()
        if self.control is not None and not paused:
            try:
                self._handle_control()
            except Exception as exc:  # requests stay queued in the channel: retried later
                if not transient(exc):
                    raise
                log.warning("storage failing while handling requests: %s", describe(exc))
        results = self.executor.poll(timeout if machine.in_flight else 0.0)
        if results:
            now = time.time()
            self._inbox.append(TasksFinished(self._stimulus("results"), now, tuple(results)))
        live = self.executor.take_logs()  # lines of running nodes: out with the next flush
        if live:
            self.coalescer.add(Persist("live-logs", logs=tuple(live)), time.time())
        if self._inbox and not paused:
            self._feed()
        if time.time() - self._last_flush >= FLUSH_INTERVAL or not machine.in_flight:
            self.flush()
        self.agents.tick()
        size = (self.executor.slots, self.executor.capacity)
        if size != self._size:
            self._size = size
            self._inbox.append(SlotsChanged(self._stimulus("slots"), time.time(), *size))
        if (paused or (not machine.in_flight and not machine.runs)) and timeout:
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

    def load_unfinished(self) -> int:
        """Read every unfinished run not yet in memory (new submissions, or resume); they are
        handed to the machine with the next step, kill or discard, in the same batch."""
        self.writer.drain()  # runs finished in memory must be finished in storage too
        known = self.machine.runs.keys() | self._loading
        with paused_gc():
            records = [r for r in self.storage.unfinished_runs() if r.id not in known]
            if not records:
                return 0
            records.sort(key=lambda r: (r.created, r.child_index or 0))
            parents = self._load_parents(records)
            resumed = [r.id for r in records if r.state != "pending"]
            stored = self.storage.nodes_of_runs(resumed) if resumed else {}
            if self._first_load:
                # A run's state is written with a delay (coalescing) but its ended nodes at
                # once: after a crash a "pending" run may hold finished nodes to restore.
                quiet = [r.id for r in records if r.state == "pending"]
                stored.update(self.storage.started_nodes_of_runs(quiet) if quiet else {})
                self._first_load = False
            loaded: list[LoadedRun] = []
            broken: list[Event] = []
            for record in records:
                try:
                    plan = self._plan_for(record)
                except Exception as exc:  # a broken run must not stop the others
                    log.exception("cannot start run %s", record.id)
                    reason = f"{type(exc).__name__}: {exc}{self.registry.broken()}"
                    self.writer.submit(  # the reason, on its nodes (describe run)
                        unstartable_nodes(self.storage, record, reason, self.registry, time.time())
                    )
                    stimulus = self._stimulus("unstartable")
                    broken.append(RunUnstartable(stimulus, time.time(), record, reason))
                    continue
                loaded.append(LoadedRun(record, plan, tuple(stored.get(record.id, ()))))
            now = time.time()
            event = RunsLoaded(self._stimulus("loaded"), now, tuple(loaded), tuple(parents))
            self._inbox += [event, *broken]
            self._loading.update(r.record.id for r in loaded)
        return len(loaded)

    def discard_ready(self) -> None:
        """Resolve and start nothing that is loaded: a scheduler that only kills and deletes
        (the client's, when no scheduler process runs)."""
        self._feed(ReadyDiscarded(self._stimulus("discard"), time.time()))

    def kill(self, run_ids: Iterable[str]) -> None:
        """Kill runs (a parent id kills its children): running nodes killed, the rest cancelled;
        returns once storage says so."""
        targets = self._expand_ids(run_ids)
        self.flush(wait=True)
        active = self.machine.runs
        stored = tuple(
            r
            for r in self.storage.get_runs(sorted(targets - active.keys()))
            if r.state in UNFINISHED_RUN_STATES
        )
        self._feed(KillRuns(self._stimulus("kill"), time.time(), tuple(sorted(targets)), stored))
        self.flush(wait=True)

    def delete(self, run_ids: Iterable[str]) -> None:
        """Kill, then delete runs and their children from storage."""
        ids = list(run_ids)
        self.kill(ids)
        gone: list[str] = []
        for rid in ids:
            try:
                gone.extend(self.storage.delete_run(rid))
            except NotFoundError:
                continue
        self.coalescer.forget(gone)
        self._feed(RunsDeleted(self._stimulus("deleted"), time.time(), tuple(gone)))

    def flush(self, wait: bool = False) -> None:
        """Hand due state to the writer thread; ``wait`` until everything is in storage."""
        now = time.time()
        self._last_flush = now
        self.writer.submit(self.coalescer.batch(now, wait))
        if wait:
            self.writer.drain()

    def close(self) -> None:
        """Write everything and stop the writer thread."""
        self.flush(wait=True)
        self.writer.close()
        self.status.close()
        self.agents.close()

    # ----------------------------------------------------------------- storage trouble
    def _usable(self, digests: set[str]) -> set[str]:
        """The storage's artifact guard (installed by the runtime), for remembered results."""
        guard = self.storage.artifact_guard
        return digests if guard is None else guard(digests)

    def _writes_failing(self, condition: str | None) -> None:
        """From the writer thread: writes fail (or go through again)."""
        if self._stalled is None:
            self.status.report(condition, time.time(), backlog=self.writer.backlog)

    def _paused(self) -> bool:
        """Whether storage is failing; retries a stalled lookup when due, reports changes."""
        if self._stalled is not None and time.time() >= self._retry_at:
            command, self._stalled = self._stalled, None
            event = self._perform(command)
            if event is not None:  # answered: resume with it (and what waited in the inbox)
                log.warning("cache lookups go through again")
                self._failures = 0
                self._feed(event)
        condition = self.trouble
        if condition is None:
            self.status.report(None, None)
        else:
            since = self._stall_since if self._stalled is not None else time.time()
            self.status.report(condition, since, backlog=self.writer.backlog)
        return condition is not None

    def _stall(self, command: LookUpCache, exc: BaseException) -> None:
        """Keep ``command`` to retry later with backoff; dispatch pauses meanwhile."""
        condition = describe(exc)
        if self._failures == 0:
            self._stall_since = time.time()
            log.warning("cache lookup failed (%s): dispatch paused, retrying", condition)
        self._retry_at = time.time() + BACKOFF[min(self._failures, len(BACKOFF) - 1)]
        self._failures += 1
        self._stalled = command
        self.status.report(condition, self._stall_since)

    # ----------------------------------------------------------------- events and commands
    def _stimulus(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def _feed(self, *events: Event) -> None:
        """Hand the inbox and ``events`` to the machine as one batch and carry out its
        commands; a cache lookup's answer is the next event, until nothing more is asked."""
        batch, self._inbox = [*self._inbox, *events], []
        loading = any(isinstance(e, RunsLoaded) for e in batch)
        self._loading.clear()
        # No cycle collection while 10^4 runs are built; then they are frozen out of its sight.
        # One snapshot per batch: a 10^4-child sweep naming one directory stats it once.
        with paused_gc() if loading else contextlib.nullcontext(), snapshot():
            commands = self.machine.handle(*batch)
            for _ in range(MAX_ROUNDS):
                follow_ups = [e for e in map(self._perform, commands) if e is not None]
                if not follow_ups:
                    break
                commands = self.machine.handle(*follow_ups)
        if loading and self.machine.runs:
            settle_long_lived()
            self._settled = True
        elif self._settled and not self.machine.runs:
            release_long_lived()
            self._settled = False

    def _perform(self, command: object) -> Event | None:
        if isinstance(command, Persist):
            self.coalescer.add(command, time.time())
        elif isinstance(command, Submit):
            try:
                self.executor.submit(command.tasks)
            except Exception as exc:  # the executor is gone: its tasks crashed
                log.exception("cannot submit %d tasks", len(command.tasks))
                error = {
                    "classifier": "ExecutorError",
                    "message": f"the executor refused the task: {exc}",
                    "stacktrace": "",
                    "causes": [],
                }
                now = time.time()
                results = tuple(
                    TaskResult(t.task_id, "crashed", error=error, finished=now)
                    for t in command.tasks
                )
                return TasksFinished(f"{command.stimulus_id}-refused", now, results)
        elif isinstance(command, LookUpCache):
            try:
                found = self.storage.lookup_cache(list(command.keys))
            except Exception as exc:
                if not transient(exc):
                    raise
                self._stall(command, exc)
                return None
            answer = {k: (e.outputs, e.run_id) for k, e in found.items()}
            return CacheLookedUp(f"{command.stimulus_id}-lookup", time.time(), answer)
        elif isinstance(command, CancelTasks):
            try:
                self.executor.cancel(command.task_ids)
            except Exception:  # their nodes are already killed; a stray task only wastes time
                log.exception("cannot cancel tasks %s", command.task_ids)
        return None

    def _handle_control(self) -> None:
        assert self.control is not None
        requests = self.control.take_requests()
        if requests.submitted:
            self.reload_plugins()
            self.load_unfinished()
        if requests.kill:
            self.kill(requests.kill)
        if requests.delete:
            self.delete(requests.delete)

    def reload_plugins(self) -> None:
        """Operator code edited on disk runs from the next submission on, under its new key:
        plugins re-imported, plans rebuilt, workers that imported the old code replaced."""
        try:
            changed = self.registry.refresh()
        except Exception:  # a plugin that broke meanwhile is in registry.load_errors
            log.exception("cannot reload the operator plugins")
            return
        if changed:
            self._plans.clear()
            self.executor.recycle()

    # ----------------------------------------------------------------- loading
    def _load_parents(self, records: list[RunRecord]) -> list[LoadedParent]:
        """Children states of every parent new to the machine; all children are read from
        storage only if some are not among ``records`` (some already ended)."""
        by_parent: dict[str, dict[str, RunState]] = {}
        for r in records:
            if r.parent_id is not None and r.parent_id not in self.machine.parents:
                by_parent.setdefault(r.parent_id, {})[r.id] = r.state
        out = []
        for parent in self.storage.get_runs(list(by_parent)):
            kids = by_parent[parent.id]
            if len(kids) < parent.n_children:
                kids = {c.id: c.state for c in self.storage.children(parent.id)}
            out.append(LoadedParent(parent.id, parent.state, parent.started, kids))
        return out

    def _plan_for(self, record: RunRecord) -> WorkflowPlan:
        key = (record.workflow_id, record.workflow_version)
        plan = self._plans.get(key)
        if plan is None:
            stored = self.storage.get_workflow(record.workflow_id, record.workflow_version)
            workflow, _ = workflow_from_document(json.loads(stored.definition), self.registry)
            plan = self._plans[key] = WorkflowPlan.build(workflow, self.registry)
        return plan

    def _expand_ids(self, run_ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for rid in run_ids:
            out.add(rid)
            tally = self.machine.parents.get(rid)
            if tally is None:
                out.update(c.id for c in self.storage.children(rid))
            else:
                out.update(tally.states)
        return out
