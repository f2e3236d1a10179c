"""The executor's agents as other processes see them: ``$ACCIO_HOME/agents.json``.

Only the scheduler process holds the executor, but ``accio get agents``, the REST server and the
web UI run elsewhere and share nothing with it but the database and the home's files (like
:mod:`accio.engine.health`). So the scheduler loop asks its executor for its agents at most
every :data:`PUBLISH_INTERVAL_S` seconds and replaces the file (temporary file + rename: a
reader sees the old list or the new one, never half of one) when the list changed. The file
names the scheduler's pid: a reader trusts it only while that pid is the home's running
scheduler (a killed scheduler leaves it behind); a clean stop removes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accio.engine.daemon import running_pid
from accio.executors.agents import Agent
from accio.executors.base import Executor

log = logging.getLogger("accio.scheduler")

#: Seconds between two looks at the executor's agents.
PUBLISH_INTERVAL_S = 2.0


def agents_path(home: Path) -> Path:
    return home / "agents.json"


@dataclass(frozen=True)
class Published:
    """What the running scheduler last published: its executor and its agents."""

    pid: int
    #: Executor kind (``local``, ``dask``, ``slurm``...); None before the first publication.
    executor: str | None
    #: When the list last changed (None before the first publication).
    updated: float | None
    agents: tuple[Agent, ...]


class AgentBoard:
    """Publishes an executor's agents from the scheduler loop (best effort: a failing
    ``agents()`` is logged and the previous list kept; the loop never fails because of it)."""

    def __init__(
        self, home: Path | None, executor: Executor, interval: float = PUBLISH_INTERVAL_S
    ) -> None:
        self.path = agents_path(home) if home is not None else None
        self.executor = executor
        self.interval = interval
        self._next = 0.0  # monotonic time of the next look
        self._published: list[dict[str, Any]] | None = None
        self._error: str | None = None  # last failure logged (each new one is logged once)

    def tick(self) -> None:
        """Called every loop iteration: publish if due and changed."""
        if self.path is None or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.interval
        try:
            agents = [a.as_dict() for a in self.executor.agents()]
        except Exception as exc:  # a cluster unreachable for a moment: keep the last list
            message = f"{type(exc).__name__}: {exc}"
            if message != self._error:
                log.warning("cannot list the executor's agents: %s", message)
                self._error = message
            return
        self._error = None
        if agents != self._published:
            self._write(agents)

    def _write(self, agents: list[dict[str, Any]]) -> None:
        assert self.path is not None
        kind = getattr(self.executor, "agent_kind", self.executor.name)
        body = {"pid": os.getpid(), "executor": kind, "updated": time.time(), "agents": agents}
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(body, separators=(",", ":")))
            os.replace(temporary, self.path)
        except OSError as exc:  # a full disk: retried at the next look
            log.warning("cannot publish the agents to %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                temporary.unlink()
            return
        self._published = agents

    def close(self) -> None:
        """The scheduler stops: no agent serves this home any more."""
        if self.path is not None and self._published is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._published = None


def read_agents(home: Path) -> Published | None:
    """The running scheduler's agents; None when no scheduler runs for ``home``. A running
    scheduler that has published nothing yet (or a file left by a dead one) gives no agents."""
    pid = running_pid(home)
    if pid is None:
        return None
    try:
        data = json.loads(agents_path(home).read_text())
        if not isinstance(data, dict) or data.get("pid") != pid:
            return Published(pid, None, None, ())
        agents = tuple(_agent(a) for a in data.get("agents") or ())
        return Published(pid, str(data.get("executor")), float(data["updated"]), agents)
    except (OSError, ValueError, TypeError, KeyError):  # absent, or being replaced by hand
        return Published(pid, None, None, ())


def _agent(raw: dict[str, Any]) -> Agent:
    memory = raw.get("memory_bytes")
    job_id = raw.get("job_id")
    return Agent(
        name=str(raw["name"]),
        host=str(raw.get("host") or ""),
        kind=str(raw.get("kind") or ""),
        cpus=int(raw.get("cpus") or 0),
        memory_bytes=int(memory) if memory is not None else None,
        running=int(raw.get("running") or 0),
        tasks=tuple(str(t) for t in raw.get("tasks") or ()),
        job_id=str(job_id) if job_id is not None else None,
        state=raw.get("state") or "idle",
        address=str(raw.get("address") or ""),
    )


__all__ = ["PUBLISH_INTERVAL_S", "AgentBoard", "Published", "agents_path", "read_agents"]
