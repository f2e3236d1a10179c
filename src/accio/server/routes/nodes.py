"""``/runs/{id}/nodes`` and ``/runs/{id}/explain``: node states, outputs, logs, cache decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from accio.client import models as s
from accio.server.deps import (
    DEFAULT_PER_PAGE,
    ClientDep,
    NodeName,
    PageNo,
    PerPage,
    RunId,
    paged,
)
from accio.storage.records import LogStream

router = APIRouter(tags=["nodes"])


@router.get(
    "/runs/{run_id}/nodes",
    summary="Nodes of a run in topological order: state, cache source, duration",
)
def list_nodes(
    client: ClientDep,
    run_id: RunId,
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
    detail: Annotated[bool, Query(description="each node as /nodes/{node} has it")] = False,
) -> s.Page[s.NodeOut] | s.Page[s.NodeDetailOut]:
    nodes = sorted(client.nodes(client.run(run_id).id), key=lambda n: n.position)
    if detail:  # outputs, error and key of every node in one request
        details = [s.node_detail_out(n) for n in paged(nodes, page, per_page)]
        return s.Page[s.NodeDetailOut](
            items=details, total=len(nodes), page=page, per_page=per_page
        )
    items = [s.node_out(n) for n in paged(nodes, page, per_page)]
    return s.Page[s.NodeOut](items=items, total=len(nodes), page=page, per_page=per_page)


@router.get("/runs/{run_id}/nodes/{node}", summary="Describe a node")
def get_node(client: ClientDep, run_id: RunId, node: NodeName) -> s.NodeDetailOut:
    return s.node_detail_out(client.node(client.run(run_id).id, node))


@router.get("/runs/{run_id}/nodes/{node}/outputs", summary="Outputs of a node")
def node_outputs(client: ClientDep, run_id: RunId, node: NodeName) -> dict[str, s.TypedValueOut]:
    return s.typed_values(client.node(client.run(run_id).id, node).outputs)


@router.get(
    "/runs/{run_id}/nodes/{node}/logs",
    summary="Log lines of a node, oldest first",
    response_model=s.Page[s.LogLineOut],
    responses={200: {"content": {"text/plain": {}}}},
)
def node_logs(
    client: ClientDep,
    run_id: RunId,
    node: NodeName,
    stream: Annotated[list[s.StreamName] | None, Query()] = None,
    tail: Annotated[int | None, Query(ge=0, le=1_000_000, description="last N lines")] = None,
    since: Annotated[
        float | None, Query(ge=0, le=1e12, description="only lines after this epoch time")
    ] = None,
    download: bool = False,
) -> s.Page[s.LogLineOut] | Response:
    streams: tuple[LogStream, ...] = tuple(stream or ("stdout", "stderr"))
    lines = client.logs(client.run(run_id).id, node, streams=streams, limit=tail, since=since)
    if download:
        return PlainTextResponse(
            "".join(f"{x.line}\n" for x in lines),
            headers={"Content-Disposition": f'attachment; filename="{run_id}-{node}.log"'},
        )
    items = [s.LogLineOut(ts=x.ts, stream=x.stream, line=x.line) for x in lines]
    return s.Page(items=items, total=len(items), page=1, per_page=max(1, len(items)))


@router.get(
    "/runs/{run_id}/explain",
    summary="Why each node ran or was a cache hit (a parent: its children, paged)",
)
def explain(
    client: ClientDep,
    run_id: RunId,
    node: Annotated[str | None, Query(max_length=500)] = None,
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> s.Page[s.ExplanationOut]:
    run = client.run(run_id)
    if run.is_parent:
        offset = (page - 1) * per_page
        targets = client.children(run.id, limit=per_page, offset=offset)
        total = run.n_children
    else:
        targets, total = ([run] if page == 1 else []), 1
    items = [s.explanation_out(r.id, e) for r in targets for e in client.explain(r.id, node)]
    return s.Page(items=items, total=total, page=page, per_page=per_page)
