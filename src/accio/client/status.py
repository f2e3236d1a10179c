"""``scheduler_status()`` of the client contract, for both clients.

The local client reads the home's files (pid, status, URL, the agents the scheduler published);
the remote client asks the server (``GET /api/v1/status``), which reads them in its own home.
So ``accio --cluster NAME server status`` describes the scheduler of that server, not this
machine's. :class:`StatusOut` is the JSON shape of that endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from accio.client.contract import SchedulerStatus
from accio.errors import NotFoundError

if TYPE_CHECKING:
    from accio.config import Settings


class StatusOut(BaseModel):
    """The scheduler serving the server's home."""

    running: bool = Field(description="whether a scheduler runs for the server's home")
    executor: str | None = Field(
        default=None, description="its executor (local, dask, slurm...), once it has published"
    )
    condition: str | None = Field(
        default=None, description="why it paused dispatch (storage failing), if so"
    )


class _HasSettings(Protocol):
    @property
    def settings(self) -> Settings: ...


class _HasJson(Protocol):
    base_url: str

    def _json(self, method: str, url: str, **kwargs: Any) -> Any: ...


class LocalSchedulerStatus:
    """``scheduler_status()`` of :class:`~accio.client.local.LocalClient`."""

    def scheduler_status(self: _HasSettings) -> SchedulerStatus:
        from accio.engine import daemon
        from accio.engine.agents import read_agents
        from accio.engine.health import read_status

        home = self.settings.home
        pid = daemon.running_pid(home)
        running = pid is not None or daemon.is_running(home)
        if not running:
            return SchedulerStatus(False)
        published = read_agents(home)
        return SchedulerStatus(
            True,
            pid,
            daemon.server_url(home),
            condition=read_status(home).get("condition"),
            executor=published.executor if published is not None else None,
        )


class RemoteSchedulerStatus:
    """``scheduler_status()`` of :class:`~accio.client.remote.RemoteClient`."""

    def scheduler_status(self: _HasJson) -> SchedulerStatus:
        try:
            out = StatusOut.model_validate(self._json("GET", "/status"))
        except NotFoundError:  # a server older than /status: it runs its scheduler, as before
            return SchedulerStatus(True, None, self.base_url, remote=True)
        return SchedulerStatus(
            out.running,
            None,
            self.base_url,
            remote=True,
            condition=out.condition,
            executor=out.executor,
        )


__all__ = ["LocalSchedulerStatus", "RemoteSchedulerStatus", "StatusOut"]
