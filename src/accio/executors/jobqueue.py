"""Batch systems (SLURM, PBS, SGE): a ``dask-jobqueue`` cluster behind :class:`DaskExecutor`.

``ACCIO_EXECUTOR=slurm`` (or ``pbs``, ``sge``) makes the scheduler process start a Dask
scheduler and submit batch jobs, one Dask worker each, **adaptively**: none while nothing runs,
up to ``Settings.max_workers`` while nodes wait (idle workers' jobs end after
``job_idle_s`` seconds). Each job asks for ``job_cores`` cores, ``job_memory``, ``job_queue`` and
``job_walltime``, runs this venv's Python (``sys.executable``: the workers must see the same
installation, as on a shared filesystem) and advertises its size as Dask worker resources
``cpus`` and ``memory_mb``; every task asks for its operator's declared resources, capped at one
job's size (a node asking for more than a job has runs alone in one job, as a node asking for
more than the machine does locally). Dask keeps submission order (FIFO) among tasks that fit.

Workers' scratch space (``local_directory``, also their working directory) is
``$ACCIO_JOB_DIR`` (a path on the compute nodes, created by each job), by default
``$ACCIO_HOME/jobqueue/workers``; ``$ACCIO_JOB_PROLOGUE`` runs first in each job (``module
load``, ``export HOME=...``). The jobs' logs are under
``$ACCIO_HOME/jobqueue/logs``. A worker lost with its job (walltime, preemption, ``scancel``)
has its running task rescheduled by Dask on another worker; after
``distributed.scheduler.allowed-failures`` (3) lost workers the task ends with
``KilledWorker``, which :class:`DaskExecutor` reports as ``crashed``: the scheduler runs the node
once more, then fails it. The lost job is replaced (while work waits) once Dask gives up on its
worker coming back: ``distributed.deploy.lost-worker-timeout``, 15 s by default.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shlex
import sys
from pathlib import Path
from typing import Any

from accio.config import BATCH_EXECUTORS, Settings
from accio.errors import UsageError
from accio.executors.dask import DaskExecutor

#: dask-jobqueue cluster class of each batch executor.
CLUSTERS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster"}
#: Seconds between two adaptive decisions; a worker idle for ``job_idle_s`` is retired.
ADAPT_INTERVAL_S = 1.0


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: a single-machine cluster (tests)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def jobqueue_paths(settings: Settings) -> tuple[Path, Path]:
    """(workers' local directory, jobs' log directory): ``job_dir`` and ``job_log_dir``, or
    under the home."""
    base = settings.home / "jobqueue"
    return settings.job_dir or base / "workers", settings.job_log_dir or base / "logs"


def cluster_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of the dask-jobqueue cluster for ``settings`` (no cluster started)."""
    workdir, logs = jobqueue_paths(settings)
    if any(c.isspace() for c in str(logs)):
        # dask-jobqueue writes it as is into '#SBATCH -e DIR/...' ('#PBS', '#$'): unquotable.
        raise UsageError(
            f"the batch jobs' log folder {logs} has a space in its path, which SLURM, PBS "
            "and SGE directives cannot take: set ACCIO_JOB_LOG_DIR (or ACCIO_HOME) to a path "
            "without spaces"
        )
    cores, memory_mb = settings.job_cores, settings.job_memory_mb
    worker_args = ["--resources", f"cpus={cores},memory_mb={memory_mb}", "--no-dashboard"]
    # Dask's scheduler always serves HTTP (health, metrics): on a free port, not on 8787.
    scheduler: dict[str, Any] = {"dashboard": False, "dashboard_address": ":0"}
    if settings.job_host:
        scheduler["host"] = settings.job_host
        scheduler["dashboard_address"] = f"{settings.job_host}:0"
        if is_loopback(settings.job_host):  # one machine: workers listen on loopback too
            worker_args += ["--host", settings.job_host]
    prologue = [settings.job_prologue] if settings.job_prologue else []
    workdir_q = shlex.quote(str(workdir))
    prologue.append(f"mkdir -p {workdir_q} && cd {workdir_q}")  # on the compute node
    if settings.plugins:  # PBS and SGE do not pass the submitter's environment on
        prologue.append(f"export ACCIO_PLUGINS={shlex.quote(settings.plugins)}")
    options: dict[str, Any] = {
        "cores": cores,
        "processes": 1,
        "memory": f"{memory_mb}MiB",
        "walltime": settings.job_walltime,
        "python": sys.executable,
        "local_directory": workdir_q,  # dask-jobqueue puts it in the command line as is
        "log_directory": str(logs),
        "death_timeout": 60,
        "worker_extra_args": worker_args,
        "job_script_prologue": prologue,
        "scheduler_options": scheduler,
        "job_name": "accio-worker",
    }
    if settings.job_queue:
        options["queue"] = settings.job_queue
    return options


def connect_jobqueue(
    settings: Settings, artifacts_root: str, name: str | None = None
) -> DaskExecutor:
    """A :class:`DaskExecutor` on a new adaptive dask-jobqueue cluster of ``name`` (default
    ``settings.executor``), closed, its jobs cancelled, when the executor stops."""
    name = name or settings.executor
    if name not in BATCH_EXECUTORS:
        raise UsageError(f"not a batch executor: {name!r} (one of {', '.join(BATCH_EXECUTORS)})")
    try:
        import dask_jobqueue
        import distributed
    except ImportError as exc:
        raise UsageError(
            f"the {name} executor needs dask-jobqueue: pip install 'accio[dask]'"
        ) from exc
    workdir, logs = jobqueue_paths(settings)
    if settings.job_log_dir is None:
        logs.mkdir(parents=True, exist_ok=True)  # the batch system writes there from the start
    else:  # a folder of the compute nodes: made here when this machine sees it too
        with contextlib.suppress(OSError):
            logs.mkdir(parents=True, exist_ok=True)
    if settings.job_dir is None:
        workdir.mkdir(parents=True, exist_ok=True)
    cluster_class: Any = getattr(dask_jobqueue, CLUSTERS[name])
    cluster = cluster_class(**cluster_options(settings))
    try:
        cluster.adapt(
            minimum=0,
            maximum=settings.max_workers,
            interval=f"{ADAPT_INTERVAL_S}s",
            wait_count=max(1, round(settings.job_idle_s / ADAPT_INTERVAL_S)),
            target_duration="1s",  # short nodes too get up to max_workers jobs
        )
        dask: Any = distributed
        client = dask.Client(cluster)
    except BaseException:
        cluster.close()
        raise
    executor = DaskExecutor(
        client,
        artifacts_root,
        slots=settings.max_workers * settings.job_cores,
        owned=[client, cluster],
        worker_size={"cpus": float(settings.job_cores), "memory_mb": settings.job_memory_mb},
    )
    executor.agent_kind = name  # its agents are batch jobs: listed with their job ids
    return executor
