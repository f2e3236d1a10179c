"""The scheduler, unchanged, on a Dask cluster through the same executor contract."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from accio.client.client import Client
from accio.config import Settings
from accio.engine import daemon

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.integration


def test_a_sweep_runs_on_a_dask_local_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accio.executors.dask import DaskExecutor

    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    with Client(settings=Settings.from_env(), autostart=False) as client:
        client.push(
            {
                "id": "dasky",
                "params": [{"name": "x", "kind": "double"}],
                "graph": [
                    {"op": "RandomTable", "name": "Table", "inputs": {"rows": 20}},
                    {"op": "Mean", "name": "Avg", "inputs": {"data": {"reference": "Table/data"}}},
                    {
                        "op": "Add",
                        "name": "Sum",
                        "inputs": {"a": {"param": "x"}, "b": {"reference": "Avg/mean"}},
                    },
                ],
            }
        )
        sub = client.submit(
            {"workflow": "dasky", "seed": 3, "params": {"x": {"values": [1, 2, 3, 4]}}},
            start=False,
        )
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
            ) as cluster,
            distributed.Client(cluster) as dask_client,
        ):
            executor = DaskExecutor(dask_client, str(client.settings.artifacts_dir))
            with daemon.home_lock(client.settings.home):
                scheduler = client.runtime.scheduler(executor=executor)
                try:
                    scheduler.run_until_idle(timeout=60)
                finally:
                    scheduler.close()
        assert client.run(sub.run_id).state == "success"
        sums = [
            json.loads(client.node(c, "Sum").outputs or "{}")["sum"]["value"]
            for c in sub.child_ids
        ]
        assert len(set(sums)) == 4
        # the same runs through the local executor: all from the cache, identical outputs
        again = client.submit(
            {"workflow": "dasky", "seed": 3, "params": {"x": {"values": [1, 2, 3, 4]}}},
            start=False,
        )
        client.execute("inline")
        assert [
            json.loads(client.node(c, "Sum").outputs or "{}")["sum"]["value"]
            for c in again.child_ids
        ] == sums
        assert {client.node(c, "Sum").state for c in again.child_ids} == {"cached"}


def test_accio_executor_dask_without_an_address_starts_a_local_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ACCIO_EXECUTOR=dask`` and no ``ACCIO_DASK_SCHEDULER``: the runtime's executor starts
    its own LocalCluster, runs the sweep, and closes the cluster when stopped."""
    from accio.executors.dask import DaskExecutor

    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCIO_EXECUTOR", "dask")
    monkeypatch.delenv("ACCIO_DASK_SCHEDULER", raising=False)
    monkeypatch.setenv("ACCIO_CPUS", "2")
    with Client(settings=Settings.from_env(), autostart=False) as client:
        client.push(
            {
                "id": "adder",
                "params": [{"name": "x", "kind": "double"}],
                "graph": [
                    {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
                    {
                        "op": "Add",
                        "name": "Sum",
                        "inputs": {"a": {"reference": "In/value"}, "b": 0.5},
                    },
                ],
            }
        )
        sub = client.submit(
            {"workflow": "adder", "params": {"x": {"values": [1, 2]}}}, start=False
        )
        executor = client.runtime.executor()
        assert isinstance(executor, DaskExecutor) and executor.slots == 2
        cluster = executor._owned[-1]
        scheduler = client.runtime.scheduler(executor=executor)
        try:
            scheduler.run_until_idle(timeout=60)
        finally:
            executor.stop()
            scheduler.close()
        assert cluster.status.name == "closed"
        assert client.run(sub.run_id).state == "success"
        assert sorted(
            json.loads(client.node(c, "Sum").outputs or "{}")["sum"]["value"]
            for c in sub.child_ids
        ) == [1.5, 2.5]


def test_declared_resources_reach_dask_workers_capped_at_their_size_in_fifo_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers advertising ``cpus=1,memory_mb=1024`` (as batch jobs do) on 2 threads: tasks
    asking for 1 cpu run one at a time, in submission order; a task asking for more than a
    worker has (4 cpus, 4 GiB) still runs, alone."""
    from accio.executors.base import NodeTask
    from accio.executors.dask import DaskExecutor

    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")

    def nap(task_id: int, cpus: float = 1.0, memory_mb: int = 512) -> NodeTask:
        inputs = {
            "value": {"type": "double", "value": float(task_id)},
            "duration": {"type": "duration", "value": 150},
        }
        return NodeTask(
            task_id, "run", f"n{task_id}", "Sleep", inputs, None, f"k{task_id}",
            cpus=cpus, memory_mb=memory_mb,
        )  # fmt: skip

    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address="127.0.0.1:0",
            resources={"cpus": 1, "memory_mb": 1024},
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        executor = DaskExecutor(
            dask_client, str(tmp_path / "artifacts"), worker_size={"cpus": 1, "memory_mb": 1024}
        )
        assert executor.resources(nap(9, cpus=4, memory_mb=4096)) == {
            "cpus": 1.0,
            "memory_mb": 1024.0,
        }
        tasks = [nap(1), nap(2), nap(3, cpus=4, memory_mb=4096), nap(4), nap(5)]
        executor.submit(tasks)
        results = []
        deadline = time.time() + 30
        while len(results) < len(tasks) and time.time() < deadline:
            results.extend(executor.poll(0.5))
        executor.stop()
    assert [r.status for r in results] == ["success"] * 5
    spans = sorted((r.started, r.finished, r.task_id) for r in results)
    assert [task_id for _, _, task_id in spans] == [1, 2, 3, 4, 5]  # FIFO
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert start >= end - 0.01  # one at a time: 2 threads, but one "cpu"
