"""A kill racing a fresh submission over REST never takes the scheduler process down.

A real ``accio server start`` on a temporary home: 20 times, submit a sweep over the REST API
and kill it at once (or a few milliseconds later, while its nodes are being resolved or
dispatched). Afterwards the scheduler process is the same one, still alive, and every run and
child ended killed or success.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accio.engine import daemon

pytestmark = pytest.mark.integration

ACCIO = Path(sys.executable).parent / "accio"
ROUNDS = 20
WORKFLOW: dict[str, Any] = {
    "id": "nap_sum",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
        {
            "op": "Sleep",
            "name": "Nap",
            "inputs": {"value": {"reference": "In/value"}, "duration": "30.milliseconds"},
        },
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"reference": "Nap/value"}, "b": {"reference": "In/value"}},
        },
    ],
}


def accio(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACCIO), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[httpx.Client, int, Path]]:
    """The REST API of a scheduler started by ``accio server start``, its pid and its log."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "ACCIO_HOME": str(home),
        "ACCIO_PLUGINS": "accio.testing:operators",
        "ACCIO_CPUS": "2",
    }
    env.pop("ACCIO_SERVER", None)
    started = accio(env, "server", "start", "--http", "127.0.0.1:0")
    assert started.returncode == 0, started.stderr
    try:
        url = daemon.server_url(home)
        assert url, "the scheduler serves no URL"
        pid = daemon.running_pid(home)
        assert pid is not None
        with httpx.Client(base_url=f"{url}/api/v1", timeout=45) as http:
            yield http, pid, daemon.log_path(home)
    finally:
        accio(env, "server", "stop")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kill_right_after_submit_twenty_times(server: tuple[httpx.Client, int, Path]) -> None:
    http, pid, log = server
    assert http.post("/workflows", json=WORKFLOW).status_code == 201
    rng = random.Random(20)
    t0 = time.monotonic()
    runs: list[str] = []
    for i in range(ROUNDS):
        values = [float(i * 10 + k) for k in range(4)]
        submitted = http.post(
            "/runs",
            json={"definition": {"workflow": "nap_sum", "params": {"x": {"values": values}}}},
        )
        assert submitted.status_code == 201, submitted.text
        run_id = submitted.json()["run_id"]
        runs.append(run_id)
        if i % 2:  # odd rounds: let the scheduler pick the run up and start resolving it
            time.sleep(rng.uniform(0.0, 0.06))
        killed = http.post(f"/runs/{run_id}/kill")
        assert killed.status_code == 200, killed.text
        assert alive(pid), f"the scheduler died in round {i}"

    deadline = time.monotonic() + 30
    for run_id in runs:
        while True:
            run = http.get(f"/runs/{run_id}").json()
            if run["state"] in ("killed", "success"):
                break
            assert run["state"] in ("pending", "running"), run
            assert time.monotonic() < deadline, f"run {run_id} stays {run['state']}"
            time.sleep(0.05)
        children = http.get(f"/runs/{run_id}/children", params={"per_page": 100}).json()
        states = {c["state"] for c in children["items"]}
        assert states <= {"killed", "success"}, states
    assert alive(pid) and http.get("/runs").status_code == 200
    text = log.read_text()
    assert "Traceback" not in text and "InvalidTransition" not in text, text[-3000:]
    assert time.monotonic() - t0 < 60
