"""Kill, delete and re-run from a run's page.

Forms post (they work without JavaScript) and answer with a redirect: after a kill, to the run;
after a delete, to the runs list; after a re-run, to the new run. Delete asks for confirmation in
a dialog and the server checks the confirmation field too, so a stray POST deletes nothing.

A re-run is rebuilt from stored records only (the storage keeps no copy of the submitted
document): a single run's parameters, or for a sweep the distinct values of each parameter over
its children in child order (children are the product of those values, repeated), checked
against the parent's child count before anything is submitted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from accio.client.contract import AccioClient
from accio.errors import AccioError, NotFoundError, UsageError
from accio.storage.records import RunRecord
from accio.values.canonical import from_canonical
from accio.values.render import render
from accio.values.types import parse_type

#: Children read at most to rebuild a sweep (beyond, the page says to re-submit the file).
MAX_REBUILD_CHILDREN = 100_000


def _literal(typed: dict[str, Any]) -> Any:
    """A stored typed value as a run document writes it (``4.hours``, not 14400000)."""
    raw = typed.get("value")
    type_text = str(typed.get("type", ""))
    if raw is None or type_text in ("string", "boolean", "double", "integer"):
        return raw
    try:
        dtype = parse_type(type_text)
        return render(dtype, from_canonical(dtype, raw))
    except (AccioError, ValueError, TypeError, KeyError):
        return raw


def _params(run: RunRecord) -> dict[str, Any]:
    stored = json.loads(run.params or "{}")
    return {k: _literal(v) for k, v in stored.items() if isinstance(v, dict)}


def rerun_document(client: AccioClient, run: RunRecord, *, same_seed: bool) -> dict[str, Any]:
    """The run document that submits ``run`` again (same seed, or a fresh one)."""
    doc: dict[str, Any] = {
        "workflow": f"{run.workflow_id}:{run.workflow_version}",
        "name": f"{run.name or run.id[:12]} (re-run)",
        "tags": list(run.tags),
    }
    if run.notes:
        doc["notes"] = run.notes
    if same_seed:
        doc["seed"] = run.seed
    if not run.is_parent:
        doc["params"] = _params(run)
        return doc
    if run.n_children > MAX_REBUILD_CHILDREN:
        raise UsageError(f"a sweep of {run.n_children:,} children: re-submit its run file")
    children = client.children(run.id)
    values: dict[str, list[Any]] = {}
    seen: dict[str, list[str]] = {}
    for child in children:
        for name, value in _params(child).items():
            text = json.dumps(value, sort_keys=True)
            if text not in seen.setdefault(name, []):
                seen[name].append(text)
                values.setdefault(name, []).append(value)
    repeat = max((c.repeat_index for c in children), default=0) + 1
    combos = 1
    for vs in values.values():
        combos *= len(vs)
    if combos * repeat != run.n_children:
        raise UsageError(
            "this sweep's children are not a full product of its parameter values: "
            "re-submit its run file"
        )
    doc["params"] = {k: vs[0] if len(vs) == 1 else {"values": vs} for k, vs in values.items()}
    doc["repeat"] = repeat
    return doc


async def _form(request: Request) -> dict[str, str]:
    form = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)
    return {k: v[0] for k, v in form.items() if v}


def add_routes(
    router: APIRouter,
    client: AccioClient,
    get_run: Callable[[str], RunRecord | None],
    problem: Callable[[Request, str, int], Response],
) -> None:
    """Add ``POST /runs/{id}/kill``, ``/delete`` and ``/rerun`` to ``router``."""

    @router.post("/runs/{run_id}/kill")
    def run_kill(request: Request, run_id: str) -> Response:
        if get_run(run_id) is None:
            return problem(request, f"run {run_id}", 404)
        client.kill([run_id])
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    @router.post("/runs/{run_id}/delete")
    async def run_delete(request: Request, run_id: str) -> Response:
        run = get_run(run_id)
        if run is None:
            return problem(request, f"run {run_id}", 404)
        form = await _form(request)
        if form.get("confirm") != run.id[:8]:
            return problem(request, "confirmation: type the first 8 characters of the id", 400)
        client.delete([run_id])
        target = f"/runs/{run.parent_id}" if run.parent_id else "/"
        return RedirectResponse(target, status_code=303)

    @router.post("/runs/{run_id}/rerun")
    async def run_rerun(request: Request, run_id: str) -> Response:
        run = get_run(run_id)
        if run is None:
            return problem(request, f"run {run_id}", 404)
        form = await _form(request)
        try:
            doc = rerun_document(client, run, same_seed=form.get("seed", "same") == "same")
            submission = client.submit(doc)
        except NotFoundError as exc:
            return problem(request, str(exc), 404)
        except AccioError as exc:
            return problem(request, f"re-run refused: {exc}", 400)
        return RedirectResponse(f"/runs/{submission.run_id}", status_code=303)


__all__ = ["add_routes", "rerun_document"]
