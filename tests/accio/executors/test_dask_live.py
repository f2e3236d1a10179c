"""Live logs on Dask: a running task's lines come back as worker events before its result."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from accio.executors.base import NodeTask, TaskResult

distributed = pytest.importorskip("distributed")

Writer = Callable[..., str]  # the write_plugin fixture (conftest)


def test_lines_stream_from_a_dask_worker(
    tmp_path: Path, write_plugin: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accio.executors.dask import DaskExecutor

    module = write_plugin()
    monkeypatch.setenv("ACCIO_PLUGINS", f"{module}:operators")  # what Dask workers load
    inputs = {"lines": {"type": "integer", "value": 6}, "every": {"type": "double", "value": 0.3}}
    task = NodeTask(1, "run-1", "Talk", "Printer", inputs, None, "k")
    executor = DaskExecutor.connect(None, str(tmp_path / "artifacts"), workers=1)
    try:
        executor.submit([task])
        live: list[str] = []
        first_at, results = 0.0, list[TaskResult]()
        deadline = time.time() + 60
        while not results and time.time() < deadline:
            results = executor.poll(0.05)
            taken = executor.take_logs()
            if taken and not live:
                first_at = time.time()
            live += [x.line for x in taken if (x.run_id, x.node) == ("run-1", "Talk")]
        time.sleep(0.5)  # events travel apart from results: a late one is still taken
        live += [x.line for x in executor.take_logs()]
    finally:
        executor.stop()
    assert results and results[0].status == "success", results
    assert live and first_at < results[0].finished
    rest = [line for _, _, line in results[0].logs]
    assert sorted(live + rest) == [f"line {i}" for i in range(6)]
