"""``accio get agents`` on ``ACCIO_EXECUTOR=slurm``: an adaptive cluster lists no agent while
idle, then each worker's SLURM job id (a real job) while a sweep runs.

Needs SLURM's node ``localhost`` up (``scripts/ci/slurm.sh``): skipped without, failed under
``CI=true`` or ``ACCIO_TEST_SLURM=1``, as ``test_slurm_executor.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dask_jobqueue")
pytestmark = pytest.mark.integration

ACCIO = Path(sys.executable).parent / "accio"
WORKFLOW = {
    "id": "naps",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [{"op": "Sleep", "inputs": {"value": {"param": "x"}, "duration": "4.seconds"}}],
}


@pytest.fixture
def slurm() -> None:
    state = "no sinfo (SLURM not installed)"
    if shutil.which("sinfo") is not None:
        try:
            state = subprocess.run(
                ["sinfo", "-h", "-n", "localhost", "-o", "%t"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except subprocess.TimeoutExpired:
            state = "sinfo timed out"
    if state not in ("idle", "mix", "alloc"):
        message = f"SLURM is not up: {state or 'no node localhost'}"
        if os.environ.get("CI") == "true" or os.environ.get("ACCIO_TEST_SLURM") == "1":
            pytest.fail(f"{message} (CI=true or ACCIO_TEST_SLURM=1 requires it)")
        pytest.skip(message)


def accio(env: dict[str, str], cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        [str(ACCIO), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, f"accio {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def squeue() -> set[str]:
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    return set(out.split())


def test_agents_are_the_slurm_jobs_running_the_sweep(slurm: None, tmp_path: Path) -> None:
    (tmp_path / "wf.json").write_text(json.dumps(WORKFLOW))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCIO_")}
    env.update(
        ACCIO_HOME=str(tmp_path / "home"),
        ACCIO_PLUGINS="accio.testing:operators",
        ACCIO_HTTP="off",
        ACCIO_EXECUTOR="slurm",
        ACCIO_JOB_HOST="127.0.0.1",
        ACCIO_MAX_WORKERS="2",
        ACCIO_JOB_CORES="1",
        ACCIO_JOB_MEMORY="1GiB",
        ACCIO_JOB_QUEUE="debug",
        ACCIO_JOB_WALLTIME="00:10:00",
        ACCIO_JOB_IDLE_S="3",
    )
    accio(env, tmp_path, "push", "wf.json")
    accio(env, tmp_path, "server", "start")
    try:
        idle = json.loads(accio(env, tmp_path, "get", "agents", "--json"))
        assert (idle["scheduler"], idle["agents"]) == (True, [])  # adaptive: no job yet

        sweep = tmp_path / "sweep.json"
        sweep.write_text(json.dumps({"workflow": "naps", "params": {"x": {"values": [1, 2]}}}))
        accio(env, tmp_path, "submit", "--quiet", "sweep.json")
        t0 = time.time()
        seen: list[dict[str, Any]] = []
        while time.time() - t0 < 60 and not any(a["running"] for a in seen):
            time.sleep(0.5)
            seen = json.loads(accio(env, tmp_path, "get", "agents", "--json"))["agents"]
        busy = [a for a in seen if a["running"]]
        assert busy, f"no agent ran a task within 60 s: {seen}"
        jobs = {a["job_id"] for a in busy}
        assert all(a["kind"] == "slurm" and a["cpus"] == 1 for a in busy)
        assert all(a["memory_bytes"] == 2**30 for a in busy), busy
        assert all(str(job).isdigit() for job in jobs) and jobs <= squeue(), (jobs, busy)
        table = accio(env, tmp_path, "get", "agents")
        assert all(str(job) in table for job in jobs)
        print(
            f"\nagents with their SLURM job {sorted(jobs)} {time.time() - t0:.1f} s after submit"
        )
    finally:
        accio(env, tmp_path, "server", "stop")
