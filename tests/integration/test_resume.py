"""Fault injection: SIGKILL the scheduler at random moments during a sweep, then resume.

Checks that all children finish, that no node whose success was committed before a kill ever
runs again, and that every artifact verifies against its digest.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from accio.cache.artifacts import LocalArtifactStore
from accio.client.client import Client
from accio.config import Settings
from accio.engine import daemon
from accio.ops.registry import OperatorRegistry

pytestmark = pytest.mark.integration

TRIALS = 10
WORKFLOW: dict[str, Any] = {
    "id": "tally_sweep",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {
            "op": "Tally",
            "name": "Count",
            "inputs": {"value": {"param": "x"}, "duration": "120.milliseconds"},
        },
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": 50}},
        {"op": "Mean", "name": "Avg", "inputs": {"data": {"reference": "Table/data"}}},
        {
            "op": "Add",
            "name": "Total",
            "inputs": {"a": {"reference": "Count/value"}, "b": {"reference": "Avg/mean"}},
        },
    ],
}


def start_scheduler(env: dict[str, str], home: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "accio.service", "--home", str(home)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while not daemon.is_running(home):
        assert proc.poll() is None, "the scheduler exited at start"
        assert time.time() < deadline, "the scheduler did not start"
        time.sleep(0.01)
    return proc


def wait_until_executing(client: Client, run_ids: list[str], timeout: float = 60) -> None:
    """Until the scheduler (just started) has nodes running, or nothing is left to run."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = {n.state for n in client.storage.nodes_in_states(["running", "queued"])}
        if states or all(client.run(r).state == "success" for r in run_ids[-3:]):
            return
        time.sleep(0.05)
    raise AssertionError("the scheduler never started executing")


def committed_counts(client: Client, run_ids: list[str]) -> set[float]:
    """x of every child whose Count node's success is in the database."""
    done = set()
    for rid in run_ids:
        node = client.node(rid, "Count")
        if node.state in ("success", "cached"):
            done.add(json.loads(client.run(rid).params)["x"]["value"])
    return done


def tally_lines(path: Path) -> list[float]:
    if not path.exists():
        return []
    return [float(line) for line in path.read_text().split()]


def test_sigkill_the_scheduler_at_random_points(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tally = tmp_path / "tally.txt"
    env = {
        **os.environ,
        "ACCIO_HOME": str(home),
        "ACCIO_PLUGINS": "accio.testing:operators",
        "ACCIO_TALLY_FILE": str(tally),
        "ACCIO_CPUS": "2",
    }
    settings = Settings.from_env(env)
    rng = random.Random(1234)
    registry = OperatorRegistry.from_entry_points(env=env)
    with Client(settings=settings, registry=registry, autostart=False) as client:
        client.push(WORKFLOW)
        sub = client.submit(
            {
                "workflow": "tally_sweep",
                "seed": 7,
                "params": {"x": {"from": 1, "to": 40, "step": 1}},
            },
            start=False,
        )
        children = list(sub.child_ids)
        history: list[tuple[int, set[float]]] = []  # (tally length, committed x) at each kill
        for _ in range(TRIALS):
            proc = start_scheduler(env, home)
            wait_until_executing(client, children)
            time.sleep(rng.uniform(0.0, 0.8))  # a random point while nodes are executing
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            time.sleep(0.1)  # let the workers notice their parent died
            history.append((len(tally_lines(tally)), committed_counts(client, children)))
            if client.run(sub.run_id).state == "success":
                break
        proc = start_scheduler(env, home)
        try:
            final = client.wait(sub.run_id, timeout=120)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

        assert final.state == "success"
        assert all(c.state == "success" for c in client.children(sub.run_id))
        assert any(done for _, done in history), "no kill happened after some progress"
        assert any(len(done) < len(children) for _, done in history), "no kill mid-sweep"
        executions = tally_lines(tally)
        for length, done in history:
            rerun = done & set(executions[length:])
            assert not rerun, f"finished nodes ran again after a kill: {sorted(rerun)}"
        assert set(executions) == {float(x) for x in range(1, 41)}

        store = LocalArtifactStore(settings.artifacts_dir)
        digests = list(store.iter_digests())
        assert digests
        assert all(store.verify(d) for d in digests)
        referenced = client.storage.referenced_digests()
        assert referenced <= set(digests)
        for rid in children:  # every dataset a child produced is there and readable
            outputs = json.loads(client.node(rid, "Table").outputs or "{}")
            assert store.get_table(outputs["data"]["value"]).num_rows == 50
