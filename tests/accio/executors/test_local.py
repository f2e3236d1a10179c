"""The local executor: live log lines of running tasks, plugins handed to workers, recycling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accio.executors.base import NodeTask, TaskResult
from accio.executors.local import LocalExecutor
from accio.storage.records import LogLine

Writer = Callable[..., str]  # the write_plugin fixture (conftest)


def task(task_id: int, **inputs: Any) -> NodeTask:
    typed = {
        k: {"type": "integer" if isinstance(v, int) else "double", "value": v}
        for k, v in inputs.items()
    }
    return NodeTask(task_id, "run-1", f"Node{task_id}", "Printer", typed, None, f"key{task_id}")


def run_one(
    executor: LocalExecutor, t: NodeTask, timeout: float = 60
) -> tuple[TaskResult, list[tuple[float, LogLine]]]:
    """The task's result and the live lines taken before it, with the time each was taken."""
    executor.submit([t])
    live: list[tuple[float, LogLine]] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        results = executor.poll(0.05)
        live += [(time.time(), line) for line in executor.take_logs()]
        if results:
            return results[0], live
    raise AssertionError("no result in time")


def outputs(result: TaskResult) -> dict[str, Any]:
    assert result.status == "success", result.error
    return {k: v["value"] for k, v in json.loads(result.outputs or "{}").items()}


def test_lines_of_a_running_task_arrive_before_its_result(
    tmp_path: Path, write_plugin: Writer
) -> None:
    module = write_plugin()
    with LocalExecutor(
        str(tmp_path / "a"), slots=1, start_method="spawn", plugins=f"{module}:operators"
    ) as executor:
        result, live = run_one(executor, task(1, lines=6, every=0.2))
    assert live, "nothing streamed while the task ran"
    first_taken, first = live[0]
    assert first.line == "line 0" and (first.run_id, first.node) == ("run-1", "Node1")
    assert first_taken < result.finished  # seen while the task still ran
    streamed = [line.line for _, line in live]
    rest = [line for _, _, line in result.logs]
    assert streamed + rest == [f"line {i}" for i in range(6)]  # every line once, in order


def test_a_quick_task_sends_its_lines_with_its_result(
    tmp_path: Path, write_plugin: Writer
) -> None:
    module = write_plugin()
    with LocalExecutor(
        str(tmp_path / "a"), slots=1, start_method="spawn", plugins=f"{module}:operators"
    ) as executor:
        result, live = run_one(executor, task(1, lines=1))
    assert live == []
    assert [line for _, _, line in result.logs] == ["line 0"]


def test_recycled_workers_run_the_edited_code(tmp_path: Path, write_plugin: Writer) -> None:
    module = write_plugin(1.0)
    with LocalExecutor(
        str(tmp_path / "a"), slots=1, start_method="spawn", plugins=f"{module}:operators"
    ) as executor:
        first = outputs(run_one(executor, task(1))[0])
        write_plugin(2.0, module)
        assert outputs(run_one(executor, task(2))[0]) == first  # the worker keeps its code
        executor.recycle()
        second = outputs(run_one(executor, task(3))[0])
    assert first["value"] == 1.0 and second["value"] == 2.0
    assert second["pid"] != first["pid"]


def test_a_busy_worker_is_recycled_once_its_task_ends(
    tmp_path: Path, write_plugin: Writer
) -> None:
    module = write_plugin(1.0)
    with LocalExecutor(
        str(tmp_path / "a"), slots=1, start_method="spawn", plugins=f"{module}:operators"
    ) as executor:
        executor.submit([task(1, lines=4, every=0.3)])
        deadline = time.time() + 60
        while not executor.take_logs() and time.time() < deadline:  # task 1 is running
            assert not executor.poll(0.05)
        write_plugin(2.0, module)
        executor.recycle()  # task 1 runs on: it is not killed
        executor.submit([task(2)])  # waits for a worker with the new code
        results: dict[int, TaskResult] = {}
        while len(results) < 2 and time.time() < deadline:
            results.update((r.task_id, r) for r in executor.poll(0.05))
    old, new = outputs(results[1]), outputs(results[2])
    assert old["value"] == 1.0 and new["value"] == 2.0 and new["pid"] != old["pid"]
