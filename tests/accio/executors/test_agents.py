"""Executors describe where they run tasks (``accio get agents``): this machine for the local
and inline executors, each worker (and batch job) of a Dask cluster."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from accio.executors.agents import batch_jobs, dask_agents, machine_memory_bytes
from accio.executors.base import NodeTask
from accio.executors.inline import InlineExecutor
from accio.executors.local import LocalExecutor

PLUGINS = "accio.testing:operators"


def sleep_task(task_id: int, run_id: str, node: str, ms: int) -> NodeTask:
    inputs = {
        "value": {"type": "double", "value": 1.0},
        "duration": {"type": "duration", "value": ms},
    }
    return NodeTask(task_id, run_id, node, "Sleep", inputs, None, f"key{task_id}")


def test_the_local_executor_is_this_machine_with_its_slots_and_running_tasks(
    tmp_path: Path,
) -> None:
    with LocalExecutor(str(tmp_path / "a"), slots=2, plugins=PLUGINS) as executor:
        (idle,) = executor.agents()
        assert (idle.name, idle.host, idle.kind) == (socket.gethostname(),) * 2 + ("local",)
        assert (idle.cpus, idle.running, idle.tasks, idle.state) == (2, 0, (), "idle")
        assert idle.memory_bytes == machine_memory_bytes() and (idle.memory_bytes or 0) > 2**20
        assert idle.address == f"pid {os.getpid()}"

        executor.submit([sleep_task(1, "r1", "Slow", 3000), sleep_task(2, "r2", "Quick", 1)])
        seen: set[str] = set()
        busy = None
        deadline = time.time() + 60
        while time.time() < deadline and "r1/Slow" not in seen:
            executor.poll(0.05)
            busy = executor.agents()[0]
            seen.update(busy.tasks)
        assert busy is not None and "r1/Slow" in busy.tasks, busy
        assert busy.state == "running" and busy.running == len(busy.tasks) <= 2

        executor.cancel([1])
        while time.time() < deadline and executor.agents()[0].running:
            executor.poll(0.05)
        done = executor.agents()[0]
        assert (done.running, done.tasks, done.state) == (0, (), "idle")


def test_the_inline_executor_is_one_slot_of_this_process(tmp_path: Path) -> None:
    (agent,) = InlineExecutor(str(tmp_path)).agents()
    assert (agent.kind, agent.cpus, agent.running, agent.state) == ("inline", 1, 0, "idle")


def _worker(name: Any, host: str, threads: int, memory: int, status: str = "running") -> dict:
    return {
        "name": name,
        "host": host,
        "nthreads": threads,
        "memory_limit": memory,
        "status": status,
    }


def test_dask_workers_count_only_accio_tasks_up_to_their_threads() -> None:
    info = {
        "workers": {
            "tcp://10.0.0.2:4000": _worker(0, "10.0.0.2", 2, 4 * 2**30),
            "tcp://10.0.0.3:4000": _worker(1, "10.0.0.3", 1, 2**30, status="closing_gracefully"),
        }
    }
    tasks = {
        "accio-r1-A-7": [(7, "r1/A")],
        "accio-r1-B-5": [(5, "r1/B")],
        "accio-r2-C-9": [(9, "r2/C")],
        "bundle-x": [(12, "r3/D"), (11, "r3/E")],
    }
    processing = {
        # Dask assigned three of ours (and a foreign key) to a two-thread worker: the two first
        # submitted run, the third waits on the worker
        "tcp://10.0.0.2:4000": ["accio-r1-A-7", "other-key", "accio-r2-C-9", "accio-r1-B-5"],
        "tcp://10.0.0.3:4000": ["bundle-x"],
    }
    first, second = dask_agents(info, processing, tasks)
    assert (first.name, first.host, first.kind, first.cpus) == ("0", "10.0.0.2", "dask", 2)
    assert first.memory_bytes == 4 * 2**30 and first.address == "tcp://10.0.0.2:4000"
    assert (first.running, first.tasks, first.state) == (2, ("r1/B", "r1/A"), "running")
    assert (second.running, second.tasks) == (1, ("r3/E",))  # a bundle: one, its first task
    idle = dask_agents(info, {}, tasks)
    assert [(a.running, a.state) for a in idle] == [(0, "idle"), (0, "retiring")]


def test_batch_workers_carry_their_job_id_and_queued_jobs_are_pending() -> None:
    job = SimpleNamespace
    cluster = SimpleNamespace(
        workers={
            "SLURMCluster-0": job(job_id="4101", worker_cores=2, worker_memory=2**31),
            "SLURMCluster-1": job(job_id="4102", worker_cores=2, worker_memory=2**31),
            "SLURMCluster-2": job(job_id=None, worker_cores=2, worker_memory=None),
        }
    )
    jobs = batch_jobs(cluster)
    assert jobs["SLURMCluster-0"] == ("4101", 2, 2**31)
    assert jobs["SLURMCluster-2"] == (None, 2, None)
    info = {"workers": {"tcp://n1:1": _worker("SLURMCluster-0", "n1", 2, 2**31)}}
    agents = dask_agents(info, {}, {}, kind="slurm", jobs=jobs)
    assert [(a.name, a.job_id, a.state, a.kind) for a in agents] == [
        ("SLURMCluster-0", "4101", "idle", "slurm"),
        ("SLURMCluster-1", "4102", "pending", "slurm"),
        ("SLURMCluster-2", None, "pending", "slurm"),
    ]
    assert agents[1].cpus == 2 and agents[1].host == ""
    # several workers per job are named <job>-<i>; an adaptive cluster with no job lists none
    several = {"workers": {"tcp://n1:1": _worker("SLURMCluster-1-0", "n1", 1, 2**30)}}
    assert dask_agents(several, {}, {}, jobs=jobs)[0].job_id == "4102"
    assert dask_agents({"workers": {}}, {}, {}, kind="slurm", jobs={}) == []


def test_a_local_cluster_has_no_batch_jobs() -> None:
    nannies = SimpleNamespace(workers={0: object(), 1: object()})
    assert batch_jobs(nannies) == {} and batch_jobs(object()) == {}


def test_listing_dask_agents_never_stalls_the_scheduler_loop_while_dask_is_unreachable(
    tmp_path: Path,
) -> None:
    """The scheduler loop asks for the agents every 2 s: with the Dask scheduler gone, each
    look blocked the loop ~9 s (reconnecting; kill requests, cache hits and the web status
    all waited). It now fails at once, and the board keeps the last list it published."""
    import subprocess
    import sys

    import pytest

    pytest.importorskip("distributed")
    from tests.clirun import free_port, wait_until

    from accio.engine.agents import AgentBoard
    from accio.executors.dask import DaskExecutor

    port = free_port()
    command = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", str(port)]
    scheduler = subprocess.Popen(
        [*command, "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        executor = None
        deadline = time.monotonic() + 60
        while executor is None:
            try:
                executor = DaskExecutor.connect(
                    f"tcp://127.0.0.1:{port}", str(tmp_path / "artifacts"), workers=1
                )
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        board = AgentBoard(tmp_path, executor, interval=0.0)
        board.tick()
        published = (tmp_path / "agents.json").read_text()
        scheduler.kill()
        scheduler.wait()
        wait_until(lambda: executor.client.status != "running", timeout=30)
        started = time.monotonic()
        board.tick()
        board.tick()
        assert time.monotonic() - started < 2.0
        assert (tmp_path / "agents.json").read_text() == published
        executor.stop()
    finally:
        scheduler.kill()
        scheduler.wait()
