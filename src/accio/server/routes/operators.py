"""``/operators``: what the home can run, with ports, types and resources."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from accio.client import models as s
from accio.server.deps import DEFAULT_PER_PAGE, ClientDep, PageNo, PerPage, paged

router = APIRouter()


@router.get("/operators", tags=["operators"], summary="List operators")
def list_operators(
    client: ClientDep,
    include_deprecated: bool = False,
    category: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, description="substring of name")] = None,
    page: PageNo = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> s.Page[s.OperatorOut]:
    found = [
        o
        for o in client.operators(include_deprecated=include_deprecated)
        if (category is None or o.category == category or o.category.startswith(f"{category}/"))
        and (not q or q.lower() in o.name.lower())
    ]
    items = paged(found, page, per_page)
    return s.Page(items=items, total=len(found), page=page, per_page=per_page)


@router.get("/operators/{name}", tags=["operators"], summary="Describe an operator")
def get_operator(client: ClientDep, name: Annotated[str, Path()]) -> s.OperatorOut:
    return client.operator(name)
