"""The REST API's routes, one module per resource; :func:`api_router` gathers them."""

from __future__ import annotations

from fastapi import APIRouter

from accio import __version__
from accio.client.models import VersionOut
from accio.server.errors import ERROR_RESPONSES


def api_router() -> APIRouter:
    """Every route of ``/api/v1``."""
    from accio.server.routes import agents, artifacts, nodes, operators, results, runs, workflows

    router = APIRouter(responses=ERROR_RESPONSES)

    @router.get("", tags=["meta"], summary="Server name and version")
    def version() -> VersionOut:
        return VersionOut(version=__version__)

    for module in (operators, workflows, runs, nodes, results, artifacts, agents):
        router.include_router(module.router)
    return router


__all__ = ["api_router"]
