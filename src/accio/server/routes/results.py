"""``/runs/{id}/results``, ``/aggregate``, ``/validation`` and ``/gc``: what runs produced."""

from __future__ import annotations

from typing import Annotated, Literal

import pyarrow as pa
from fastapi import APIRouter, Query
from fastapi.responses import Response

from accio.client import export
from accio.client import models as s
from accio.client.contract import AccioClient
from accio.errors import UsageError
from accio.server.deps import (
    DEFAULT_PER_PAGE,
    TABLE_RESPONSES,
    ClientDep,
    Outputs,
    PageNo,
    PerPage,
    RunId,
    WriteLock,
    as_field_error,
    split_list,
    table_response,
)

router = APIRouter(tags=["results"])

#: ``long``: one row per output value (:func:`accio.client.export.long_results`); ``wide``: one
#: row per child with its scalar outputs (what ``results()`` of both clients returns).
Shape = Literal["long", "wide"]


def _long(client: AccioClient, run_id: str, outputs: list[str] | None) -> pa.Table:
    run = client.run(run_id)
    selection = split_list(outputs) if outputs else None
    return as_field_error("query.outputs", lambda: export.long_results(client, run.id, selection))


@router.get(
    "/runs/{run_id}/results",
    summary="Every output value of a run's children, as a long table (or the wide one)",
    response_model=s.ResultsOut,
    responses=TABLE_RESPONSES,
)
def results(
    client: ClientDep,
    run_id: RunId,
    outputs: Outputs = None,
    format: s.TableFormat = "json",
    shape: Shape = "long",
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> s.ResultsOut | Response:
    if shape == "wide":
        table = client.results(client.run(run_id).id)
    else:
        table = _long(client, run_id, outputs)
    return table_response(table, format, page, per_page, f"{run_id}-results")


@router.get(
    "/runs/{run_id}/aggregate",
    summary="Mean, std, 95 % CI and count of numeric outputs over repeats",
    response_model=s.ResultsOut,
    responses=TABLE_RESPONSES,
)
def aggregate(
    client: ClientDep,
    run_id: RunId,
    by: Annotated[
        list[str] | None, Query(description="group by these parameters (default: all)")
    ] = None,
    outputs: Outputs = None,
    format: s.TableFormat = "json",
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> s.ResultsOut | Response:
    table = _long(client, run_id, outputs)
    keys = split_list(by) if by else None
    stats = as_field_error("query.by", lambda: export.aggregate(table, keys))
    return table_response(stats, format, page, per_page, f"{run_id}-aggregate")


@router.get("/runs/{run_id}/validation", summary="Children that are missing or did not succeed")
def validation(client: ClientDep, run_id: RunId) -> s.ValidationOut:
    checked = export.validate(client, client.run(run_id).id)
    return s.ValidationOut.model_validate(export.validation_json(checked))


@router.post("/gc", summary="Delete artifacts no run or cache entry refers to")
def gc(client: ClientDep, lock: WriteLock) -> s.GcOut:
    with lock:
        files, size = client.gc()
    return s.GcOut(files=files, bytes=size)


@router.post(
    "/gc/retention", summary="Delete old runs, then the cache and artifacts they alone used"
)
def retention(
    client: ClientDep,
    lock: WriteLock,
    keep_last: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
) -> s.RetentionOut:
    if keep_last is None and older_than is None:
        raise UsageError("give keep_last or older_than")
    with lock:
        return client.retain(keep_last=keep_last, older_than=older_than, dry_run=dry_run)
