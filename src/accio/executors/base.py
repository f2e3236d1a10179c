"""The executor contract: tasks go in, results come back; executors never touch run state.

An executor runs :class:`NodeTask`s somewhere (this process, a local process pool, a Dask
cluster) and hands back :class:`TaskResult`s through :meth:`Executor.poll`. Only the scheduler
loop changes state, from those results (the redun / Dask pattern).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from accio.executors.agents import Agent
from accio.ops.api import Resources
from accio.storage.records import LogLine

#: (ts, stream, line): one line a task wrote to stdout or stderr.
LogEntry = tuple[float, str, str]


@dataclass(frozen=True)
class NodeTask:
    """One node execution, fully resolved: everything a worker needs and nothing else.

    ``inputs`` maps each port that has a value to its typed canonical JSON
    (``{"type": "dataset", "value": "<digest>"}`` for datasets).
    """

    task_id: int
    run_id: str
    node: str
    op: str
    inputs: dict[str, Any]
    seed: int | None
    cache_key: str
    attempt: int = 1
    cpus: float = 1.0
    memory_mb: int = 512


ResultStatus = Literal["success", "failed", "crashed", "killed"]

#: :attr:`TaskResult.code_hash` of a task whose operator code is not the code now on disk (the
#: module was edited after this worker imported it): the hash of what ran cannot be known, so
#: the result is used but never memoized.
UNKNOWN_CODE = "?"


@dataclass(frozen=True)
class TaskResult:
    """What came back from a task.

    ``status`` is ``failed`` when the operator raised, ``crashed`` when its process died
    (crash isolation: only this node fails), ``killed`` when it was cancelled.
    """

    task_id: int
    status: ResultStatus
    #: ``{port: {"type", "value"}}`` as compact sorted-keys JSON text, serialised in the worker
    #: so that the scheduler stores it as is (and parses it only if a downstream node needs it).
    outputs: str | None = None
    artifacts: tuple[tuple[str, int], ...] = ()
    logs: tuple[tuple[float, str, str], ...] = ()  # (ts, stream, line)
    error: dict[str, Any] | None = None
    started: float = 0.0
    finished: float = 0.0
    cpu_seconds: float = 0.0
    #: Where it ran: ``"slurm job 1234 on HOST"`` inside a batch job, else ``"HOST pid PID"``
    #: (empty when it did not run, e.g. a crash the executor reported).
    ran_on: str = ""
    #: :attr:`OperatorSpec.code_hash` of the operator code the worker actually ran ("" when
    #: unknown): plugins re-imported mid-run make it differ from the plan's, and the result is
    #: then cached under the key of the code that produced it.
    code_hash: str = ""


@dataclass(frozen=True)
class TaskLogs:
    """Lines a task printed while still running, sent by a worker ahead of its result."""

    task_id: int
    lines: tuple[LogEntry, ...]


class Executor(ABC):
    """Runs tasks; results are collected with :meth:`poll`.

    ``slots`` is how many tasks may run at once (the scheduler still enforces its resource
    capacity; an executor never runs more than it was given).
    """

    name: str = "executor"

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def submit(self, tasks: Sequence[NodeTask]) -> None:
        """Start these tasks now; each result arrives later through :meth:`poll`."""

    @abstractmethod
    def poll(self, timeout: float) -> list[TaskResult]:
        """Results available within ``timeout`` seconds (possibly none)."""

    @abstractmethod
    def cancel(self, task_ids: Sequence[int]) -> None:
        """Stop tasks; each yields a ``killed`` result, or its own result if it ended first.

        The scheduler has already ended the nodes of cancelled tasks and ignores whatever comes
        back for them; unknown or finished ids are a no-op.
        """

    @abstractmethod
    def stop(self) -> None: ...

    def take_logs(self) -> list[LogLine]:
        """Lines of tasks still running, collected since the last call (live logs); lines not
        taken here come with their task's :class:`TaskResult`. Default: none, every line comes
        with its result."""
        return []

    def recycle(self) -> None:  # noqa: B027 (optional hook, a no-op by default)
        """Operator code changed (plugins re-imported): run no further task on code loaded
        before. Default: nothing to do (the executor runs in this process, or cannot)."""

    def agents(self) -> list[Agent]:
        """Where tasks run now (``accio get agents``): must be cheap, the scheduler asks every
        few seconds. Default: none known."""
        return []

    @property
    @abstractmethod
    def slots(self) -> int: ...

    @property
    def capacity(self) -> Resources | None:
        """What its workers offer together, when the executor knows it better than the
        settings do (a Dask cluster given by its address); None: the settings' capacity."""
        return None

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
