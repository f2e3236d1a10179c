"""``/agents``: where the scheduler runs tasks (``accio get agents`` over HTTP).

The server may run in another process than the scheduler: it reads the list the scheduler
publishes in the home (:mod:`accio.engine.agents`) through the client contract. Any signed-in
user may read it when authentication is on (the middleware checks every request).
"""

from __future__ import annotations

from fastapi import APIRouter

from accio.client.agents import AgentsOut
from accio.server.deps import ClientDep

router = APIRouter()


@router.get("/agents", tags=["agents"], summary="List the scheduler's agents")
def list_agents(client: ClientDep) -> AgentsOut:
    """Machines, Dask workers or batch jobs with their CPUs, memory and running tasks;
    ``scheduler`` is false (and the list empty) when no scheduler runs."""
    return client.agents()
