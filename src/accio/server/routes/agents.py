"""``/agents`` and ``/status``: where the scheduler runs tasks (``accio get agents`` over HTTP)
and whether it runs (``accio --cluster NAME server status``).

The server may run in another process than the scheduler: it reads the list the scheduler
publishes in the home (:mod:`accio.engine.agents`) through the client contract. Any signed-in
user may read it when authentication is on (the middleware checks every request).
"""

from __future__ import annotations

from fastapi import APIRouter

from accio.client.agents import AgentsOut
from accio.client.status import StatusOut
from accio.server.deps import ClientDep

router = APIRouter()


@router.get("/agents", tags=["agents"], summary="List the scheduler's agents")
def list_agents(client: ClientDep) -> AgentsOut:
    """Machines, Dask workers or batch jobs with their CPUs, memory and running tasks;
    ``scheduler`` is false (and the list empty) when no scheduler runs."""
    return client.agents()


@router.get("/status", tags=["agents"], summary="Whether the scheduler runs, and its executor")
def scheduler_status(client: ClientDep) -> StatusOut:
    """The scheduler of the server's home: running or not, its executor and, when it paused
    dispatch (storage failing), why."""
    status = client.scheduler_status()
    return StatusOut(running=status.running, executor=status.executor, condition=status.condition)
