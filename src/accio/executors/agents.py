"""Agents: the machines, processes or batch jobs an executor runs tasks on.

The original Accio's master listed its workers with ``accio get agents``; here each executor
describes its own (:meth:`accio.executors.base.Executor.agents`), the scheduler publishes the
list (:mod:`accio.engine.agents`) and every client reads it. Listing agents must stay cheap (the
scheduler asks every few seconds, from its loop) and never fail a run: executors build
:class:`Agent` values from state they already hold or from one call to their cluster.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

#: ``running``: tasks run there; ``idle``: none; ``pending``: a batch job submitted whose worker
#: has not connected yet; ``retiring``: finishing its tasks before it is replaced or closed.
AgentState = Literal["running", "idle", "pending", "retiring"]
#: Labels of running tasks kept per agent (the count is always exact).
MAX_LABELS = 20


@dataclass(frozen=True)
class Agent:
    """One place tasks run: its size, and what of Accio's runs there now."""

    name: str
    host: str
    #: Executor kind: ``local``, ``inline``, ``dask``, ``slurm``, ``pbs`` or ``sge``.
    kind: str
    #: Tasks it can run at once (worker processes, Dask threads, batch job cores).
    cpus: int
    #: Memory it may use (a Dask worker's limit, this machine's memory); None when unknown.
    memory_bytes: int | None
    #: Accio tasks running there now.
    running: int = 0
    #: ``run_id/node`` of those tasks (at most :data:`MAX_LABELS`).
    tasks: tuple[str, ...] = ()
    #: Batch job id (SLURM, PBS, SGE) of a jobqueue worker.
    job_id: str | None = None
    state: AgentState = "idle"
    #: Where to reach it: a Dask worker's address, a local scheduler's pid.
    address: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the published file and the REST model share them)."""
        return {
            "name": self.name,
            "host": self.host,
            "kind": self.kind,
            "cpus": self.cpus,
            "memory_bytes": self.memory_bytes,
            "running": self.running,
            "tasks": list(self.tasks),
            "job_id": self.job_id,
            "state": self.state,
            "address": self.address,
        }


def task_label(run_id: str, node: str) -> str:
    return f"{run_id}/{node}"


def machine_memory_bytes() -> int | None:
    """This machine's physical memory, or None where the OS does not say."""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    return None


def this_machine(kind: str, cpus: int, labels: Iterable[str], *, retiring: bool = False) -> Agent:
    """The agent of an executor running tasks on this machine (local processes, inline)."""
    tasks = tuple(labels)
    host = socket.gethostname()
    state: AgentState = "running" if tasks else ("retiring" if retiring else "idle")
    return Agent(
        name=host,
        host=host,
        kind=kind,
        cpus=cpus,
        memory_bytes=machine_memory_bytes(),
        running=len(tasks),
        tasks=tasks[:MAX_LABELS],
        state=state,
        address=f"pid {os.getpid()}",
    )


def batch_jobs(cluster: Any) -> dict[str, tuple[str | None, int, int | None]]:
    """``{worker name: (job id, cores, memory bytes)}`` of a dask-jobqueue cluster's jobs
    (its ``workers`` maps each job's name to a ``Job`` with ``job_id``), submitted or running;
    empty for any other cluster."""
    try:
        jobs = dict(getattr(cluster, "workers", None) or {})  # copied: its event loop edits it
    except (RuntimeError, TypeError):
        return {}
    found: dict[str, tuple[str | None, int, int | None]] = {}
    for name, job in jobs.items():
        if not hasattr(job, "job_id"):
            continue  # not a batch job (a LocalCluster's Nanny)
        job_id = getattr(job, "job_id", None)
        cores = getattr(job, "worker_cores", None) or 1
        memory = getattr(job, "worker_memory", None)
        found[str(name)] = (
            str(job_id) if job_id else None,
            int(cores),
            int(memory) if memory else None,
        )
    return found


def _job_of(worker_name: str, jobs: Mapping[str, Any]) -> str | None:
    """The job a Dask worker belongs to: its name, or ``<job>-<i>`` for several per job."""
    if worker_name in jobs:
        return worker_name
    head, _, tail = worker_name.rpartition("-")
    return head if tail.isdigit() and head in jobs else None


def dask_agents(
    info: Mapping[str, Any],
    processing: Mapping[str, Iterable[Any]],
    tasks: Mapping[str, list[tuple[int, str]]],
    *,
    kind: str = "dask",
    jobs: Mapping[str, tuple[str | None, int, int | None]] | None = None,
) -> list[Agent]:
    """Agents of a Dask cluster from ``Client.scheduler_info()`` (each worker's ``host``,
    ``name``, ``nthreads``, ``memory_limit``, ``status``) and ``Client.processing()`` (the keys
    assigned to each worker). Only Accio's keys count: ``tasks`` maps each to its
    ``(task id, label)`` (several for a bundle, which counts as one running task, labelled by
    its first). Dask may assign a worker more keys than it has threads; the running ones are its
    first ``nthreads`` in submission order (Accio's priorities make Dask run them so). Batch
    ``jobs`` (:func:`batch_jobs`) give each worker its job id; jobs without a worker yet are
    listed ``pending``."""
    jobs = jobs or {}
    agents: list[Agent] = []
    seen: set[str] = set()
    workers: Mapping[str, Any] = info.get("workers") or {}
    for address, worker in sorted(workers.items()):
        name = str(worker.get("name", address))
        threads = int(worker.get("nthreads") or 1)
        mine = sorted(min(tasks[k]) for k in map(str, processing.get(address, ())) if tasks.get(k))
        labels = tuple(label for _, label in mine[:threads])
        job = _job_of(name, jobs)
        if job is not None:
            seen.add(job)
        active = str(worker.get("status", "running")) == "running"
        state: AgentState = "running" if labels else ("idle" if active else "retiring")
        memory = worker.get("memory_limit")
        agents.append(
            Agent(
                name=name,
                host=str(worker.get("host") or ""),
                kind=kind,
                cpus=threads,
                memory_bytes=int(memory) if memory else None,
                running=len(labels),
                tasks=labels[:MAX_LABELS],
                job_id=jobs[job][0] if job is not None else None,
                state=state,
                address=str(address),
            )
        )
    for job, (job_id, cores, memory) in sorted(jobs.items()):
        if job not in seen:
            agents.append(Agent(job, "", kind, cores, memory, job_id=job_id, state="pending"))
    return agents


__all__ = [
    "MAX_LABELS",
    "Agent",
    "AgentState",
    "batch_jobs",
    "dask_agents",
    "machine_memory_bytes",
    "task_label",
    "this_machine",
]
