"""``ACCIO_EXECUTOR=slurm``: the real scheduler process runs a seeded sweep in SLURM batch jobs.

Needs a SLURM whose node ``localhost`` is up (``scripts/ci/slurm.sh``, run by ``.ci/run``, which
exports ``ACCIO_TEST_SLURM=1``). Without one the test is skipped, except under ``CI=true`` (or
with ``ACCIO_TEST_SLURM=1``) where it fails. The Dask scheduler and the workers listen on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from accio.client.client import Client

pytest.importorskip("dask_jobqueue")
pytestmark = pytest.mark.integration

ACCIO = Path(sys.executable).parent / "accio"
RAN_ON = re.compile(r"^accio: ran on slurm job (\S+) \(host (.*), cwd (.*), HOME (.*)\)$")
IDLE_S = 3  # a worker's job ends after 3 idle seconds

WORKFLOW = {
    "id": "slurmy",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": 50}},
        {"op": "Mean", "name": "Avg", "inputs": {"data": {"reference": "Table/data"}}},
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"param": "x"}, "b": {"reference": "Avg/mean"}},
        },
        {"op": "Noise", "name": "Noisy", "inputs": {"value": {"reference": "Sum/sum"}}},
    ],
}
SWEEP = {"workflow": "slurmy", "seed": 11, "params": {"x": {"values": [1, 2, 3, 4, 5, 6]}}}


def slurm_state() -> str:
    """The state of SLURM node ``localhost`` (``idle``, ``mix``...), or why there is none."""
    if shutil.which("sinfo") is None:
        return "no sinfo (SLURM not installed; run scripts/ci/slurm.sh)"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-n", "localhost", "-o", "%t"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return "sinfo timed out (slurmctld not answering)"
    return proc.stdout.strip() or f"no node localhost ({proc.stderr.strip()})"


@pytest.fixture
def slurm() -> None:
    state = slurm_state()
    if state not in ("idle", "mix", "alloc"):
        message = f"SLURM is not up: {state}; start it with scripts/ci/slurm.sh"
        if os.environ.get("CI") == "true" or os.environ.get("ACCIO_TEST_SLURM") == "1":
            pytest.fail(f"{message} (CI=true or ACCIO_TEST_SLURM=1 requires it)")
        pytest.skip(message)


def accio(env: dict[str, str], cwd: Path, *args: str, timeout: float = 90) -> str:
    proc = subprocess.run(
        [str(ACCIO), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"accio {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def squeue_jobs(ids: set[str]) -> set[str]:
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    return ids & set(out.split())


def outputs(client: Client, run_id: str) -> list[dict[str, Any]]:
    """Each child's node outputs, in child order."""
    return [
        {n.name: json.loads(n.outputs or "{}") for n in client.nodes(child.id)}
        for child in client.children(run_id)
    ]


def test_a_seeded_sweep_runs_in_slurm_jobs_like_on_the_local_executor(
    slurm: None, tmp_path: Path
) -> None:
    (tmp_path / "wf.json").write_text(json.dumps(WORKFLOW))
    (tmp_path / "sweep.json").write_text(json.dumps(SWEEP))
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACCIO_")}
    base.update(ACCIO_PLUGINS="accio.testing:operators", ACCIO_USER="tester", ACCIO_HTTP="off")

    # The reference: the same sweep on the local executor, in another home.
    local_env = {**base, "ACCIO_HOME": str(tmp_path / "local"), "ACCIO_EXECUTOR": "local"}
    accio(local_env, tmp_path, "push", "wf.json")
    t0 = time.time()
    local = json.loads(accio(local_env, tmp_path, "submit", "sweep.json", "--wait", "--json"))
    local_s = time.time() - t0
    accio(local_env, tmp_path, "server", "stop")

    home = tmp_path / "slurm"
    env = {
        **base,
        "ACCIO_HOME": str(home),
        "ACCIO_EXECUTOR": "slurm",
        "ACCIO_JOB_HOST": "127.0.0.1",
        "ACCIO_MAX_WORKERS": "2",
        "ACCIO_JOB_CORES": "1",
        "ACCIO_JOB_MEMORY": "1GiB",
        "ACCIO_JOB_QUEUE": "debug",
        "ACCIO_JOB_WALLTIME": "00:10:00",
        "ACCIO_JOB_IDLE_S": str(IDLE_S),
    }
    accio(env, tmp_path, "push", "wf.json")
    accio(env, tmp_path, "server", "start")
    try:
        t0 = time.time()
        sub = json.loads(accio(env, tmp_path, "submit", "sweep.json", "--wait", "--json"))
        slurm_s = time.time() - t0
        with (
            Client(home=home, autostart=False) as client,
            Client(home=tmp_path / "local", autostart=False) as reference,
        ):
            parent = client.run(sub["run_id"])
            children = client.children(parent.id)
            assert parent.state == "success" and len(children) == 6
            assert {c.state for c in children} == {"success"}

            # Every executed node says which SLURM job ran it: a real job of this cluster.
            jobs: set[str] = set()
            first_start = min(n.started or 0 for c in children for n in client.nodes(c.id))
            for child in children:
                for node in client.nodes(child.id):
                    if node.state != "success":
                        continue  # a shared node served from another child's execution
                    lines = [entry.line for entry in client.logs(child.id, node.name)]
                    found = [m for m in map(RAN_ON.match, lines) if m]
                    assert len(found) == 1, (child.name, node.name, lines)
                    job, _host, cwd, worker_home = found[0].groups()
                    assert job.isdigit(), job
                    jobs.add(job)
                    assert Path(cwd) == home / "jobqueue" / "workers"
                    assert Path(cwd) not in (home, tmp_path, Path.cwd())
                    assert worker_home and Path(worker_home) != home
            logs_dir = home / "jobqueue" / "logs"
            submitted = {p.stem.rsplit("-", 1)[1] for p in logs_dir.glob("accio-worker-*.err")}
            assert jobs and jobs <= submitted, (jobs, submitted)

            # The same results, seeds included, as on the local executor.
            assert outputs(client, parent.id) == outputs(reference, local["run_id"])

            # Resubmitted: every node from the cache, no new job.
            again = json.loads(accio(env, tmp_path, "submit", "sweep.json", "--wait", "--json"))
            for child in client.children(again["run_id"]):
                assert {n.state for n in client.nodes(child.id)} == {"cached"}, child.name
            assert outputs(client, again["run_id"]) == outputs(client, parent.id)

            # Idle: the workers' jobs end (adaptive scaling down to 0).
            deadline = time.time() + IDLE_S + 20
            while squeue_jobs(submitted) and time.time() < deadline:
                time.sleep(0.5)
            assert not squeue_jobs(submitted), "worker jobs still queued or running when idle"
            idle_down = time.time()
        print(
            f"\nsweep of 6 children x 4 nodes: local {local_s:.1f} s, slurm {slurm_s:.1f} s"
            f" (first node started {first_start - t0:.1f} s after submit), {len(jobs)} job(s)"
            f" {sorted(jobs)}; no worker job {idle_down - t0 - slurm_s:.1f} s after the sweep"
            " (resubmission included)"
        )
    finally:
        accio(env, tmp_path, "server", "stop")


def test_a_node_whose_worker_job_is_cancelled_runs_again_in_another_job(
    slurm: None, tmp_path: Path
) -> None:
    """``scancel`` of the job running a node: Dask reschedules the task on a new worker (a new
    job, started by the adaptive cluster) and the node succeeds there, its one recorded job the
    new one."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCIO_")}
    env.update(
        ACCIO_PLUGINS="accio.testing:operators",
        ACCIO_USER="tester",
        ACCIO_HTTP="off",
        ACCIO_HOME=str(home),
        ACCIO_EXECUTOR="slurm",
        ACCIO_JOB_HOST="127.0.0.1",
        ACCIO_MAX_WORKERS="1",
        ACCIO_JOB_MEMORY="1GiB",
        ACCIO_JOB_WALLTIME="00:10:00",
        ACCIO_JOB_IDLE_S=str(IDLE_S),
    )
    workflow = {
        "id": "sleepy",
        "graph": [{"op": "Sleep", "name": "Nap", "inputs": {"value": 7, "duration": "4s"}}],
    }
    (tmp_path / "wf.json").write_text(json.dumps(workflow))
    accio(env, tmp_path, "push", "wf.json")
    accio(env, tmp_path, "server", "start")
    try:
        run_id = accio(env, tmp_path, "submit", "sleepy", "--quiet").split()[0]
        logs_dir = home / "jobqueue" / "logs"
        with Client(home=home, autostart=False) as client:
            deadline = time.time() + 30
            started = False
            while time.time() < deadline and not started:
                try:
                    started = client.node(run_id, "Nap").state == "running"
                except Exception:  # the node rows may not be written yet
                    started = False
                time.sleep(0.2)
            assert started, "the node did not start within 30 s"
            # the only worker registered: the task runs on it, for 4 s
            while time.time() < deadline and not any(
                "Registered to" in p.read_text() for p in logs_dir.glob("accio-worker-*.err")
            ):
                time.sleep(0.1)
            time.sleep(1.0)
            first = {p.stem.rsplit("-", 1)[1] for p in logs_dir.glob("accio-worker-*.err")}
            assert len(first) == 1, first
            subprocess.run(["scancel", *first], check=True, timeout=10)
            cancelled = time.time()
            accio(env, tmp_path, "wait", run_id, timeout=60)
            node = client.node(run_id, "Nap")
            assert node.state == "success"
            assert node.attempts == 1  # retried by Dask, not reported to the scheduler
            lines = [entry.line for entry in client.logs(run_id, "Nap")]
            jobs = [m.group(1) for m in map(RAN_ON.match, lines) if m]
            assert len(jobs) == 1 and jobs[0] not in first, (jobs, first, lines)
            print(
                f"\ncancelled job {first}; node rerun in job {jobs[0]}, attempts {node.attempts},"
                f" started again {(node.started or 0) - cancelled:.1f} s after the scancel"
            )
    finally:
        accio(env, tmp_path, "server", "stop")


@pytest.mark.parametrize("system", ["slurm", "pbs", "sge"])
def test_job_scripts_follow_the_settings(system: str, tmp_path: Path) -> None:
    """No batch system needed: the job script each cluster would submit."""
    from dask_jobqueue import PBSCluster, SGECluster, SLURMCluster

    from accio.config import Settings
    from accio.engine.runtime import open_runtime
    from accio.executors.jobqueue import cluster_options

    settings = Settings.from_env(
        {
            "ACCIO_HOME": str(tmp_path / "home"),
            "ACCIO_EXECUTOR": system,
            "ACCIO_JOB_CORES": "2",
            "ACCIO_JOB_MEMORY": "3GiB",
            "ACCIO_JOB_QUEUE": "long",
            "ACCIO_JOB_WALLTIME": "02:30:00",
            "ACCIO_MAX_WORKERS": "5",
            "ACCIO_JOB_HOST": "127.0.0.1",
            "ACCIO_PLUGINS": "accio.testing:operators",
        }
    )
    cls = {"slurm": SLURMCluster, "pbs": PBSCluster, "sge": SGECluster}[system]
    with cls(**cluster_options(settings)) as cluster:
        script = cluster.job_script()
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    workers = tmp_path / "home" / "jobqueue" / "workers"
    assert f"{sys.executable} -m distributed.cli.dask_worker" in script
    assert "--resources cpus=2,memory_mb=3072" in script
    assert "--nthreads 2" in script and "--host 127.0.0.1" in script
    assert f"cd {workers}" in script and f"--local-directory {workers}" in script
    assert "export ACCIO_PLUGINS=accio.testing:operators" in script
    assert "long" in script and "02:30:00" in script
    assert str(tmp_path / "home" / "jobqueue" / "logs") in script
    if system == "slurm":
        assert "#SBATCH -p long" in script and "#SBATCH --cpus-per-task=2" in script
    runtime = open_runtime(settings)
    try:  # the scheduler may run what 5 jobs of 2 cores and 3 GiB hold
        assert (runtime.capacity.cpus, runtime.capacity.memory_mb) == (10.0, 5 * 3072)
    finally:
        runtime.close()


def test_batch_settings_are_read_and_checked() -> None:
    from accio.config import Settings, job_env
    from accio.errors import UsageError

    defaults = Settings.from_env({"ACCIO_HOME": "/tmp/x", "ACCIO_EXECUTOR": "pbs"})
    assert (defaults.executor, defaults.max_workers, defaults.job_cores) == ("pbs", 4, 1)
    assert (defaults.job_memory_mb, defaults.job_queue, defaults.job_idle_s) == (2048, None, 30)
    env = {"ACCIO_HOME": "/tmp/x", "ACCIO_EXECUTOR": "slurm", "ACCIO_JOB_MEMORY": "1.5GB"}
    env.update(ACCIO_JOB_QUEUE="gpu", ACCIO_MAX_WORKERS="8", ACCIO_JOB_IDLE_S="5")
    settings = Settings.from_env(env)
    assert settings.job_memory_mb == 1430  # 1.5e9 bytes
    assert Settings.from_env({**env, **job_env(settings)}) == settings  # what daemon passes on
    for name, bad in [
        ("ACCIO_EXECUTOR", "lsf"),
        ("ACCIO_JOB_MEMORY", "lots"),
        ("ACCIO_JOB_MEMORY", "10KB"),
        ("ACCIO_MAX_WORKERS", "0"),
        ("ACCIO_JOB_CORES", "two"),
    ]:
        with pytest.raises(UsageError, match=name):
            Settings.from_env({**env, name: bad})
