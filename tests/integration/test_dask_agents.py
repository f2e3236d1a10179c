"""A Dask cluster's workers as agents: their threads, memory limit and the Accio task each runs,
read from the Dask scheduler itself (a real LocalCluster)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from accio.executors.base import NodeTask

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.integration


def sleep_task(task_id: int, node: str, ms: int) -> NodeTask:
    inputs = {
        "value": {"type": "double", "value": 2.0},
        "duration": {"type": "duration", "value": ms},
    }
    return NodeTask(task_id, "run-9", node, "Sleep", inputs, None, f"key{task_id}")


def test_dask_workers_are_listed_with_the_task_each_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accio.executors.dask import DaskExecutor

    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            memory_limit="1GiB",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = DaskExecutor(client, str(tmp_path / "artifacts"))
        idle = executor.agents()
        assert len(idle) == 2
        assert {(a.kind, a.cpus, a.memory_bytes, a.state, a.running) for a in idle} == {
            ("dask", 1, 2**30, "idle", 0)
        }
        assert {a.address for a in idle} == set(client.scheduler_info()["workers"])

        executor.submit([sleep_task(1, "Slow", 2500)])
        deadline = time.time() + 30
        busy = idle
        while time.time() < deadline and not any(a.running for a in busy):
            time.sleep(0.05)
            busy = executor.agents()
        running = [a for a in busy if a.running]
        assert [(a.running, a.tasks, a.state) for a in running] == [
            (1, ("run-9/Slow",), "running")
        ]

        results = []
        while time.time() < deadline and not results:
            results = executor.poll(0.1)
        assert [r.status for r in results] == ["success"], results[0].error if results else None
        assert all(a.running == 0 for a in executor.agents())
        executor.stop()


def test_a_dask_scheduler_that_does_not_answer_fails_agents_in_bounded_time(
    tmp_path: Path,
) -> None:
    """A stopped (SIGSTOP) Dask scheduler: the connection stays open but nothing answers.
    Listing agents must fail within its timeout, not hold the Accio scheduler loop."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    from accio.executors.dask import AGENTS_TIMEOUT, DaskExecutor

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*scheduler, "--port", str(port), "--dashboard-address", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with distributed.Client(f"tcp://127.0.0.1:{port}", timeout=30) as client:
            executor = DaskExecutor(client, str(tmp_path / "artifacts"), slots=1)
            assert executor.agents() == []  # answering: no workers yet
            os.kill(proc.pid, signal.SIGSTOP)
            t0 = time.monotonic()
            with pytest.raises(Exception) as failed:
                executor.agents()
            took = time.monotonic() - t0
            assert took < AGENTS_TIMEOUT + 1.5, took
            assert "timed out" in str(failed.value).lower() or isinstance(
                failed.value, TimeoutError
            ), repr(failed.value)
            os.kill(proc.pid, signal.SIGCONT)
            assert executor.agents() == []  # answering again
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=30)


def test_a_cluster_given_by_address_is_sized_by_its_workers_as_they_come_and_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--executor dask`` with a scheduler address: the cluster scales on its own (an
    autoscaler, workers added by hand), and Accio dispatches by its current size."""
    from accio.executors import dask as dask_executor

    monkeypatch.setattr(dask_executor, "RESIZE_INTERVAL", 0.0)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0"
    ) as cluster:
        executor = dask_executor.DaskExecutor.connect(
            cluster.scheduler_address, str(tmp_path / "a"), workers=1
        )
        try:
            assert executor.slots == 2
            cluster.scale(3)
            deadline = time.time() + 30
            while executor.slots != 6 and time.time() < deadline:
                time.sleep(0.1)
            assert executor.slots == 6
            capacity = executor.capacity  # what the scheduler weighs tasks against
            assert capacity is not None and capacity.cpus == 6.0 and capacity.memory_mb > 0
            cluster.scale(0)
            while executor.slots != 1 and time.time() < deadline:
                time.sleep(0.1)
            assert executor.slots == 1  # no worker: at least one slot, tasks wait in Dask
            assert executor.capacity is None  # the settings' capacity meanwhile
        finally:
            executor.stop()


def test_workers_that_advertise_resources_get_tasks_asking_for_the_declared_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster by address whose workers were started with ``--resources "cpus=N,
    memory_mb=M"``: tasks ask Dask for their operator's declared cpus and memory (capped at the
    smallest worker); a cluster that advertises none gets none asked."""
    from accio.executors import dask as dask_executor

    monkeypatch.setattr(dask_executor, "RESIZE_INTERVAL", 0.0)
    task = replace(sleep_task(1, "Slow", 10), cpus=4, memory_mb=512)
    for advertised, asked in (
        ({"cpus": 2, "memory_mb": 1000}, {"cpus": 2.0, "memory_mb": 512.0}),
        (None, None),
    ):
        with distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address="127.0.0.1:0",
            resources=advertised,
        ) as cluster:
            executor = dask_executor.DaskExecutor.connect(
                cluster.scheduler_address, str(tmp_path / "a"), workers=1
            )
            try:
                assert executor.slots == 2
                assert executor.resources(task) == asked
                capacity = executor.capacity
                assert capacity is not None
                if advertised:  # the workers' advertised resources, together
                    assert (capacity.cpus, capacity.memory_mb) == (4.0, 2000)
                else:  # their threads
                    assert capacity.cpus == 2.0
            finally:
                executor.stop()
