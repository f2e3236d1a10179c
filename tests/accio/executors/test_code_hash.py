"""Workers report the code hash of the operator code they actually ran (TaskResult.code_hash).

The scheduler caches a result under the key of that code; a hash read from a source file edited
after the class was imported would name code that never ran, so the worker reports "" then.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from accio.executors.base import UNKNOWN_CODE, NodeTask, TaskResult
from accio.executors.worker import execute_task, ran_code
from accio.ops.api import Port, operator, spec_of
from accio.ops.registry import OperatorRegistry
from accio.testing import registry as ops_registry

Writer = Callable[..., str]  # the write_plugin fixture (conftest)


def task(op: str, task_id: int = 1, inputs: dict[str, Any] | None = None) -> NodeTask:
    return NodeTask(task_id, "r", "n", op, inputs or {}, None, f"k{task_id}")


def test_a_result_names_the_code_that_ran(tmp_path: Path, write_plugin: Writer) -> None:
    module = write_plugin(1.0)
    registry = OperatorRegistry.from_entry_points(plugins=f"{module}:operators")
    first = execute_task(task("Printer"), str(tmp_path / "artifacts"), registry)
    assert first.status == "success"
    assert first.code_hash == registry.require("Printer").code_hash != ""

    path = tmp_path / "plugins" / f"{module}.py"
    stat = path.stat()
    write_plugin(2.0, module)  # edited on disk, not re-imported yet: the old class runs
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    again = execute_task(task("Printer", 2), str(tmp_path / "artifacts"), registry)
    assert again.outputs is not None and '"value":1.0' in again.outputs
    assert again.code_hash == first.code_hash  # read before the edit: still the code that ran

    assert registry.refresh() is True
    new = execute_task(task("Printer", 3), str(tmp_path / "artifacts"), registry)
    assert new.outputs is not None and '"value":2.0' in new.outputs
    assert new.code_hash == registry.require("Printer").code_hash
    assert new.code_hash not in ("", first.code_hash)


def test_a_source_edited_before_the_first_task_gives_an_unknown_hash(
    tmp_path: Path, write_plugin: Writer
) -> None:
    module = write_plugin(1.0)
    registry = OperatorRegistry.from_entry_points(plugins=f"{module}:operators")
    path = tmp_path / "plugins" / f"{module}.py"
    stat = path.stat()
    write_plugin(2.0, module)  # the file now holds code this process never imported
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    result = execute_task(task("Printer"), str(tmp_path / "artifacts"), registry)
    assert result.status == "success" and '"value":1.0' in (result.outputs or "")
    assert result.code_hash == UNKNOWN_CODE  # never the hash of the edited file


def test_an_operator_without_source_gives_no_hash(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"Port": Port, "__name__": "accio_no_such_module"}
    exec(  # no file behind it: its code hash can only name the class
        "class Sourceless:\n    class Outputs:\n        v = Port('double')\n\n"
        "    def run(self, inputs, ctx):\n        return {'v': 1.0}\n",
        namespace,
    )
    spec = spec_of(operator()(namespace["Sourceless"]))
    assert spec.code_hash  # the fallback: a hash of its name, not of any code
    assert ran_code(spec) == ""
    result = execute_task(task("Sourceless"), str(tmp_path / "a"), OperatorRegistry([spec]))
    assert result.status == "success" and result.code_hash == ""


def test_built_in_operators_report_their_hash(tmp_path: Path) -> None:
    registry = ops_registry()
    inputs = {"value": {"type": "double", "value": 2.0}}
    result = execute_task(task("Number", inputs=inputs), str(tmp_path / "a"), registry)
    assert result.status == "success"
    assert result.code_hash == registry.require("Number").code_hash != ""


@pytest.fixture
def dask_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    pytest.importorskip("distributed")
    from accio.executors.dask import DaskExecutor

    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")  # what Dask workers load
    ex = DaskExecutor.connect(None, str(tmp_path / "artifacts"), workers=2)
    yield ex
    ex.stop()


def drain(executor: Any, count: int, timeout: float = 120) -> list[TaskResult]:
    results: list[TaskResult] = []
    deadline = time.time() + timeout
    while len(results) < count and time.time() < deadline:
        results += executor.poll(0.05)
    return results


def numbers(values: Sequence[float], first_id: int) -> list[NodeTask]:
    return [
        task("Number", first_id + i, {"value": {"type": "double", "value": v}})
        for i, v in enumerate(values)
    ]


def test_each_task_of_a_dask_bundle_reports_its_code_hash(dask_executor: Any) -> None:
    expected = ops_registry().require("Number").code_hash
    dask_executor.submit(numbers([0.5] * 10, 1))  # measured short: the next ones are bundled
    assert {r.code_hash for r in drain(dask_executor, 10)} == {expected}
    dask_executor.submit(numbers([float(i) for i in range(60)], 100))
    assert len({id(f) for f in dask_executor._futures.values()}) < 60  # bundled
    results = drain(dask_executor, 60)
    assert len(results) == 60
    assert {r.status for r in results} == {"success"}
    assert {r.code_hash for r in results} == {expected}
