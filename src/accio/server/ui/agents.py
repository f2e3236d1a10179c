"""The agents page: where the scheduler runs tasks, refreshed every few seconds.

The list comes from the client contract (:meth:`~accio.client.contract.AccioClient.agents`),
so the page works whether the web server runs in the scheduler's process or on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from accio.client.agents import AgentOut
from accio.client.contract import AccioClient

#: Seconds between two refreshes of the list (the scheduler publishes at most every 2 s).
REFRESH_S = 2


def memory_text(n: int | None) -> str:
    """``7.8 GiB``: a memory size as people read it ('' when unknown)."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _row(agent: AgentOut) -> dict[str, Any]:
    tasks = [(label.partition("/")[0], label.partition("/")[2]) for label in agent.tasks]
    return {"agent": agent, "memory": memory_text(agent.memory_bytes), "tasks": tasks}


def add_routes(
    router: APIRouter, client: AccioClient, render: Callable[..., HTMLResponse]
) -> None:
    """Add ``GET /agents``."""

    @router.get("/agents", response_class=HTMLResponse)
    def agents_page(request: Request) -> Response:
        listing = client.agents()
        return render(
            request,
            "agents.html",
            listing=listing,
            rows=[_row(a) for a in listing.agents],
            refresh=REFRESH_S,
        )


__all__ = ["add_routes", "memory_text"]
