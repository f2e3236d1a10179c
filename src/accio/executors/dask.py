"""Scale-out: the same executor contract on a ``dask.distributed`` cluster.

Any Dask cluster works: a ``LocalCluster``, a ``dask-jobqueue`` cluster on SLURM/SGE/PBS, or a
scheduler address. Tasks run :func:`accio.executors.worker.execute_task` on the workers, which
must see the same artifact store path (a shared filesystem) and have the operator plugins
installed. Declared resources reach Dask as ``resources={"cpus": .., "memory_mb": ..}`` when the
executor knows its workers' size (``worker_size``: workers started with ``--resources
"cpus=N,memory_mb=M"``, as :mod:`accio.executors.jobqueue` does; on a cluster given by its
address, when every worker advertises both), capped at that size so that no task waits for a
worker that cannot exist; otherwise Dask's own slots decide. Tasks get
decreasing Dask priorities, so that Dask runs those that fit in submission order (FIFO).

Short tasks are bundled: once an operator's tasks are measured short (median run time under
:data:`SHORT_TASK`), consecutive ones go to Dask as one task of about :data:`BUNDLE_SECONDS`
(Dask costs ~1 ms of scheduler time per task and advises tasks of 100 ms or more). Each keeps
its own result, live lines and ``ran_on``; a killed one that already left is run but dropped.
A bundle starts no task after :data:`BUNDLE_BUDGET` (its operator turned slow): the rest is
sent again, one Dask task each.

A task run in a batch job (SLURM, PBS, SGE) says so in its node's logs: a first stderr line
``accio: ran on slurm job 1234 (host H, cwd D, HOME D2)``.

Live logs: a task's lines are sent while it runs as Dask worker events (topic
:data:`LIVE_TOPIC`, every 0.25 s, through the Dask scheduler to this client), the rest with its
result. An event may arrive after the result; log lines are ordered by their time when read.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import os
import socket
import statistics
import time
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from accio.errors import UsageError
from accio.executors.agents import Agent, batch_jobs, dask_agents, task_label
from accio.executors.base import Executor, NodeTask, TaskLogs, TaskResult
from accio.executors.worker import LivePump, batch_job, execute_task
from accio.ops.api import Resources
from accio.storage.records import LogLine

log = logging.getLogger("accio.executors.dask")

#: Dask event topic of the lines of running tasks.
LIVE_TOPIC = "accio-live-logs"
#: Tasks whose (run, node) is kept for late live lines.
KEEP_NAMES = 100_000
#: Operators whose tasks took less than this (seconds, median of the last
#: :data:`SAMPLES`: a worker's first, cold run does not count) are run in bundles.
SHORT_TASK = 0.01
SAMPLES = 16
#: What a bundle of short tasks should take: Dask advises tasks of ~100 ms or more.
BUNDLE_SECONDS = 0.1
#: Most tasks in one bundle.
MAX_BUNDLE = 64
#: Seconds after which a bundle starts no further task (its operator turned slow): the rest
#: is sent again, one Dask task each, so a bundle never holds a worker much longer than this.
BUNDLE_BUDGET = 5 * BUNDLE_SECONDS


#: Seconds the Dask scheduler has to answer for :meth:`DaskExecutor.agents`.
AGENTS_TIMEOUT = 2.0
#: Seconds between two looks at the size of a cluster given by its address.
RESIZE_INTERVAL = 5.0

#: Start of the log line naming where a task ran (``accio: ran on slurm job 1234 ...``).
RAN_ON = "accio: ran on"


def advertised_size(workers: Sequence[Mapping[str, Any]]) -> dict[str, float] | None:
    """The resources every worker of a cluster advertises (``dask worker --resources
    "cpus=N,memory_mb=M"``): the smallest of each, so that a capped task fits any worker; None
    when some worker advertises neither (tasks then take Dask's slots, not resources)."""
    sizes: dict[str, float] = {}
    for worker in workers:
        resources = worker.get("resources") or {}
        if "cpus" not in resources or "memory_mb" not in resources:
            return None
        for name in ("cpus", "memory_mb"):
            value = float(resources[name])
            sizes[name] = min(sizes.get(name, value), value)
    return sizes or None


def cluster_capacity(
    workers: Sequence[Mapping[str, Any]], size: Mapping[str, float] | None
) -> Resources | None:
    """What ``workers`` offer together: advertised cpus and memory when they all advertise
    (``size`` given), else their threads and memory limits (no limit: 4 GiB a thread)."""
    if not workers:
        return None
    cpus = memory_mb = 0.0
    for worker in workers:
        threads = int(worker.get("nthreads", 1))
        resources = worker.get("resources") or {}
        if size is not None:
            cpus += float(resources["cpus"])
            memory_mb += float(resources["memory_mb"])
        else:
            cpus += threads
            limit = int(worker.get("memory_limit") or 0)
            memory_mb += limit / 2**20 if limit else 4096.0 * threads
    return Resources(cpus, int(memory_mb), 0)


def _where(result: TaskResult) -> TaskResult:
    """``result`` with a first log line naming the batch job it ran in (if any), with the
    worker's cwd and HOME; ``ran_on`` (filled by the worker) is what the node records."""
    job = batch_job()
    if job is None:
        return result
    line = (
        f"{RAN_ON} {job[0]} job {job[1]} (host {socket.gethostname()}, cwd {os.getcwd()},"
        f" HOME {os.environ.get('HOME', '')})"
    )
    entry = (result.started or time.time(), "stderr", line)
    return replace(result, logs=(entry, *result.logs))


def run_task(task: NodeTask, artifacts_root: str) -> TaskResult:
    """On a Dask worker: :func:`execute_task`, its lines sent as worker events while it runs."""
    return run_tasks([task], artifacts_root)[0]


def run_tasks(
    tasks: Sequence[NodeTask], artifacts_root: str, budget: float | None = None
) -> list[TaskResult]:
    """On a Dask worker: a bundle of short tasks, one after the other, each with its own
    result (and live lines, through one pump). Once ``budget`` seconds have passed no further
    task starts (its operator turned slow): the results are those of the tasks that ran, and
    the executor sends the rest again, each on its own."""
    try:
        from distributed import get_worker

        worker: Any = get_worker()
    except (ImportError, ValueError):  # not on a worker (a test calling it directly)
        worker = None

    def send(message: TaskLogs) -> None:
        lines = [list(line) for line in message.lines]
        worker.log_event(LIVE_TOPIC, {"task": message.task_id, "lines": lines})

    pump = LivePump(send) if worker is not None else None
    start = time.monotonic()
    results: list[TaskResult] = []
    try:
        for task in tasks:
            if results and budget is not None and time.monotonic() - start > budget:
                break
            results.append(_where(execute_task(task, artifacts_root, live=pump)))
    finally:
        if pump is not None:
            pump.close()
    return results


class DaskExecutor(Executor):
    """Runs tasks as Dask futures; results are collected as they complete."""

    name = "dask"
    #: What its agents are (``slurm``, ``pbs``, ``sge`` on a dask-jobqueue cluster).
    agent_kind = "dask"

    def __init__(
        self,
        client: Any,
        artifacts_root: str,
        *,
        slots: int | None = None,
        owned: Sequence[Any] = (),
        worker_size: Mapping[str, float] | None = None,
    ) -> None:
        """``worker_size`` (``{"cpus": N, "memory_mb": M}``): the resources every worker
        advertises; tasks then ask for their declared resources, capped at it."""
        import distributed

        self.client = client
        self._owned = list(owned)  # closed by stop(): what connect() created
        self.artifacts_root = artifacts_root
        self._slots = slots or 1
        #: Sized by the cluster's threads (a scheduler address): looked at again every
        #: :data:`RESIZE_INTERVAL` seconds, since such a cluster gains and loses workers.
        self._sized_by_cluster = slots is None
        self._sized_at = -math.inf
        self._capacity: Resources | None = None
        self._worker_size = dict(worker_size) if worker_size else None
        self._sequence = itertools.count()
        self._futures: dict[int, Any] = {}
        as_completed: Any = distributed.as_completed
        self._completed: Any = as_completed([], with_results=False)
        self._killed: list[TaskResult] = []
        self._durations: dict[str, deque[float]] = {}  # operator -> its last run times
        self._solo: set[str] = set()  # operators whose bundle crashed: never bundled again
        self._names: OrderedDict[int, tuple[str, str]] = OrderedDict()  # task -> (run, node)
        self._live: deque[dict[str, Any]] = deque()  # appended by the client's event thread
        client.subscribe_topic(LIVE_TOPIC, self._on_live)

    def _on_live(self, event: tuple[float, dict[str, Any]]) -> None:
        self._live.append(event[1])

    def take_logs(self) -> list[LogLine]:
        out: list[LogLine] = []
        while self._live:
            message = self._live.popleft()
            names = self._names.get(message["task"])
            if names is not None:
                out.extend(
                    LogLine(names[0], names[1], ts, stream, line)
                    for ts, stream, line in message["lines"]
                )
        return out

    @classmethod
    def connect(cls, address: str | None, artifacts_root: str, *, workers: int) -> DaskExecutor:
        """An executor on the Dask scheduler at ``address``; without one, on a new
        ``LocalCluster`` of ``workers`` single-threaded processes (stopped with the executor)."""
        try:
            import distributed

            dask: Any = distributed  # untyped library
        except ImportError as exc:
            raise UsageError(
                "the dask executor needs dask.distributed: pip install 'accio[dask]'"
            ) from exc
        if address:
            client = dask.Client(address)
            return cls(client, artifacts_root, owned=[client])
        cluster = dask.LocalCluster(
            n_workers=max(1, workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # port 8787 may be taken: no warning, no clash
        )
        client = dask.Client(cluster)
        return cls(client, artifacts_root, slots=max(1, workers), owned=[client, cluster])

    @property
    def slots(self) -> int:
        """Tasks the cluster runs at once: as given, or its workers' threads (at least 1)."""
        due = time.monotonic() - self._sized_at >= RESIZE_INTERVAL
        # While the client reconnects (the Dask scheduler gone) keep the last size at once.
        if (
            self._sized_by_cluster
            and due
            and getattr(self.client, "status", "running") == "running"
        ):
            try:
                self._identity()
            except Exception as exc:  # unreachable for now: keep the last size
                self._sized_at = time.monotonic()
                log.debug("cannot size the Dask cluster: %s", exc)
        return self._slots

    def _identity(self) -> dict[str, Any]:
        """The Dask scheduler's view of its workers (bounded: a scheduler that is there but
        does not answer, stopped or swapping, would otherwise hold the scheduler loop until the
        TCP timeout). A cluster given by its address is sized from it at the same time, so
        that :meth:`agents`, asked every few seconds, spares :attr:`slots` its own look."""
        client = self.client
        info: dict[str, Any] = client.sync(
            client.scheduler.identity, n_workers=-1, callback_timeout=AGENTS_TIMEOUT
        )
        if self._sized_by_cluster:
            self._sized_at = time.monotonic()
            workers = list(info.get("workers", {}).values())
            self._slots = max(1, sum(int(w.get("nthreads", 1)) for w in workers))
            self._worker_size = advertised_size(workers)
            self._capacity = cluster_capacity(workers, self._worker_size)
        return info

    @property
    def capacity(self) -> Resources | None:
        """A cluster given by its address: its workers' cpus (advertised, else threads) and
        memory limits together, as last looked at (:attr:`slots`); None otherwise, or while
        it has no worker."""
        return self._capacity

    def start(self) -> None:
        pass

    def agents(self) -> list[Agent]:
        """The cluster's workers (two cheap calls to the Dask scheduler) with the Accio tasks
        each runs, and, on a batch system, each worker's job id and the jobs still queued.
        While the client reconnects (the Dask scheduler gone) it fails at once, and a scheduler
        that does not answer within :data:`AGENTS_TIMEOUT` fails it: a synchronous call would
        block the scheduler loop for the connect timeout at every look."""
        status = getattr(self.client, "status", "running")
        if status != "running":
            raise RuntimeError(f"the Dask scheduler is unreachable (client {status})")
        tasks: dict[str, list[tuple[int, str]]] = {}  # Dask key -> its tasks (bundled or not)
        for task_id, future in list(self._futures.items()):
            names = self._names.get(task_id)
            if names is not None:
                tasks.setdefault(str(future.key), []).append((task_id, task_label(*names)))
        jobs: dict[str, tuple[str | None, int, int | None]] = {}
        for owned in self._owned:
            jobs.update(batch_jobs(owned))
        info = self._identity()
        client = self.client
        processing = client.sync(
            client.scheduler.processing, workers=None, callback_timeout=AGENTS_TIMEOUT
        )
        return dask_agents(info, processing, tasks, kind=self.agent_kind, jobs=jobs)

    def resources(self, task: NodeTask) -> dict[str, float] | None:
        """What ``task`` asks Dask for: its declared cpus and memory capped at a worker's
        size, or None when the workers advertise no resources."""
        size = self._worker_size
        if size is None:
            return None
        return {
            "cpus": min(float(task.cpus), size.get("cpus", float(task.cpus))),
            "memory_mb": min(float(task.memory_mb), size.get("memory_mb", float(task.memory_mb))),
        }

    def submit(self, tasks: Sequence[NodeTask]) -> None:
        """One Dask task per task, except consecutive tasks of an operator measured short
        (:data:`SHORT_TASK`): those go in bundles of about :data:`BUNDLE_SECONDS`, since Dask's
        own cost per task (~1 ms of scheduler time and a round trip) would dwarf them. Bundles
        stay small enough for every worker to have two queued."""
        for task in tasks:
            self._names[task.task_id] = (task.run_id, task.node)
        while len(self._names) > KEEP_NAMES:
            self._names.popitem(last=False)
        spread = max(1, (len(self._futures) + len(tasks)) // (2 * self.slots))
        bundle: list[NodeTask] = []
        for task in tasks:
            first = bundle[0] if bundle else task
            alike = (first.op, first.cpus, first.memory_mb) == (task.op, task.cpus, task.memory_mb)
            if bundle and (not alike or len(bundle) >= self._bundle_limit(task.op, spread)):
                self._send(bundle)
                bundle = []
            bundle.append(task)
        if bundle:
            self._send(bundle)

    def _bundle_limit(self, op: str, spread: int) -> int:
        """How many tasks of ``op`` may share a Dask task: 1 until they are measured short."""
        samples = self._durations.get(op)
        if not samples or op in self._solo:
            return 1
        typical = statistics.median(samples)
        if typical >= SHORT_TASK:
            return 1
        return max(1, min(MAX_BUNDLE, spread, int(BUNDLE_SECONDS / max(typical, 1e-6))))

    def _send(self, bundle: Sequence[NodeTask], priority: int | None = None) -> None:
        """One Dask task for ``bundle``; ``priority``: its place in line (a resent task keeps
        the one it was first sent with, so tasks submitted later never overtake it)."""
        first = bundle[0]
        if priority is None:
            priority = -next(self._sequence)
        if len(bundle) == 1:
            call: Any = run_task
            args: Any = first
            key = f"accio-{first.run_id}-{first.node}-{first.task_id}"
        else:
            call, args = functools.partial(run_tasks, budget=BUNDLE_BUDGET), list(bundle)
            key = f"accio-bundle-{first.run_id}-{first.node}-{first.task_id}-{len(bundle)}"
        future = self.client.submit(
            call,
            args,
            self.artifacts_root,
            key=key,
            pure=False,
            resources=self.resources(first),
            # FIFO: tasks submitted within Dask's fifo_timeout (60 ms) would otherwise
            # tie, and a worker picks among tied tasks in no set order.
            priority=priority,
        )
        future.accio_tasks = tuple(bundle)
        future.accio_priority = priority
        for task in bundle:
            self._futures[task.task_id] = future
        self._completed.add(future)

    def poll(self, timeout: float) -> list[TaskResult]:
        results, self._killed = self._killed, []
        deadline = time.time() + timeout
        while True:
            done = self._completed.next_batch(block=False) if self._completed.has_ready() else []
            if done:
                results.extend(self._collect(done))
            if results or not self._futures or time.time() >= deadline:
                return results
            time.sleep(min(0.005, max(0.0, deadline - time.time())))

    def _collect(self, done: Sequence[Any]) -> list[TaskResult]:
        """Results of finished futures, fetched in one round trip; those of tasks cancelled
        meanwhile are dropped (already reported killed)."""
        live = [f for f in done if any(t.task_id in self._futures for t in f.accio_tasks)]
        finished = [f for f in live if f.status == "finished"]
        fetched: dict[Any, Any] = {}
        with contextlib.suppress(Exception):  # one lost meanwhile: each on its own below
            fetched = dict(
                zip([f.key for f in finished], self.client.gather(finished), strict=True)
            )
        out: list[TaskResult] = []
        for future in live:
            try:
                value = fetched[future.key] if future.key in fetched else future.result()
            except Exception as exc:
                out.extend(self._failed(future, exc))
                continue
            ops = {t.task_id: t.op for t in future.accio_tasks}
            for result in value if isinstance(value, list) else [value]:
                if self._futures.pop(result.task_id, None) is not None:
                    self._measure(ops[result.task_id], result)
                    out.append(result)
            priority = future.accio_priority
            for task in future.accio_tasks:  # not started: the bundle ran out of time
                if self._futures.get(task.task_id) is future:
                    self._send([task], priority)
        return out

    def _measure(self, op: str, result: TaskResult) -> None:
        """Note a task's run time under its operator (decides bundling)."""
        if result.started and result.finished >= result.started:
            samples = self._durations.get(op)
            if samples is None:
                samples = self._durations[op] = deque(maxlen=SAMPLES)
            samples.append(result.finished - result.started)

    def _failed(self, future: Any, exc: BaseException) -> list[TaskResult]:
        """A Dask task failed (its worker died, its result was lost): its task crashed. A
        bundle's tasks are sent again one by one, so that only the culprit crashes, and
        their operators are never bundled again."""
        tasks = [t for t in future.accio_tasks if self._futures.pop(t.task_id, None) is not None]
        if len(future.accio_tasks) > 1:
            self._solo.update(t.op for t in tasks)
            for task in tasks:
                self._send([task], future.accio_priority)
            return []
        error = {"classifier": type(exc).__name__, "message": str(exc), "stacktrace": ""}
        now = time.time()
        return [
            TaskResult(t.task_id, "crashed", error={**error, "causes": []}, finished=now)
            for t in tasks
        ]

    def recycle(self) -> None:
        """Operator code changed: every worker re-imports the changed plugin modules now
        (``Client.run``), so later tasks run the new code; tasks already running end on the
        code they started with, and report its hash. Workers started later import it anyway."""
        from accio.ops.registry import refresh_defaults

        try:
            self.client.run(refresh_defaults, on_error="return")
        except Exception:  # a worker gone meanwhile: its replacement imports afresh
            log.exception("cannot refresh the operators of the Dask workers")

    def cancel(self, task_ids: Sequence[int]) -> None:
        """A queued bundle is cancelled once none of its tasks is wanted; until then, or once
        running, a cancelled task (short by definition) still runs, its result dropped."""
        for task_id in task_ids:
            self._names.pop(task_id, None)  # its late lines are dropped: its run may be gone
            future = self._futures.pop(task_id, None)
            if future is not None:
                self._killed.append(TaskResult(task_id, "killed", finished=time.time()))
                if not any(t.task_id in self._futures for t in future.accio_tasks):
                    future.cancel()

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # the client may be closed already
            self.client.unsubscribe_topic(LIVE_TOPIC)
        for future in {id(f): f for f in self._futures.values()}.values():
            future.cancel()
        self._futures.clear()
        while self._owned:
            with contextlib.suppress(Exception):  # a cluster already gone is stopped
                self._owned.pop(0).close()
