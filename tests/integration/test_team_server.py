"""A team server: the demo sweep with its runs in PostgreSQL, its artifacts in S3 and its nodes in
SLURM batch jobs, through the real scheduler process and the CLI.

It must give what the embedded default (SQLite, folder store, local executor) gives for the same
seeded sweep: the same artifact digests and metric values. Every executed node records the SLURM
job it ran in; the workers run in a directory and with a HOME of their own (``ACCIO_JOB_DIR``,
``ACCIO_JOB_PROLOGUE``), unrelated to the server's home, working directory or HOME. One worker
job is cancelled (``scancel``) mid-sweep: nothing is lost. Resubmitted, the sweep is all cache
hits and starts no job.

The demo sweep is ``examples/geoind`` as ``make demo`` runs it (15 children: 5 epsilons x 3
repeats, 20 synthetic users over 7 days). Needs PostgreSQL (``ACCIO_TEST_POSTGRES_URL``), S3
(the ``s3_server`` fixture) and SLURM; each is skipped without it locally, a failure under
``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import BUCKET, S3Server
from tests.integration.test_slurm_executor import (  # the same SLURM requirement and helpers
    RAN_ON,
    accio,
    slurm,  # noqa: F401 (fixture)
    squeue_jobs,
)

from accio.client.client import Client
from accio.config import Settings
from accio.engine.daemon import running_pid

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "examples" / "geoind" / "geoind.json"
SWEEP = REPO / "examples" / "geoind" / "sweep.json"
#: A node's ``ran_on`` inside a SLURM job.
SLURM_RAN_ON = re.compile(r"^slurm job (\d+) on (\S+)$")
IDLE_S = 3
CHILDREN, NODES = 15, 8  # the demo sweep: 5 epsilons x 3 repeats, 8 nodes each


def required(reason: str) -> None:
    """Skip locally, fail under CI=true, as for the other services."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the test PostgreSQL server, dropped afterwards."""
    base = os.environ.get("ACCIO_TEST_POSTGRES_URL")
    if not base:
        required("set ACCIO_TEST_POSTGRES_URL to run the team server test")
    import psycopg
    import sqlalchemy as sa

    url = sa.make_url(base)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"accio_team_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        required(f"PostgreSQL at {url.render_as_string()} refused a new database: {exc}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def s3_prefix(s3_server: S3Server) -> Iterator[str]:
    """A fresh prefix of the test bucket, removed afterwards."""
    prefix = f"{BUCKET}/team-{uuid.uuid4().hex[:12]}"
    yield f"s3://{prefix}"
    fs = s3_server.filesystem()
    if fs.exists(prefix):
        fs.rm(prefix, recursive=True)


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's synthetic traces (``examples/demo.py``: 20 users, 7 days, seed 1)."""
    import pyarrow.parquet as pq

    from accio_locapriv.synthetic import generate_traces

    events, _ = generate_traces(20, 7, 60_000, 10.0, (45.76, 4.84), seed=1)
    path = tmp_path_factory.mktemp("data") / "synthetic-20u-7d.parquet"
    pq.write_table(events, path)
    return path


def outputs_by_child(client: Client, run_id: str) -> dict[int | None, dict[str, Any]]:
    """Each child's node outputs (dataset digests, metric values), by child index."""
    return {
        child.child_index: {n.name: json.loads(n.outputs or "{}") for n in client.nodes(child.id)}
        for child in client.children(run_id)
    }


def our_jobs(logs: Path) -> set[str]:
    """Batch jobs this server submitted (each writes ``accio-worker-<job>.err`` there)."""
    return {p.stem.rsplit("-", 1)[1] for p in logs.glob("accio-worker-*.err")}


def running_jobs(ids: set[str]) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "R", "-o", "%i"], capture_output=True, text=True, timeout=10
    ).stdout
    return sorted(ids & set(out.split()), key=int)


def process_cwd_and_home(pid: int) -> tuple[Path, str]:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    home = next((e[5:].decode() for e in environ if e.startswith(b"HOME=")), "")
    return Path(os.readlink(f"/proc/{pid}/cwd")), home


def under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def test_the_demo_sweep_on_a_team_server_matches_the_embedded_default(
    slurm: None,  # noqa: F811 (fixture)
    postgres_url: str,
    s3_prefix: str,
    s3_server: S3Server,
    traces: Path,
    tmp_path: Path,
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ACCIO_", "AWS_"))}
    base.update(ACCIO_USER="tester", ACCIO_HTTP="off")
    params = (f"url={traces}", "kind=parquet")

    # The reference: the embedded default (SQLite, folder store, local executor), its own home.
    embedded = tmp_path / "embedded"
    ref_env = {**base, "ACCIO_HOME": str(embedded), "ACCIO_EXECUTOR": "local"}
    accio(ref_env, tmp_path, "push", str(WORKFLOW))
    t0 = time.time()
    ref = json.loads(
        accio(ref_env, tmp_path, "submit", str(SWEEP), *params, "--wait", "--json", timeout=180)
    )
    embedded_s = time.time() - t0
    accio(ref_env, tmp_path, "server", "stop")

    # The team server: a home, working directory and HOME of its own; the workers another.
    server = tmp_path / "server"
    home, server_cwd, server_user_home = server / "home", server / "cwd", server / "user"
    compute = tmp_path / "compute"
    job_dir, worker_home = compute / "work", compute / "home"
    for d in (server_cwd, server_user_home):
        d.mkdir(parents=True)
    env = {
        **base,
        **s3_server.env(),
        "HOME": str(server_user_home),
        "ACCIO_HOME": str(home),
        "ACCIO_DATABASE_URL": postgres_url,
        "ACCIO_ARTIFACTS_URL": s3_prefix,
        "ACCIO_EXECUTOR": "slurm",
        "ACCIO_JOB_HOST": "127.0.0.1",
        "ACCIO_MAX_WORKERS": "2",
        "ACCIO_JOB_CORES": "1",
        "ACCIO_JOB_MEMORY": "2GiB",
        "ACCIO_JOB_QUEUE": "debug",
        "ACCIO_JOB_WALLTIME": "00:10:00",
        "ACCIO_JOB_IDLE_S": str(IDLE_S),
        "ACCIO_JOB_DIR": str(job_dir),
        "ACCIO_JOB_PROLOGUE": f"mkdir -p {worker_home} && export HOME={worker_home}",
    }
    logs = home / "jobqueue" / "logs"
    accio(env, server_cwd, "push", str(WORKFLOW))
    accio(env, server_cwd, "server", "start")
    try:
        pid = running_pid(home)
        assert pid is not None, "no scheduler process after accio server start"
        scheduler_cwd, scheduler_home = process_cwd_and_home(pid)
        assert (scheduler_cwd, scheduler_home) == (server_cwd, str(server_user_home))

        t0 = time.time()
        run_id = accio(env, server_cwd, "submit", str(SWEEP), *params, "--quiet").split()[0]
        with Client(settings=Settings.from_env(env), autostart=False) as client:
            # Mid-sweep, one worker job of this server is cancelled: one the scheduler lists
            # (accio get agents) as running tasks of this sweep, once a node has ended. Not on
            # the parent's progress, which counts finished children: FIFO interleaves the
            # children's nodes, so they all end together near the end (a sweep of 11 s on CI
            # went from 0% to done between two polls).
            killed, at, doing = "", 0.0, ()
            deadline = time.time() + 120
            while not killed and time.time() < deadline:
                run = client.run(run_id)
                assert run.state not in ("success", "failed"), "the sweep ended before a kill"
                done = sum(child.progress for child in client.children(run_id)) / CHILDREN
                jobs = set(running_jobs(our_jobs(logs)))
                busy = [a for a in client.agents().agents if a.running and a.job_id in jobs]
                if busy and done > 0:
                    agent = busy[-1]
                    killed, at, doing = str(agent.job_id), done, tuple(agent.tasks)
                    subprocess.run(["scancel", killed], check=True, timeout=10)
                time.sleep(0.1)
            assert killed, "no worker job of this server ran within 120 s"
            accio(env, server_cwd, "wait", run_id, timeout=240)
            team_s = time.time() - t0
            assert killed not in squeue_jobs({killed})

            # Nothing lost: every child and every node ended well.
            parent = client.run(run_id)
            children = client.children(run_id)
            assert parent.state == "success" and len(children) == CHILDREN
            assert doing and all(t.startswith(tuple(c.id for c in children)) for t in doing)
            submitted = our_jobs(logs)
            executed_in: set[str] = set()
            for child in children:
                assert child.state == "success", child.name
                nodes = client.nodes(child.id)
                assert len(nodes) == NODES
                for node in nodes:
                    assert node.state in ("success", "cached"), (child.name, node.name, node.error)
                    if node.state == "cached":
                        assert node.ran_on == "", (child.name, node.name)  # it ran nowhere
                        continue
                    # Every executed node records the SLURM job it ran in: one of ours.
                    found = SLURM_RAN_ON.match(node.ran_on)
                    assert found, (child.name, node.name, node.ran_on)
                    job = found.group(1)
                    assert job in submitted, (job, submitted)
                    executed_in.add(job)
                    # Its log names the same job, and the worker's cwd and HOME.
                    lines = [e.line for e in client.logs(child.id, node.name)]
                    where = [m for m in map(RAN_ON.match, lines) if m]
                    assert len(where) == 1, (child.name, node.name, lines)
                    log_job, _host, cwd, worker_env_home = where[0].groups()
                    assert log_job == job
                    assert Path(cwd) == job_dir and worker_env_home == str(worker_home)
                    for path in (Path(cwd), Path(worker_env_home)):
                        assert not under(path, home), path  # not in the server's ACCIO_HOME
                        assert not under(path, server_cwd) and not under(path, server_user_home)
                        assert path != Path.cwd()
            described = json.loads(
                accio(env, server_cwd, "describe", "node", f"{children[0].id}/Noisy", "--json")
            )
            assert described["ran_on"] == client.node(children[0].id, "Noisy").ran_on

            # The very same digests and metric values as the embedded default.
            with Client(settings=Settings.from_env(ref_env), autostart=False) as reference:
                expected = outputs_by_child(reference, ref["run_id"])
            assert len(expected) == CHILDREN
            got = outputs_by_child(client, run_id)
            assert got == expected

            # Resubmitted: all cache hits, nothing dispatched, no new batch job.
            again = json.loads(
                accio(env, server_cwd, "submit", str(SWEEP), *params, "--wait", "--json")
            )
            for child in client.children(again["run_id"]):
                nodes = client.nodes(child.id)
                assert {n.state for n in nodes} == {"cached"}, child.name
                assert {n.ran_on for n in nodes} == {""} and {n.attempts for n in nodes} == {0}
            assert outputs_by_child(client, again["run_id"]) == expected
            assert our_jobs(logs) == submitted
        print(
            f"\ndemo sweep ({CHILDREN} children x {NODES} nodes): embedded {embedded_s:.1f} s,"
            f" PostgreSQL + S3 + SLURM {team_s:.1f} s with job {killed} cancelled at"
            f" {at:.0%} while it ran {', '.join(doing)}; nodes ran in job(s) {sorted(executed_in, key=int)} of"
            f" {sorted(submitted, key=int)} submitted"
        )
    finally:
        accio(env, server_cwd, "server", "stop")


def test_job_dir_and_prologue_reach_the_job_script(tmp_path: Path) -> None:
    """No batch system needed: the workers' directory and the prologue, in the script."""
    from dask_jobqueue import SLURMCluster

    from accio.config import job_env
    from accio.errors import UsageError
    from accio.executors.jobqueue import cluster_options

    env = {
        "ACCIO_HOME": str(tmp_path / "home"),
        "ACCIO_EXECUTOR": "slurm",
        "ACCIO_JOB_HOST": "127.0.0.1",
        "ACCIO_JOB_DIR": "/scratch/accio work",
        "ACCIO_JOB_PROLOGUE": "export HOME=/scratch/$USER",
    }
    settings = Settings.from_env(env)
    assert settings.job_dir == Path("/scratch/accio work")
    # an auto-started scheduler gets them too
    assert Settings.from_env({**env, **job_env(settings)}) == settings
    assert job_env(settings)["ACCIO_JOB_DIR"] == "/scratch/accio work"
    with SLURMCluster(**cluster_options(settings)) as cluster:
        script = cluster.job_script()
    prologue = script.index("export HOME=/scratch/$USER")
    move = script.index("mkdir -p '/scratch/accio work' && cd '/scratch/accio work'")
    assert prologue < move < script.index("distributed.cli.dask_worker")
    assert "--local-directory '/scratch/accio work'" in script
    assert str(tmp_path / "home" / "jobqueue" / "logs") in script  # logs stay in the home
    assert not (tmp_path / "home" / "jobqueue" / "workers").exists()  # nothing made here
    with pytest.raises(UsageError, match="ACCIO_JOB_DIR"):
        Settings.from_env({**env, "ACCIO_JOB_DIR": "relative/dir"})
    # the jobs' logs: in a folder of the compute nodes when the home is not shared with them
    elsewhere = Settings.from_env({**env, "ACCIO_JOB_LOG_DIR": "/scratch/accio-logs"})
    assert job_env(elsewhere)["ACCIO_JOB_LOG_DIR"] == "/scratch/accio-logs"
    with SLURMCluster(**cluster_options(elsewhere)) as cluster:
        assert "#SBATCH -e /scratch/accio-logs/accio-worker-%J.err" in cluster.job_script()
    with pytest.raises(UsageError, match="ACCIO_JOB_LOG_DIR must be an absolute path"):
        Settings.from_env({**env, "ACCIO_JOB_LOG_DIR": "logs"})
    # the jobs' log folder goes into the batch directives unquoted: a space is refused, clearly
    spaced = Settings.from_env({**env, "ACCIO_HOME": str(tmp_path / "my home")})
    with pytest.raises(UsageError, match="has a space in its path"):
        cluster_options(spaced)
