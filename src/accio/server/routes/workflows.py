"""``/workflows`` and ``/validate``: push, list, describe and validate definitions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from accio.client import models as s
from accio.client.contract import AccioClient
from accio.definitions.documents import workflow_from_document
from accio.definitions.inputs import input_text
from accio.definitions.model import Workflow
from accio.errors import AccioError, DefinitionError, NotFoundError, UsageError
from accio.server.deps import DEFAULT_PER_PAGE, ClientDep, PageNo, PerPage, WriteLock, paged
from accio.server.errors import ApiError
from accio.values.canonical import to_canonical
from accio.values.render import render

router = APIRouter(tags=["workflows"])


@router.get("/workflows", summary="List workflows, newest first")
def list_workflows(
    client: ClientDep,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, description="substring of id/name")] = None,
    include_inactive: bool = False,
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> s.Page[s.WorkflowOut]:
    offset = (page - 1) * per_page
    records = client.workflows(owner, q, per_page, offset, include_inactive=include_inactive)
    total = client.count_workflows(owner, q, include_inactive=include_inactive)
    items = [s.workflow_out(r) for r in records]
    return s.Page(items=items, total=total, page=page, per_page=per_page)


@router.get(
    "/workflows/{spec}",
    summary="Describe a workflow: id (active version) or id:version (a unique prefix works)",
)
def get_workflow(client: ClientDep, spec: Annotated[str, Path()]) -> s.WorkflowDetailOut:
    record = client.workflow_record(spec)
    definition = json.loads(record.definition)
    params: list[s.WorkflowParamOut] = []
    nodes: list[s.WorkflowNodeOut] = []
    try:
        workflow: Workflow | None
        workflow, _ = workflow_from_document(definition, client.registry)
    except AccioError:  # e.g. its operators are not installed here: show the raw document
        workflow = None
    if workflow is not None:
        params = [
            s.WorkflowParamOut(
                name=p.name,
                kind=str(p.kind),
                default=to_canonical(p.kind, p.default) if p.has_default else None,
                default_text=render(p.kind, p.default) if p.has_default else None,
                required=not p.has_default and not p.optional,
                optional=p.optional,
            )
            for p in workflow.params
        ]
        nodes = [
            s.WorkflowNodeOut(
                name=n.name,
                op=n.op,
                inputs={p: input_text(n, p, client.registry) for p in n.inputs},
                depends_on=n.dependencies(),
            )
            for n in workflow.nodes
        ]
    return s.WorkflowDetailOut(
        **s.workflow_out(record).model_dump(),
        params=params,
        nodes=nodes,
        definition=definition if isinstance(definition, dict) else {},
    )


@router.get("/workflows/{id}/versions", summary="Versions, newest first")
def workflow_versions(
    client: ClientDep,
    id: Annotated[str, Path()],
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> s.Page[s.WorkflowOut]:
    records = client.workflow_versions(id)
    if not records:
        raise NotFoundError(f"no workflow {id!r}")
    items = [s.workflow_out(r) for r in paged(records, page, per_page)]
    return s.Page(items=items, total=len(records), page=page, per_page=per_page)


@router.post(
    "/workflows",
    status_code=201,
    summary="Validate a workflow definition and store it as the active version",
)
def push_workflow(
    client: ClientDep, lock: WriteLock, document: Annotated[dict[str, Any], Body()]
) -> s.PushOut:
    return _push(client, lock, document)


@router.post(
    "/workflows/{id}",
    status_code=201,
    summary="Push a workflow under this id (the body's id, if any, must match)",
)
def push_workflow_id(
    client: ClientDep,
    lock: WriteLock,
    id: Annotated[str, Path()],
    document: Annotated[dict[str, Any], Body()],
) -> s.PushOut:
    if "id" in document and document["id"] != id:
        raise ApiError.field(422, "body.id", f"the body's id {document['id']!r} is not {id!r}")
    return _push(client, lock, {**document, "id": id})


@router.post("/validate", summary="Validate a workflow or run definition without storing anything")
def validate_definition(
    client: ClientDep, document: Annotated[dict[str, Any], Body()]
) -> s.ValidateOut:
    kind: Any = "run" if "workflow" in document else "workflow"
    try:
        if kind == "run":
            sweep, warnings = client.prepare(document)
            return s.ValidateOut(
                kind=kind, valid=True, warnings=s.problem_items(warnings), children=len(sweep)
            )
        _, warnings = workflow_from_document(document, client.registry)
        return s.ValidateOut(kind=kind, valid=True, warnings=s.problem_items(warnings))
    except DefinitionError as exc:
        warned = [p for p in exc.problems if p.severity == "warning"]
        return s.ValidateOut(
            kind=kind,
            valid=False,
            errors=s.problem_items(exc.errors),
            warnings=s.problem_items(warned),
        )
    except (NotFoundError, UsageError) as exc:
        items = [s.ErrorItem(message=line) for line in exc.lines()]
        return s.ValidateOut(kind=kind, valid=False, errors=items)


def _push(client: AccioClient, lock: Any, document: dict[str, Any]) -> s.PushOut:
    _, warnings = workflow_from_document(document, client.registry)
    with lock:
        record, new = client.push(document)
    return s.PushOut(
        id=record.id, version=record.version, new=new, warnings=s.problem_items(warnings)
    )
