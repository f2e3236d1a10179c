"""The HTML routes of the UI (see the package docstring for the stack).

A route called by htmx (``HX-Request`` header) answers with the fragment it replaces; the same
URL opened directly answers with the whole page, so every state of a page has a URL.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from accio.client.contract import AccioClient
from accio.client.figures import FORMATS
from accio.client.figures import render as render_figure
from accio.errors import NotFoundError, UsageError
from accio.server.status import SchedulerCondition
from accio.server.ui import actions, agents, model, pages, plots
from accio.server.ui.graph import graph_svg
from accio.states import ALL_RUN_STATES, TERMINAL_NODE_STATES
from accio.storage.records import RunRecord, RunsFilter

LOG_LINES = 1000
FIGURE_TYPES = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("accio.server.ui", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship in the package: no stat() of four files per page
    )
    env.filters["when"] = model.when
    env.filters["duration"] = model.duration
    env.filters["short"] = lambda text: (text or "")[:8]
    env.globals["run_duration"] = model.run_duration
    env.globals["title"] = model.title
    env.globals["render_outputs"] = model.render_outputs
    env.globals["error_message"] = model.error_message
    env.globals["csrf_input"] = model.csrf_input
    env.globals["render_default"] = model.render_default
    return env


def _is_fragment(request: Request) -> bool:
    headers = request.headers
    return "hx-request" in headers and "hx-history-restore-request" not in headers


def _pages(total: int, offset: int, limit: int) -> dict[str, Any]:
    return {
        "total": total,
        "first": offset + 1 if total else 0,
        "last": min(offset + limit, total),
        "prev": offset // limit if offset > 0 else None,  # page numbers start at 1
        "next": offset // limit + 2 if offset + limit < total else None,
    }


def _offset(page: int, limit: int = model.PAGE_SIZE) -> int:
    return max(page - 1, 0) * limit


def make_router(
    client: AccioClient, condition: Callable[[], str | None] | None = None
) -> APIRouter:
    """The UI's pages over ``client`` (the app's client: one per app, tests build several);
    ``condition`` says why the scheduler paused, for the banner (default: ask the client)."""
    router = APIRouter(include_in_schema=False)
    templates = Jinja2Templates(env=_environment())
    templates.env.globals["render_constant"] = lambda op, port, value: model.render_constant(
        client.registry, op, port, value
    )
    caches = model.Caches()

    templates.env.globals["scheduler_condition"] = condition or SchedulerCondition(client, 0.0)

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    def not_found(request: Request, what: str) -> HTMLResponse:
        return render(request, "not_found.html", 404, what=what)

    def problem(request: Request, what: str, status: int = 400) -> Response:
        if status == 404:
            return not_found(request, what)
        return render(request, "not_found.html", status, what=what, message=what)

    def get_run(run_id: str) -> RunRecord | None:
        try:
            return client.run(run_id)
        except NotFoundError:
            return None

    # ------------------------------------------------------------------------- runs list
    @router.get("/", response_class=HTMLResponse)
    def runs_page(request: Request, q: str = "", state: str = "", page: int = 1) -> Response:
        page_no = max(page, 1)
        kwargs = model.parse_search(q)
        if state in ALL_RUN_STATES:
            kwargs["states"] = (state,)
        offset = _offset(page_no)
        f = RunsFilter(limit=model.PAGE_SIZE, offset=offset, **kwargs)
        runs = client.runs(f)
        total = client.count_runs(f)
        query = {k: v for k, v in (("q", q), ("state", state)) if v}
        context = {
            "runs": runs,
            "q": q,
            "state": state,
            "states": ALL_RUN_STATES,
            "pages": _pages(total, offset, model.PAGE_SIZE),
            "page_no": page_no,
            "query": urlencode(query),
        }
        name = "_runs_table.html" if _is_fragment(request) else "runs.html"
        return templates.TemplateResponse(request, name, context)

    # ------------------------------------------------------------------------- run detail
    def live_context(run: RunRecord) -> dict[str, Any]:
        workflow = caches.workflow(client, run.workflow_id, run.workflow_version)
        context: dict[str, Any] = {
            "run": run,
            "workflow": workflow,
            "finished": model.finished(run),
        }
        if run.is_parent:
            per_node = model.child_node_counts(client, run.id)
            context["child_counts"] = model.child_state_counts(client, run.id)
            context["per_node"] = per_node
            context["node_totals"] = model.node_totals(per_node)
            badges = model.parent_badges(per_node)
        else:
            nodes = client.nodes(run.id)
            context["nodes"] = nodes
            context["node_totals"] = model._ordered(
                {s: sum(1 for n in nodes if n.state == s) for s in {n.state for n in nodes}},
                tuple(n.state for n in nodes),
            )
            badges = model.node_badges(nodes)
        context["graph"] = (
            graph_svg(workflow, badges, href=f"/runs/{run.id}") if workflow is not None else None
        )
        return context

    def meta_context(run: RunRecord) -> dict[str, Any]:
        parent = get_run(run.parent_id) if run.parent_id else None
        return {"run": run, "parent": parent, "editable": parent or run}

    @router.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> Response:
        run = get_run(run_id)
        if run is None:
            return not_found(request, f"run {run_id}")
        context = {**live_context(run), **meta_context(run)}
        if run.is_parent:
            swept, constants, repeat = model.sweep_summary(client, run)
            context.update(swept=swept, params=constants, repeat=repeat)
            wanted = request.query_params.get("children", "1")
            context.update(children_context(run, int(wanted) if wanted.isdigit() else 1))
        else:
            context["params"] = model.render_params(run.params)
        return render(request, "run.html", **context)

    @router.get("/runs/{run_id}/live", response_class=HTMLResponse)
    def run_live(request: Request, run_id: str) -> Response:
        run = get_run(run_id)
        if run is None:
            return not_found(request, f"run {run_id}")
        response = render(request, "_live.html", **live_context(run))
        if model.finished(run) and request.query_params.get("was") == "running":
            response.headers["HX-Refresh"] = "true"  # show the final page once: plots, outputs
        return response

    def children_context(run: RunRecord, page_no: int) -> dict[str, Any]:
        offset = _offset(page_no)
        children = client.children(run.id, limit=model.PAGE_SIZE, offset=offset)
        return {
            "run": run,
            "children": children,
            "child_pages": _pages(run.n_children, offset, model.PAGE_SIZE),
            "child_page": page_no,
            "finished": model.finished(run),
        }

    @router.get("/runs/{run_id}/children", response_class=HTMLResponse)
    def run_children(request: Request, run_id: str, page: int = 1) -> Response:
        run = get_run(run_id)
        if run is None:
            return not_found(request, f"run {run_id}")
        if not _is_fragment(request):
            return RedirectResponse(f"/runs/{run_id}?children={page}#children", status_code=303)
        return templates.TemplateResponse(
            request, "_children.html", children_context(run, max(page, 1))
        )

    @router.get("/runs/{run_id}/nodes/{node}/logs", response_class=HTMLResponse)
    def node_logs(request: Request, run_id: str, node: str) -> Response:
        try:
            lines = client.logs(run_id, node, limit=LOG_LINES)
            state = client.node(run_id, node).state
        except NotFoundError:
            return not_found(request, f"node {node} of run {run_id}")
        return render(
            request,
            "_logs.html",
            run_id=run_id,
            node=node,
            lines=lines,
            limit=LOG_LINES,
            live=state not in TERMINAL_NODE_STATES,  # lines stream in while the node runs
        )

    @router.post("/runs/{run_id}/edit", response_class=HTMLResponse)
    async def run_edit(request: Request, run_id: str) -> Response:
        form = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)

        def field(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        tags_text = field("tags")
        tags = (
            [t.strip() for t in tags_text.replace("\n", ",").split(",") if t.strip()]
            if tags_text is not None
            else None
        )
        try:
            client.edit(run_id, name=field("name"), notes=field("notes"), tags=tags)
            run = client.run(run_id)
        except NotFoundError:
            return not_found(request, f"run {run_id}")
        if not _is_fragment(request):
            return RedirectResponse(f"/runs/{run_id}", status_code=303)
        return render(request, "_meta.html", **meta_context(run))

    # ------------------------------------------------------------------------- plots
    def figures(run: RunRecord) -> plots.Figures:
        return caches.figures(client, run)

    def plot_context(request: Request, run: RunRecord) -> dict[str, Any]:
        figs = figures(run)
        q = request.query_params
        pair = figs.pair(q.get("x"), q.get("y"))
        tradeoff = figs.tradeoff(*pair, plots.options(q, wide=True)) if pair else None
        return {
            "run": run,
            "data": figs.data,
            "infos": figs.infos,
            "tradeoff": tradeoff,
            "spec": tradeoff,
            "xm": pair[0] if pair else None,
            "ym": pair[1] if pair else None,
            "opts": plots.options(q),
            "sizes": plots.SIZES,
            "fonts": plots.FONT_SIZES,
            "log_choices": plots.LOG_CHOICES,
            "size": q.get("size", "medium"),
            "query": urlencode({k: v for k, v in q.items() if k in ("log", "size", "font")}),
        }

    @router.get("/runs/{run_id}/plots", response_class=HTMLResponse)
    def run_plots(request: Request, run_id: str) -> Response:
        run = get_run(run_id)
        if run is None:
            return not_found(request, f"run {run_id}")
        context = plot_context(request, run)
        figs = figures(run)
        context["charts"] = figs.grid(context["opts"])
        context["max_charts"] = plots.MAX_CHARTS
        return render(request, "_plots.html", **context)

    @router.get("/runs/{run_id}/plots/tradeoff", response_class=HTMLResponse)
    def run_tradeoff(request: Request, run_id: str) -> Response:
        run = get_run(run_id)
        if run is None:
            return not_found(request, f"run {run_id}")
        return render(request, "_tradeoff.html", **plot_context(request, run))

    @router.get("/runs/{run_id}/figure.{fmt}")
    def run_figure(request: Request, run_id: str, fmt: str) -> Response:
        """A figure as SVG, PNG or PDF drawn on the server from the page's spec (vl-convert)."""
        run = get_run(run_id)
        if run is None or fmt not in FORMATS:
            return not_found(request, f"figure of run {run_id} as {fmt}")
        figs = figures(run)
        q = request.query_params
        try:
            spec: dict[str, Any] | None
            if q.get("metric") and q.get("param"):
                spec = figs.against(q["metric"], q["param"], plots.options(q))
                stem = f"{q['metric'].replace('/', '-')}-vs-{q['param']}"
            else:
                spec = figs.tradeoff(q.get("x"), q.get("y"), plots.options(q, wide=True))
                stem = "tradeoff"
            if spec is None:
                return not_found(request, f"trade-off figure of run {run_id}")
            body = render_figure(spec, fmt)
        except UsageError as exc:
            return problem(request, str(exc), 400)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
        return Response(
            body,
            media_type=FIGURE_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{safe}.{fmt}"'},
        )

    @router.get("/runs/{run_id}/results.{fmt}")
    def run_results(request: Request, run_id: str, fmt: str) -> Response:
        run = get_run(run_id)
        if run is None or fmt not in ("csv", "parquet"):
            return not_found(request, f"results of run {run_id} as {fmt}")
        table = caches.results(client, run)
        out = io.BytesIO()
        if fmt == "csv":
            pa_csv.write_csv(_flat(table), out)
            media = "text/csv; charset=utf-8"
        else:
            pq.write_table(table, out)
            media = "application/vnd.apache.parquet"
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in model.title(run))
        return Response(
            out.getvalue(),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{stem}-results.{fmt}"'},
        )

    # ------------------------------------------------------------------------- workflows
    @router.get("/workflows", response_class=HTMLResponse)
    def workflows_page(request: Request, q: str = "", page: int = 1) -> Response:
        offset = _offset(page)
        records = client.workflows(text=q or None, limit=model.PAGE_SIZE + 1, offset=offset)
        more = len(records) > model.PAGE_SIZE
        records = records[: model.PAGE_SIZE]
        counts = {w.id: client.count_runs(RunsFilter(workflow=w.id)) for w in records}
        return render(
            request,
            "workflows.html",
            workflows=records,
            counts=counts,
            q=q,
            page_no=max(page, 1),
            more=more,
        )

    @router.get("/workflows/{wf_id}", response_class=HTMLResponse)
    def workflow_page(request: Request, wf_id: str, version: str | None = None) -> Response:
        try:
            record = client.workflow_record(wf_id if version is None else f"{wf_id}:{version}")
        except NotFoundError:
            return not_found(request, f"workflow {wf_id}")
        workflow = caches.workflow(client, record.id, record.version)
        versions = client.workflow_versions(wf_id)
        runs = client.runs(RunsFilter(workflow=wf_id, limit=10))
        definition = json.dumps(json.loads(record.definition), indent=2, ensure_ascii=False)
        return render(
            request,
            "workflow.html",
            record=record,
            workflow=workflow,
            graph=graph_svg(workflow) if workflow is not None else None,
            versions=versions,
            runs=runs,
            run_count=client.count_runs(RunsFilter(workflow=wf_id)),
            definition=definition,
        )

    actions.add_routes(router, client, get_run, problem)
    pages.add_routes(router, client, caches, render, get_run, not_found)
    agents.add_routes(router, client, render)
    return router


def _flat(table: pa.Table) -> pa.Table:
    """Nested columns (lists, structs) as JSON text: CSV has only scalars."""
    columns = []
    for column in table.columns:
        if pa.types.is_nested(column.type):
            values = [json.dumps(v, ensure_ascii=False) for v in column.to_pylist()]
            columns.append(pa.array(values, pa.string()))
        else:
            columns.append(column)
    return pa.table(columns, names=table.column_names)


__all__ = ["make_router"]
