"""The default executor: a pool of local worker processes with per-task crash isolation.

Unlike ``concurrent.futures.ProcessPoolExecutor`` (where one dead worker breaks the whole pool and
every pending future), each worker here has its own pipe, so the executor knows which task a dead
process was running: that node alone fails (``crashed``) and the worker is replaced. Killing a
running task terminates its worker the same way.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from accio.executors.agents import Agent, task_label, this_machine
from accio.executors.base import Executor, NodeTask, TaskLogs, TaskResult
from accio.storage.records import LogLine

PRELOAD = ["accio.executors.worker", "pyarrow.parquet", "accio.executors.preload"]


def _worker_main(conn: Connection, artifacts_root: str, plugins: str | None) -> None:
    """Worker process: run batches of tasks until the pipe closes (the scheduler died)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if plugins is not None:
        os.environ["ACCIO_PLUGINS"] = plugins  # for subprocesses operators may start
    from accio.executors.worker import LivePump, execute_task, use_plugins

    try:
        registry = use_plugins(plugins)
    except Exception:  # a broken plugin list fails each task with its reason instead
        registry = None
    live = LivePump(conn.send)
    while True:
        try:
            tasks = conn.recv()
        except (EOFError, OSError):
            return
        if tasks is None:
            return
        for task in tasks:
            result = execute_task(task, artifacts_root, registry, live)
            try:
                conn.send(result)
            except (BrokenPipeError, OSError):
                return


def _die_with_parent() -> None:
    """On Linux, ask the kernel to SIGKILL this worker when the scheduler process dies."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


@dataclass
class _Worker:
    process: Any
    conn: Connection
    tasks: deque[NodeTask] = field(default_factory=deque)  # sent, not yet answered
    retiring: bool = False  # runs older plugin code: gets no new task, replaced once idle


class LocalExecutor(Executor):
    """``slots`` worker processes on this machine."""

    name = "local"

    def __init__(
        self,
        artifacts_root: str,
        slots: int | None = None,
        *,
        start_method: str | None = None,
        batch: int = 16,
        plugins: str | None = None,
    ) -> None:
        """``plugins`` is ``Settings.plugins``, handed to every worker explicitly (forked from
        a fork server, a worker does not see this process's environment); None reads
        ``$ACCIO_PLUGINS``."""
        self.artifacts_root = artifacts_root
        self._slots = max(1, slots or os.cpu_count() or 1)
        self._batch = max(1, batch)
        method = start_method or (
            "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        )
        self._ctx = mp.get_context(method)
        if method == "forkserver":
            self._ctx.set_forkserver_preload(PRELOAD)
        self._workers: list[_Worker] = []
        self._backlog: deque[NodeTask] = deque()
        self._results: list[TaskResult] = []
        self._cancelled: set[int] = set()
        self._logs: list[LogLine] = []
        self._plugins = plugins if plugins is not None else os.environ.get("ACCIO_PLUGINS")

    @property
    def slots(self) -> int:
        return self._slots

    def agents(self) -> list[Agent]:
        """This machine: its worker slots and the task each busy worker runs (the first of its
        batch; the rest wait behind it)."""
        running = [w.tasks[0] for w in self._workers if w.tasks]
        labels = [task_label(t.run_id, t.node) for t in running]
        retiring = any(w.retiring for w in self._workers)
        return [this_machine(self.name, self._slots, labels, retiring=retiring)]

    def start(self) -> None:
        while len(self._workers) < self._slots:
            self._workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main,
            args=(child, self.artifacts_root, self._plugins),
            daemon=True,
            name="accio-worker",
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def submit(self, tasks: Sequence[NodeTask]) -> None:
        if not self._workers:
            self.start()  # lazily: a sweep served from the cache never starts a process
        self._backlog.extend(tasks)
        self._dispatch()

    def _dispatch(self) -> None:
        """Top every worker up to two batches, so it never waits for the scheduler between tasks.

        Tasks sent together run one after the other in that worker: the number running at once
        never exceeds the number of workers.
        """
        workers = [w for w in self._workers if not w.retiring]
        while self._backlog and workers:  # none: wait for a retiring worker to be replaced
            worker = min(workers, key=lambda w: len(w.tasks))
            if len(worker.tasks) > self._batch:
                return
            size = min(self._batch, len(self._backlog))
            batch = [self._backlog.popleft() for _ in range(size)]
            worker.tasks.extend(batch)
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.conn.send(batch)  # a dead worker is noticed by poll (process sentinel)

    def poll(self, timeout: float) -> list[TaskResult]:
        if not self._workers:
            return self._take()
        busy = [w for w in self._workers if w.tasks]
        if not busy:
            if timeout > 0 and not self._results:
                time.sleep(min(timeout, 0.05))
            return self._take()
        waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(waitables, timeout=0 if self._results else timeout))
        for worker in busy:
            if worker.conn in ready or worker.process.sentinel in ready:
                self._receive(worker)  # results sent before dying still count
                if worker.tasks and not worker.process.is_alive():
                    self._replace(worker, "crashed")
                elif worker.retiring and not worker.tasks:
                    self._retire(worker)
        self._dispatch()
        return self._take()

    def _receive(self, worker: _Worker) -> None:
        while worker.tasks:
            try:
                if not worker.conn.poll():
                    return
                result: TaskResult | TaskLogs = worker.conn.recv()
            except (EOFError, OSError):
                return
            if isinstance(result, TaskLogs):
                self._live_lines(worker, result)
                continue
            if worker.tasks and worker.tasks[0].task_id == result.task_id:
                worker.tasks.popleft()
            if result.task_id in self._cancelled:
                self._cancelled.discard(result.task_id)
                result = TaskResult(result.task_id, "killed", finished=time.time())
            self._results.append(result)

    def _live_lines(self, worker: _Worker, message: TaskLogs) -> None:
        """Lines of a task still running, as log records of its node (none for a cancelled
        task: its run may be deleted, and its lines would then reference no run)."""
        if message.task_id in self._cancelled:
            return
        task = next((t for t in worker.tasks if t.task_id == message.task_id), None)
        if task is not None:
            self._logs.extend(
                LogLine(task.run_id, task.node, ts, stream, line)  # type: ignore[arg-type]
                for ts, stream, line in message.lines
            )

    def take_logs(self) -> list[LogLine]:
        logs, self._logs = self._logs, []
        return logs

    def recycle(self) -> None:
        """Plugin code changed: idle workers are replaced now, busy ones once their tasks end
        (they get no new task meanwhile), so that no task runs the old code."""
        for worker in list(self._workers):
            worker.retiring = True
            if not worker.tasks:
                self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            worker.conn.send(None)  # it exits at once; its pipe and process are released
        with contextlib.suppress(Exception):
            worker.process.join(timeout=0.5)
            if worker.process.is_alive():
                worker.process.kill()
        with contextlib.suppress(Exception):
            worker.conn.close()
        self._workers[self._workers.index(worker)] = self._spawn()

    def _replace(self, worker: _Worker, status: str) -> None:
        """The worker is gone (crashed or killed): fail its tasks, start a new worker."""
        with contextlib.suppress(Exception):
            worker.process.join(timeout=1)
        code = worker.process.exitcode
        now = time.time()
        first = True
        requeue: list[NodeTask] = []
        for task in worker.tasks:
            if task.task_id in self._cancelled and not first:
                self._cancelled.discard(task.task_id)
                self._results.append(TaskResult(task.task_id, "killed", finished=now))
                continue
            if first:
                error: dict[str, Any] = {
                    "classifier": "WorkerCrashed" if status == "crashed" else "Killed",
                    "message": (
                        f"the worker process died with exit code {code} while running this node"
                        if status == "crashed"
                        else "killed on request"
                    ),
                    "stacktrace": "",
                    "causes": [],
                }
                self._results.append(TaskResult(task.task_id, status, error=error, finished=now))  # type: ignore[arg-type]
                first = False
            else:  # batch-mates that never started go back to the front of the queue
                requeue.append(task)
        self._backlog.extendleft(reversed(requeue))
        worker.tasks.clear()
        with contextlib.suppress(Exception):
            worker.conn.close()
        index = self._workers.index(worker)
        self._workers[index] = self._spawn()

    def cancel(self, task_ids: Sequence[int]) -> None:
        wanted = set(task_ids)
        kept: deque[NodeTask] = deque()
        for task in self._backlog:
            if task.task_id in wanted:
                self._results.append(TaskResult(task.task_id, "killed", finished=time.time()))
            else:
                kept.append(task)
        self._backlog = kept
        for worker in list(self._workers):
            if not worker.tasks:
                continue
            # queued behind the running one in this worker: its result will be reported killed
            self._cancelled.update(
                t.task_id for t in list(worker.tasks)[1:] if t.task_id in wanted
            )
            if worker.tasks[0].task_id in wanted:
                worker.process.kill()
                worker.process.join(timeout=5)
                self._replace(worker, "killed")

    def _take(self) -> list[TaskResult]:
        results, self._results = self._results, []
        return results

    def stop(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
        deadline = time.time() + 2
        for worker in self._workers:
            worker.process.join(timeout=max(0.0, deadline - time.time()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=1)
            with contextlib.suppress(Exception):
                worker.conn.close()
        self._workers.clear()
