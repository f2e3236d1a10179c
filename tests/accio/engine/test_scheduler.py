"""The scheduler loop on real storage: the inline executor, then real worker processes."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest

from accio.client.client import Client
from accio.engine.scheduler import Scheduler
from accio.executors.inline import InlineExecutor
from accio.executors.local import LocalExecutor

SUM: dict[str, Any] = {
    "id": "sum",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
        {"op": "Number", "name": "Two", "inputs": {"value": 2.0}},
        {
            "op": "Add",
            "name": "Total",
            "inputs": {"a": {"reference": "In/value"}, "b": {"reference": "Two/value"}},
        },
    ],
}
SLOW: dict[str, Any] = {
    "id": "slow",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {
            "op": "Sleep",
            "name": "Nap",
            "inputs": {"value": {"param": "x"}, "duration": "1500.milliseconds"},
        }
    ],
}


@pytest.fixture
def client(local_client: Client) -> Client:
    local_client.push(SUM)
    local_client.push(SLOW)
    return local_client


def inline(client: Client) -> Scheduler:
    executor = InlineExecutor(str(client.settings.artifacts_dir), client.runtime.registry)
    return Scheduler(
        client.runtime.storage,
        executor,
        client.runtime.registry,
        client.runtime.capacity,
        strict=True,
    )


def test_a_sweep_runs_then_hits_the_cache(client: Client) -> None:
    sub = client.submit({"workflow": "sum", "params": {"x": {"values": [1, 2, 3]}}}, start=False)
    scheduler = inline(client)
    scheduler.run_until_idle(timeout=30)
    assert client.run(sub.run_id).state == "success"
    totals = sorted(
        json.loads(client.node(c, "Total").outputs or "{}")["sum"]["value"] for c in sub.child_ids
    )
    assert totals == [3.0, 4.0, 5.0]
    # Two is identical in the three children: one execution, two joined or cached
    sources = [client.node(c, "Two").state for c in sub.child_ids]
    assert sources.count("success") == 1
    again = client.submit({"workflow": "sum", "params": {"x": {"values": [1, 2, 3]}}}, start=False)
    scheduler.run_until_idle(timeout=30)
    scheduler.close()
    for child in again.child_ids:
        assert {n.state for n in client.nodes(child)} == {"cached"}
    assert client.run(again.run_id).state == "success"


def test_kill_racing_a_submission_and_delete(client: Client) -> None:
    scheduler = inline(client)
    scheduler.discard_ready()
    sub = client.submit({"workflow": "sum", "params": {"x": {"values": [7, 8]}}}, start=False)
    scheduler.load_unfinished()
    scheduler.kill([sub.run_id])  # before any step: every node still pending
    assert client.run(sub.run_id).state == "killed"
    assert {client.run(c).state for c in sub.child_ids} == {"killed"}
    assert {n.state for c in sub.child_ids for n in client.nodes(c)} == {"cancelled"}
    scheduler.delete([sub.run_id])
    assert not client.runtime.storage.get_runs([sub.run_id, *sub.child_ids])
    scheduler.step(0.0)
    scheduler.close()
    assert not scheduler.busy


def test_discard_ready_leaves_loaded_runs_untouched(client: Client) -> None:
    sub = client.submit({"workflow": "sum", "params": {"x": 1}}, start=False)
    scheduler = inline(client)
    scheduler.load_unfinished()
    scheduler.discard_ready()
    scheduler.step(0.0)
    scheduler.close()
    assert client.run(sub.run_id).state == "pending"
    assert {n.state for n in client.nodes(sub.run_id)} <= {"pending"}


def local_scheduler(client: Client) -> tuple[Scheduler, LocalExecutor]:
    executor = LocalExecutor(str(client.settings.artifacts_dir), slots=1)
    scheduler = Scheduler(
        client.runtime.storage, executor, client.runtime.registry, client.runtime.capacity
    )
    return scheduler, executor


def step_until(scheduler: Scheduler, done: Any, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while not done():
        assert time.time() < deadline, "timed out"
        scheduler.step(0.02)


def test_a_worker_sigkill_after_restarts_is_still_retried(client: Client) -> None:
    """Three scheduler lives die while the node runs (the stored attempts grow to 3); in the
    fourth, one SIGKILL of its worker is retried, not reported as WorkerCrashed."""
    sub = client.submit({"workflow": "slow", "params": {"x": 5}}, start=False)
    for _ in range(3):  # a scheduler dies while the node runs: nothing but storage survives
        scheduler, executor = local_scheduler(client)
        scheduler.load_unfinished()
        step_until(scheduler, lambda s=scheduler: s.machine.in_flight > 0)  # type: ignore[misc]
        scheduler.flush(wait=True)
        executor.stop()
        scheduler.writer.close()
    assert client.node(sub.run_id, "Nap").attempts == 3
    scheduler, executor = local_scheduler(client)
    try:
        scheduler.load_unfinished()
        step_until(scheduler, lambda: executor._workers and executor._workers[0].tasks)
        os.kill(executor._workers[0].process.pid, signal.SIGKILL)
        step_until(scheduler, lambda: not scheduler.busy)
        scheduler.flush(wait=True)
    finally:
        executor.stop()
        scheduler.close()
    node = client.node(sub.run_id, "Nap")
    assert node.state == "success", node.error
    assert node.attempts == 5  # three earlier lives, the killed try, the retry
    assert client.run(sub.run_id).state == "success"


class RefusingExecutor(InlineExecutor):
    """An executor whose backend is gone: every submission raises."""

    def submit(self, tasks: Any) -> None:
        raise ConnectionError("no cluster at tcp://nowhere:8786")


def test_an_executor_that_refuses_tasks_fails_them_cleanly(client: Client) -> None:
    sub = client.submit({"workflow": "sum", "params": {"x": 1}}, start=False)
    executor = RefusingExecutor(str(client.settings.artifacts_dir), client.runtime.registry)
    scheduler = Scheduler(
        client.runtime.storage, executor, client.runtime.registry, client.runtime.capacity
    )
    scheduler.run_until_idle(timeout=30)
    scheduler.close()
    assert client.run(sub.run_id).state == "failed"
    node = client.node(sub.run_id, "In")
    assert node.state == "failed" and node.attempts == 2  # a refusal counts as a crash
    assert "no cluster" in json.loads(node.error or "{}")["message"]
    assert client.node(sub.run_id, "Total").state == "skipped"


def test_a_crash_before_the_run_state_was_written_keeps_finished_nodes(client: Client) -> None:
    """Run states are written with a delay (coalescing), ended nodes at once: a scheduler
    killed in between leaves a "pending" run holding finished nodes. The next scheduler
    restores them as they are (same state, attempts, timestamps), never re-resolves them."""
    sub = client.submit({"workflow": "sum", "params": {"x": 1.0}}, start=False)
    first = inline(client)
    first.run_until_idle(timeout=30)
    done = {n.name: n for n in client.nodes(sub.run_id)}
    assert {n.state for n in done.values()} == {"success"}
    storage = client.runtime.storage
    # what a crash leaves: run still pending, its first nodes ended, the last one not started
    storage.set_run_states([(sub.run_id, "pending", None, None, 0.0)])
    total = done["Total"]
    storage.update_nodes(
        [
            total.__class__(
                **{
                    **{f: getattr(total, f) for f in total.__dataclass_fields__},
                    "state": "pending",
                    "outputs": None,
                    "attempts": 0,
                    "started": None,
                    "completed": None,
                }
            )
        ]
    )
    second = inline(client)
    second.run_until_idle(timeout=30)
    after = {n.name: n for n in client.nodes(sub.run_id)}
    assert client.run(sub.run_id).state == "success"
    for name in ("In", "Two"):
        assert after[name].state == "success"
        assert after[name].attempts == done[name].attempts
        assert after[name].completed == done[name].completed
    assert after["Total"].state in ("success", "cached")
