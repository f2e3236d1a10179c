"""``agents()`` of the client contract: where the scheduler runs tasks, and its JSON shape.

:class:`AgentsOut` is what ``GET /api/v1/agents``, ``accio get agents --json`` and
:meth:`accio.client.contract.AccioClient.agents` all return. The two clients get ``agents()``
from the mixins below (their modules are at the size bound): the local client reads the
scheduler's published list (:mod:`accio.engine.agents`), the remote client asks the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from accio.config import Settings


class AgentOut(BaseModel):
    """One place tasks run (a machine, a Dask worker, a batch job) and what runs there."""

    name: str
    host: str = Field(description="host name ('' for a batch job not started yet)")
    kind: str = Field(description="local, inline, dask, slurm, pbs or sge")
    cpus: int = Field(description="tasks it can run at once (processes, threads, job cores)")
    memory_bytes: int | None = Field(description="memory it may use; null when unknown")
    running: int = Field(description="Accio tasks running there now")
    tasks: list[str] = Field(default_factory=list, description="run_id/node of those tasks")
    job_id: str | None = Field(default=None, description="batch job id of a SLURM/PBS/SGE worker")
    state: Literal["running", "idle", "pending", "retiring"]
    address: str = ""


class AgentsOut(BaseModel):
    """The agents of the home's scheduler; ``scheduler`` false when none runs."""

    scheduler: bool = Field(description="whether a scheduler runs for this home")
    executor: str | None = Field(default=None, description="its executor, once it has published")
    updated: float | None = Field(default=None, description="when the list last changed (epoch s)")
    agents: list[AgentOut] = Field(default_factory=list)


def read_local_agents(home: Path) -> AgentsOut:
    """The list published by the scheduler of ``home`` (no scheduler: ``scheduler`` false)."""
    from accio.engine.agents import read_agents

    published = read_agents(home)
    if published is None:
        return AgentsOut(scheduler=False)
    return AgentsOut(
        scheduler=True,
        executor=published.executor,
        updated=published.updated,
        agents=[AgentOut.model_validate(a.as_dict()) for a in published.agents],
    )


class _HasSettings(Protocol):
    @property
    def settings(self) -> Settings: ...


class _HasJson(Protocol):
    def _json(self, method: str, url: str, **kwargs: Any) -> Any: ...


class LocalAgents:
    """``agents()`` of :class:`~accio.client.local.LocalClient`."""

    def agents(self: _HasSettings) -> AgentsOut:
        """Where the home's scheduler runs tasks, as it last published it."""
        return read_local_agents(self.settings.home)


class RemoteAgents:
    """``agents()`` of :class:`~accio.client.remote.RemoteClient`."""

    def agents(self: _HasJson) -> AgentsOut:
        """Where the server's scheduler runs tasks (``GET /agents``)."""
        return AgentsOut.model_validate(self._json("GET", "/agents"))


__all__ = ["AgentOut", "AgentsOut", "LocalAgents", "RemoteAgents", "read_local_agents"]
