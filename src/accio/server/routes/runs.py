"""``/runs``: submit, list, describe, edit, kill and delete runs; ``/run-ids`` resolves prefixes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from accio.client import models as s
from accio.client.contract import AccioClient
from accio.server.deps import (
    DEFAULT_PER_PAGE,
    ClientDep,
    PageNo,
    PerPage,
    RunId,
    WriteLock,
    split_list,
)
from accio.states import UNFINISHED_RUN_STATES
from accio.storage.records import RunsFilter

router = APIRouter(tags=["runs"])

#: The most ids ``/run-ids`` returns (enough to name the candidates of an ambiguous prefix).
MAX_IDS = 1000


@router.get("/runs", summary="List runs, newest first")
def list_runs(
    client: ClientDep,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[
        list[str] | None, Query(description="the run carries all of them", max_length=200)
    ] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[list[s.RunStateName] | None, Query(description="any of them")] = None,
    q: Annotated[str | None, Query(max_length=500, description="words of name/notes/tags")] = None,
    parent: Annotated[str | None, Query(max_length=200, description="children of")] = None,
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> s.Page[s.RunOut]:
    if parent is not None:
        client.run(parent)  # 404 for an unknown parent, not an empty page
    f = RunsFilter(
        workflow=workflow,
        tags=tuple(split_list(tag)),
        owner=owner,
        states=tuple(state or ()),
        text=q,
        parent_id=parent,
        top_level_only=parent is None,
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    items = [s.run_out(r) for r in client.runs(f)]
    return s.Page(items=items, total=client.count_runs(f), page=page, per_page=per_page)


@router.get("/run-ids", summary="Ids of runs (children included) starting with a prefix")
def run_ids(
    client: ClientDep,
    prefix: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=MAX_IDS)] = 10,
) -> s.RunIdsOut:
    return s.RunIdsOut(ids=client.run_ids_with_prefix(prefix, limit))


@router.post(
    "/runs",
    status_code=201,
    summary="Submit a run definition (with overrides); a sweep creates a parent and children",
)
def submit_run(client: ClientDep, lock: WriteLock, submission: s.RunSubmission) -> s.SubmitOut:
    with lock:
        sub = client.submit(
            submission.definition,
            params=submission.params,
            name=submission.name,
            notes=submission.notes,
            tags=submission.tags,
            repeat=submission.repeat,
            seed=submission.seed,
            force=submission.force,
            force_nodes=submission.force_nodes,
        )
    record = client.run(sub.run_id)
    return s.SubmitOut(
        run_id=sub.run_id,
        child_ids=list(sub.child_ids),
        workflow_id=record.workflow_id,
        workflow_version=record.workflow_version,
        seed=sub.seed,
        seed_given=sub.seed_given,
        warnings=s.problem_items(sub.warnings),
    )


@router.get("/runs/{run_id}", summary="Describe a run")
def get_run(
    client: ClientDep,
    run_id: RunId,
    summary: Annotated[
        bool,
        Query(description="with state tallies and parameter values (false: the run alone)"),
    ] = True,
) -> s.RunDetailOut:
    run = client.run(run_id)
    detail = s.RunDetailOut(**s.run_out(run).model_dump())
    if not summary:  # what a polling client asks for: a sweep's summary reads every child
        return detail
    if run.is_parent:
        detail.child_counts = client.child_counts(run.id)
        children = client.children(run.id)
        values: dict[str, list[str]] = {}
        for text in dict.fromkeys(c.params for c in children):  # repeats share their params
            for name, typed in s.typed_values(text).items():
                seen = values.setdefault(name, [])
                if typed.text not in seen:
                    seen.append(typed.text)
        detail.param_values = values
        starts = [c.started for c in children if c.started is not None]
        if detail.started is None and starts:
            detail.started = min(starts)
    else:
        detail.node_counts = client.node_counts(run.id)
        detail.param_values = {k: [v.text] for k, v in detail.params.items()}
    detail.node_progress = client.node_progress(run.id)
    detail.failure_reason = client.failure_reason(run.id)
    return detail


@router.get(
    "/runs/{run_id}/counts",
    summary="State tallies of a run: its children's (a sweep parent) or its nodes' (other runs)",
)
def counts(client: ClientDep, run_id: RunId) -> s.CountsOut:
    run = client.run(run_id)
    if run.is_parent:
        return s.CountsOut(children=client.child_counts(run.id))
    return s.CountsOut(nodes=client.node_counts(run.id))


@router.get(
    "/runs/{run_id}/child-node-counts",
    summary="Per node of a sweep: in how many children it is in each state",
)
def child_node_counts(client: ClientDep, run_id: RunId) -> dict[str, dict[str, int]]:
    return client.child_node_counts(client.run(run_id).id)


def _edit(client: AccioClient, lock: WriteLock, run_id: str, edit: s.MetadataEdit) -> s.RunOut:
    run = client.run(run_id)
    target = run.parent_id or run.id  # children share their parent's metadata
    with lock:
        edited = client.edit(target, name=edit.name, notes=edit.notes, tags=edit.tags)
    return s.run_out(edited)


@router.patch(
    "/runs/{run_id}",
    summary="Edit name, notes or tags (a child's id edits its parent, which is returned)",
)
def patch_run(client: ClientDep, lock: WriteLock, run_id: RunId, edit: s.MetadataEdit) -> s.RunOut:
    return _edit(client, lock, run_id, edit)


@router.post("/runs/{run_id}", summary="Edit metadata (as PATCH)")
def post_run(client: ClientDep, lock: WriteLock, run_id: RunId, edit: s.MetadataEdit) -> s.RunOut:
    return _edit(client, lock, run_id, edit)


@router.post("/runs/{run_id}/kill", summary="Kill a run (a parent: all)")
def kill_run(client: ClientDep, lock: WriteLock, run_id: RunId) -> s.KillOut:
    run = client.run(run_id)
    if run.state not in UNFINISHED_RUN_STATES:
        return s.KillOut(killed=[], already_finished=[run.id])
    with lock:
        client.kill([run.id])
    return s.KillOut(killed=[run.id], already_finished=[])


@router.delete("/runs/{run_id}", summary="Delete a run, its nodes and logs")
def delete_run(client: ClientDep, lock: WriteLock, run_id: RunId) -> s.DeleteOut:
    run = client.run(run_id)
    with lock:
        deleted = client.delete([run.id])
    return s.DeleteOut(deleted=deleted)


@router.get("/runs/{run_id}/children", summary="Children of a sweep parent")
def list_children(
    client: ClientDep,
    run_id: RunId,
    state: Annotated[list[s.RunStateName] | None, Query()] = None,
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> s.Page[s.RunOut]:
    run = client.run(run_id)
    offset = (page - 1) * per_page
    if state:
        f = RunsFilter(parent_id=run.id, states=tuple(state), limit=per_page, offset=offset)
        items, total = client.runs(f), client.count_runs(f)
    else:
        items, total = client.children(run.id, limit=per_page, offset=offset), run.n_children
    return s.Page(items=[s.run_out(r) for r in items], total=total, page=page, per_page=per_page)
