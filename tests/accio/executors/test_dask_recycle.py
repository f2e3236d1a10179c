"""Plugin code edited on disk reaches long-lived Dask workers: ``DaskExecutor.recycle()``
(called by the scheduler when it re-imports plugins) makes every worker re-import the changed
modules, so later tasks run, and report the hash of, the new code."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accio.executors.base import UNKNOWN_CODE, NodeTask, TaskResult

pytest.importorskip("distributed")

Writer = Callable[..., str]  # the write_plugin fixture (conftest)


def task(task_id: int) -> NodeTask:
    return NodeTask(task_id, "r", f"n{task_id}", "Printer", {}, None, f"k{task_id}")


def one(executor: Any, task_id: int, timeout: float = 60) -> TaskResult:
    executor.submit([task(task_id)])
    deadline = time.time() + timeout
    while time.time() < deadline:
        for result in executor.poll(0.05):
            return result
    raise AssertionError(f"task {task_id} did not finish")


def value(result: TaskResult) -> float:
    assert result.status == "success", result.error
    return float(json.loads(result.outputs or "{}")["value"]["value"])


def test_workers_run_the_edited_code_after_recycle(
    tmp_path: Path, plugin_dir: Path, write_plugin: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accio.executors.dask import DaskExecutor

    module = write_plugin(1.0)
    path = os.pathsep.join(p for p in (str(plugin_dir), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)  # the worker processes import the plugin from it
    monkeypatch.setenv("ACCIO_PLUGINS", f"{module}:operators")
    executor = DaskExecutor.connect(None, str(tmp_path / "artifacts"), workers=1)
    try:
        first = one(executor, 1)
        assert value(first) == 1.0 and first.code_hash not in ("", UNKNOWN_CODE)
        source = plugin_dir / f"{module}.py"
        stat = source.stat()
        write_plugin(2.0, module)
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        stale = one(executor, 2)  # not told yet: the old code, under its own hash
        assert value(stale) == 1.0 and stale.code_hash == first.code_hash
        executor.recycle()
        new = one(executor, 3)
        assert value(new) == 2.0
        assert new.code_hash not in ("", UNKNOWN_CODE, first.code_hash)
    finally:
        executor.stop()
