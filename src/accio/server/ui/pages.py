"""The compare page (2-5 runs side by side) and the dataset preview page.

Compare shows, per run, its metadata and parameters (a sweep's swept values), the mean of each
numeric output over its successful children, and the figures the runs share drawn once with one
colour per run: each output against each parameter swept by all of them, and the trade-off pair
of the first run when every run has both metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from accio.client.contract import AccioClient
from accio.client.figures import Figures, Options, overlay
from accio.client.figures.data import fmt
from accio.errors import NotFoundError
from accio.server.ui import model
from accio.storage.records import RunRecord, RunsFilter

MIN_COMPARE, MAX_COMPARE = 2, 5
#: Overlaid figures at most on the compare page.
MAX_OVERLAYS = 8
PREVIEW_ROWS = 50


def _run_params(figs: Figures, run: RunRecord) -> dict[str, str]:
    """A run's parameters as text: a sweep's swept values listed, its constants as they are."""
    if not run.is_parent:
        return {p.name: p.text for p in model.render_params(run.params)}
    shown = {p: ", ".join(fmt(v) for v in figs.data.values(p)) for p in figs.data.params}
    shown.update(figs.data.constants)
    return shown


def _metric_means(figs: Figures) -> dict[str, str]:
    out = {}
    for m in figs.data.metrics:
        vals = [float(r[m]) for r in figs.data.rows if isinstance(r.get(m), int | float)]
        vals = [v for v in vals if math.isfinite(v)]
        if vals:
            mean = math.fsum(vals) / len(vals)
            out[m] = fmt(mean) if len(vals) == 1 else f"{fmt(mean)} ({len(vals)} values)"
    return out


def compare_context(client: AccioClient, caches: model.Caches, ids: list[str]) -> dict[str, Any]:
    """Everything the compare page shows about the runs ``ids`` (in that order)."""
    runs = [client.run(i) for i in ids]
    figs = [caches.figures(client, r) for r in runs]
    labels = [f"{model.title(r)} ({r.id[:6]})" for r in runs]
    param_names = list(
        dict.fromkeys(n for f, r in zip(figs, runs, strict=True) for n in _run_params(f, r))
    )
    metric_names = list(dict.fromkeys(m for f in figs for m in f.data.metrics))
    rows_params = {r.id: _run_params(f, r) for f, r in zip(figs, runs, strict=True)}
    rows_metrics = {r.id: _metric_means(f) for f, r in zip(figs, runs, strict=True)}
    opts = Options(width=420, height=260)
    charts: list[tuple[str, dict[str, Any]]] = []
    common_params = [p for p in figs[0].data.params if all(p in f.data.params for f in figs)]
    common_metrics = [m for m in figs[0].data.metrics if all(m in f.data.metrics for f in figs)]
    pair = figs[0].pair()
    if pair and all(pair[0] in f.data.metrics and pair[1] in f.data.metrics for f in figs):
        drawn = [(lab, f.tradeoff(*pair, opts)) for lab, f in zip(labels, figs, strict=True)]
        spec = overlay([(lab, s) for lab, s in drawn if s is not None], opts)
        if spec is not None:
            charts.append(("tradeoff", spec))
    for p in common_params:
        for m in common_metrics:
            if len(charts) >= MAX_OVERLAYS:
                break
            specs = [(lab, f.against(m, p, opts)) for lab, f in zip(labels, figs, strict=True)]
            spec = overlay(specs, opts)
            if spec is not None:
                charts.append((f"{m}-vs-{p}", spec))
    return {
        "runs": runs,
        "labels": labels,
        "param_names": param_names,
        "metric_names": metric_names,
        "params": rows_params,
        "metrics": rows_metrics,
        "infos": figs[0].infos,
        "charts": charts,
    }


def add_routes(
    router: APIRouter,
    client: AccioClient,
    caches: model.Caches,
    render: Callable[..., HTMLResponse],
    get_run: Callable[[str], RunRecord | None],
    not_found: Callable[[Request, str], HTMLResponse],
) -> None:
    """Add ``GET /compare?runs=ID&runs=ID`` and ``GET /datasets/{digest}``."""

    @router.get("/compare", response_class=HTMLResponse)
    def compare_page(request: Request) -> Response:
        ids = list(dict.fromkeys(request.query_params.getlist("runs")))
        missing = [i for i in ids if get_run(i) is None]
        if missing:
            return not_found(request, f"run {missing[0]}")
        if not MIN_COMPARE <= len(ids) <= MAX_COMPARE:
            # fewer than two: pick the others among recent runs of the same workflow
            first = get_run(ids[0]) if ids else None
            candidates = (
                [
                    r
                    for r in client.runs(RunsFilter(workflow=first.workflow_id, limit=20))
                    if r.id != first.id
                ]
                if first is not None and len(ids) < MIN_COMPARE
                else []
            )
            return render(
                request,
                "compare.html",
                400 if len(ids) > MAX_COMPARE else 200,
                error=f"Choose {MIN_COMPARE} to {MAX_COMPARE} runs (got {len(ids)}).",
                chosen=first,
                candidates=candidates,
            )
        return render(request, "compare.html", **compare_context(client, caches, ids))

    @router.get("/datasets/{digest}", response_class=HTMLResponse)
    def dataset_page(request: Request, digest: str) -> Response:
        try:
            table = client.dataset(digest)
        except NotFoundError:
            return not_found(request, f"dataset {digest}")
        head = table.slice(0, PREVIEW_ROWS)
        return render(
            request,
            "dataset.html",
            digest=digest,
            n_rows=table.num_rows,
            schema=[(f.name, str(f.type)) for f in table.schema],
            columns=head.column_names,
            rows=[[_cell(v) for v in row.values()] for row in head.to_pylist()],
            preview=PREVIEW_ROWS,
            nbytes=table.nbytes,
        )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"  # a preview shows the data, not a plot label
    text = str(value) if value is not None else ""
    return text if len(text) <= 80 else text[:79] + "…"


__all__ = ["MAX_COMPARE", "MIN_COMPARE", "add_routes", "compare_context"]
