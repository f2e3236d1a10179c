"""Short tasks share Dask tasks (bundles) yet each keeps its own result, kill and crash."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from accio.executors.base import NodeTask, TaskResult

distributed = pytest.importorskip("distributed")

BRITTLE = """
import os

from accio.ops.api import Port, operator


@operator(category="test", help="Return its value at once; kill its process on 13.")
class Brittle:
    class Inputs:
        value = Port("double")

    class Outputs:
        value = Port("double")

    def run(self, inputs, ctx):
        if inputs["value"] == 13:
            os._exit(13)
        return {"value": float(inputs["value"])}


def operators():
    return [Brittle]
"""


def tasks(op: str, values: Sequence[float], first_id: int) -> list[NodeTask]:
    inputs = lambda v: {"value": {"type": "double", "value": v}}  # noqa: E731
    return [
        NodeTask(
            first_id + i, "run-b", f"N{first_id + i}", op, inputs(v), None, f"k{first_id + i}"
        )
        for i, v in enumerate(values)
    ]


def drain(executor: Any, count: int, timeout: float = 120) -> list[TaskResult]:
    results: list[TaskResult] = []
    deadline = time.time() + timeout
    while len(results) < count and time.time() < deadline:
        results += executor.poll(0.05)
    return results


def dask_tasks(executor: Any) -> int:
    """Dask futures held for the Accio tasks in flight (a bundle counts once)."""
    return len({id(f) for f in executor._futures.values()})


@pytest.fixture
def executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from accio.executors.dask import DaskExecutor

    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")  # what Dask workers load
    ex = DaskExecutor.connect(None, str(tmp_path / "artifacts"), workers=2)
    yield ex
    ex.stop()


def test_short_tasks_are_bundled_each_with_its_own_result(executor: Any) -> None:
    executor.submit(tasks("Number", [0.5] * 10, 1))  # not measured yet: one Dask task each
    assert dask_tasks(executor) == 10
    assert {r.status for r in drain(executor, 10)} == {"success"}

    batch = tasks("Number", [float(i) for i in range(100)], 100)
    executor.submit(batch)
    assert dask_tasks(executor) < 20  # bundled, yet two or more queued per worker
    assert dask_tasks(executor) >= 2 * executor.slots
    results = drain(executor, 100)
    by_id = {r.task_id: r for r in results}
    assert len(results) == len(by_id) == 100
    for task in batch:
        result = by_id[task.task_id]
        assert result.status == "success"
        assert f'"value":{task.inputs["value"]["value"]}' in (result.outputs or "")
        assert result.ran_on and "pid" in result.ran_on
    assert executor.poll(0.2) == []  # nothing reported twice


def test_slow_tasks_are_never_bundled(executor: Any) -> None:
    executor.submit(tasks("Tally", [1.0] * 10, 1))  # 20 ms each: above SHORT_TASK
    assert len(drain(executor, 10)) == 10
    executor.submit(tasks("Tally", [float(i) for i in range(8)], 100))
    assert dask_tasks(executor) == 8
    assert {r.status for r in drain(executor, 8)} == {"success"}


def test_a_bundled_task_is_killed_alone(executor: Any) -> None:
    executor.submit(tasks("Number", [0.5] * 10, 1))
    drain(executor, 10)
    batch = tasks("Number", [float(i) for i in range(60)], 100)
    executor.submit(batch)
    victim = batch[30].task_id
    executor.cancel([victim])
    results = drain(executor, 60)
    assert sorted(r.task_id for r in results) == sorted(t.task_id for t in batch)
    states = {r.task_id: r.status for r in results}
    assert states.pop(victim) == "killed"
    assert set(states.values()) == {"success"}
    assert executor.poll(0.2) == []  # the victim's own result, when it comes, is dropped


def test_a_crash_in_a_bundle_fails_only_its_culprit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dask

    from accio.executors.dask import DaskExecutor

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "plug_brittle.py").write_text(BRITTLE)
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setenv("PYTHONPATH", str(plugins))  # spawned Dask workers import it too
    monkeypatch.setenv("ACCIO_PLUGINS", "plug_brittle:operators")
    # One task per worker at a time and no retry: a worker's death fails just what it ran.
    config = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(config):
        executor = DaskExecutor.connect(None, str(tmp_path / "artifacts"), workers=2)
        try:
            executor.submit(tasks("Brittle", [1.0] * 10, 1))
            assert {r.status for r in drain(executor, 10)} == {"success"}
            batch = tasks("Brittle", [float(i) for i in range(40)], 100)
            executor.submit(batch)
            assert dask_tasks(executor) < 40
            results = drain(executor, 40, timeout=180)
            by_id = {r.task_id: r for r in results}
            assert len(results) == len(by_id) == 40
            culprit = batch[13].task_id
            assert by_id.pop(culprit).status == "crashed"
            assert {r.status for r in by_id.values()} == {"success"}
            executor.submit(tasks("Brittle", [1.0] * 6, 1000))  # no longer bundled
            assert dask_tasks(executor) == 6
            drain(executor, 6)
        finally:
            executor.stop()


def test_a_crashed_bundles_tasks_keep_their_place_in_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FIFO: the tasks of a crashed bundle, resent one by one, still go before tasks submitted
    after them (Dask runs higher priorities first); they are not sent to the back of the line."""
    import dask

    from accio.executors.dask import DaskExecutor

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "plug_brittle.py").write_text(BRITTLE)
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setenv("PYTHONPATH", str(plugins))
    monkeypatch.setenv("ACCIO_PLUGINS", "plug_brittle:operators")
    config = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(config):
        executor = DaskExecutor.connect(None, str(tmp_path / "artifacts"), workers=2)
        try:
            priorities: dict[int, list[int]] = {}  # task id -> priorities it was sent with
            submit = executor.client.submit

            def spy(call: Any, args: Any, *rest: Any, **kwargs: Any) -> Any:
                for task in args if isinstance(args, list) else [args]:
                    priorities.setdefault(task.task_id, []).append(kwargs["priority"])
                return submit(call, args, *rest, **kwargs)

            executor.client.submit = spy
            executor.submit(tasks("Brittle", [1.0] * 10, 1))
            assert {r.status for r in drain(executor, 10)} == {"success"}
            batch = tasks("Brittle", [float(i) for i in range(40)], 100)
            executor.submit(batch)
            later = tasks("Brittle", [1.0] * 4, 1000)
            executor.submit(later)
            assert len(drain(executor, 44, timeout=180)) == 44
            resent = [t.task_id for t in batch if len(priorities[t.task_id]) > 1]
            assert resent  # the crashed bundle's tasks were sent again
            lowest_resent = min(priorities[i][-1] for i in resent)
            highest_later = max(priorities[t.task_id][0] for t in later)
            assert lowest_resent > highest_later
        finally:
            executor.stop()


SLOWING = """
import time

from accio.ops.api import Port, operator


@operator(category="test", help="At once below 100, one second from 100 on.")
class Slowing:
    class Inputs:
        value = Port("double")

    class Outputs:
        value = Port("double")

    def run(self, inputs, ctx):
        if inputs["value"] >= 100:
            time.sleep(1.0)
        return {"value": float(inputs["value"])}


def operators():
    return [Slowing]
"""


def test_an_operator_turned_slow_does_not_hold_workers_in_long_bundles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator measured short whose tasks turn slow (a sweep's larger values): a bundle
    stops starting tasks once over its time budget and its rest is resent on its own. So
    killing the run frees the workers within about one task, not a whole bundle's worth
    (a running Dask task cannot be interrupted), and every task still reports once."""
    from accio.executors.dask import DaskExecutor

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "plug_slowing.py").write_text(SLOWING)
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setenv("PYTHONPATH", str(plugins))
    monkeypatch.setenv("ACCIO_PLUGINS", "plug_slowing:operators")
    executor = DaskExecutor.connect(None, str(tmp_path / "artifacts"), workers=2)
    try:
        executor.submit(tasks("Slowing", [1.0] * 10, 1))
        assert {r.status for r in drain(executor, 10)} == {"success"}
        batch = tasks("Slowing", [200.0] * 32, 100)  # 4 bundles of 8 s without a budget
        executor.submit(batch)
        assert dask_tasks(executor) < 32
        time.sleep(1.5)
        executor.cancel([t.task_id for t in batch])
        assert {r.status for r in drain(executor, 32)} <= {"killed", "success"}
        started = time.time()
        executor.submit(tasks("Slowing", [1.0], 1000))
        assert [r.status for r in drain(executor, 1, timeout=30)] == ["success"]
        assert time.time() - started < 4.0

        again = tasks("Slowing", [200.0] * 6, 2000)
        executor.submit(again)
        results = drain(executor, 6, timeout=60)
        assert sorted(r.task_id for r in results) == [t.task_id for t in again]
        assert {r.status for r in results} == {"success"}
        assert executor.poll(0.5) == []
    finally:
        executor.stop()
