"""Runs each task in the calling thread at submit time: for tests and ``--debug``."""

from __future__ import annotations

import time
from collections.abc import Sequence

from accio.executors.agents import Agent, this_machine
from accio.executors.base import Executor, NodeTask, TaskResult
from accio.executors.worker import execute_task
from accio.ops.registry import OperatorRegistry


class InlineExecutor(Executor):
    """No processes, no parallelism; exceptions keep their full context in a debugger."""

    name = "inline"

    def __init__(self, artifacts_root: str, registry: OperatorRegistry | None = None) -> None:
        self.artifacts_root = artifacts_root
        self.registry = registry
        self._results: list[TaskResult] = []

    @property
    def slots(self) -> int:
        return 1

    def agents(self) -> list[Agent]:
        """This process: its tasks run inside ``submit``, so none is ever seen running."""
        return [this_machine(self.name, 1, ())]

    def start(self) -> None:
        pass

    def submit(self, tasks: Sequence[NodeTask]) -> None:
        for task in tasks:
            self._results.append(execute_task(task, self.artifacts_root, self.registry))

    def poll(self, timeout: float) -> list[TaskResult]:
        results, self._results = self._results, []
        return results

    def cancel(self, task_ids: Sequence[int]) -> None:
        wanted = set(task_ids)
        now = time.time()
        self._results = [
            TaskResult(r.task_id, "killed", finished=now) if r.task_id in wanted else r
            for r in self._results
        ]

    def stop(self) -> None:
        pass
