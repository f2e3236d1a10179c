"""``/datasets/{digest}``: a dataset output, by the content digest its node's outputs name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from accio.client import models as s
from accio.server.deps import (
    DEFAULT_PER_PAGE,
    TABLE_RESPONSES,
    ClientDep,
    PageNo,
    PerPage,
    table_response,
)

router = APIRouter(tags=["results"])


@router.get(
    "/datasets/{digest}",
    summary="A dataset output (by digest) as JSON rows, CSV or Parquet",
    response_model=s.ResultsOut,
    responses=TABLE_RESPONSES,
)
def dataset(
    client: ClientDep,
    digest: Annotated[str, Path()],
    format: s.TableFormat = "parquet",
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> s.ResultsOut | Response:
    table = client.dataset(digest)
    return table_response(table, format, page, per_page, digest[:12])
