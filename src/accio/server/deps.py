"""What every route depends on: the client (through FastAPI's ``Depends``), the write lock, the
paging parameters, and the helpers that turn tables and errors into responses.

Routes see the home only through :class:`~accio.client.contract.AccioClient`, so the same API
can serve a local home or, in tests, any other implementation of the contract.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

import pyarrow as pa
from fastapi import Depends, Path, Query, Request
from fastapi.responses import Response

from accio.client import export
from accio.client import models as s
from accio.client.contract import AccioClient
from accio.errors import UsageError
from accio.server.errors import ApiError

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000
_MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
TABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON rows, or a CSV/Parquet file with ?format=csv|parquet",
        "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
    }
}
T = TypeVar("T")


def get_client(request: Request) -> AccioClient:
    """The app's client (one per app: tests build several apps)."""
    client: AccioClient = request.app.state.client
    return client


def get_write_lock(request: Request) -> threading.RLock:
    """Writes that replay runs in-process must not interleave."""
    lock: threading.RLock = request.app.state.write_lock
    return lock


ClientDep = Annotated[AccioClient, Depends(get_client)]
WriteLock = Annotated[threading.RLock, Depends(get_write_lock)]
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="items per page")]
RunId = Annotated[str, Path(description="a run id")]
NodeName = Annotated[str, Path(description="a node name")]
Outputs = Annotated[
    list[str] | None,
    Query(description="only these outputs: Node/port or Node, repeated or comma-separated"),
]


def paged(items: Sequence[T], page: int, per_page: int) -> list[T]:
    start = (page - 1) * per_page
    return list(items[start : start + per_page])


def split_list(values: Iterable[str] | None) -> list[str]:
    """``?tag=a&tag=b`` and ``?tag=a,b`` alike."""
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def json_safe(value: Any) -> Any:
    """A cell as strict JSON: NaN and infinities become null, bytes hex, other objects text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def table_response(
    table: pa.Table, fmt: s.TableFormat, page: int, per_page: int, filename: str
) -> s.ResultsOut | Response:
    """A page of a table as JSON rows, or the whole table as a CSV or Parquet download."""
    if fmt != "json":
        return Response(
            content=export.table_bytes(table, fmt),
            media_type=_MEDIA[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt}"'},
        )
    start = (page - 1) * per_page
    window = table.slice(start, per_page) if start < len(table) else table.slice(0, 0)
    rows = [{str(k): json_safe(v) for k, v in row.items()} for row in window.to_pylist()]
    return s.ResultsOut(
        columns=table.column_names,
        params=export.param_columns(table),
        rows=rows,
        total=len(table),
        page=page,
        per_page=per_page,
    )


def as_field_error(path: str, call: Callable[[], T]) -> T:
    """Run ``call``; a UsageError about a request field becomes a 422 naming that field."""
    try:
        return call()
    except UsageError as exc:
        raise ApiError.field(422, path, str(exc)) from None
