"""The REST API of an Accio home (cli.md §3, the gateway's API, reshaped): everything the CLI does.

::

    from accio.server.app import create_app
    app = create_app()                      # $ACCIO_HOME; serve with accio.server.http

Routes live under ``/api/v1``; the schema is at ``/openapi.json`` and interactive docs at
``/docs``. Listings take ``page`` (from 1) and ``per_page`` and return ``total``. Every error
has the body ``{"errors": [{"file", "path", "message"}]}`` (see :mod:`accio.server.errors`).
Endpoints are plain functions, run by FastAPI in its thread pool: storage calls block.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import pyarrow as pa
from fastapi import APIRouter, Body, FastAPI, Path, Query
from fastapi.responses import PlainTextResponse, Response

from accio import __version__
from accio.client import export
from accio.client.client import Client, NodeExplanation
from accio.config import Settings
from accio.definitions.documents import workflow_from_document
from accio.definitions.load import split_workflow_spec
from accio.definitions.model import Constant, NodeRef, ParamRef, Workflow
from accio.errors import AccioError, DefinitionError, NotFoundError, UsageError
from accio.server import schemas as s
from accio.server.errors import ERROR_RESPONSES, ApiError, install_error_handlers
from accio.storage.records import (
    UNFINISHED_RUN_STATES,
    LogStream,
    RunRecord,
    RunsFilter,
    WorkflowRecord,
)
from accio.values.render import render

log = logging.getLogger("accio.server")

API_PREFIX = "/api/v1"
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
_TABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON rows, or a CSV/Parquet file with ?format=csv|parquet",
        "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
    }
}

PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="items per page")]
RunId = Annotated[str, Path(description="a run id")]
NodeName = Annotated[str, Path(description="a node name")]
Outputs = Annotated[
    list[str] | None,
    Query(description="only these outputs: Node/port or Node, repeated or comma-separated"),
]
T = TypeVar("T")


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    """The API (and the web UI when :mod:`accio.server.ui` is installed) over one Accio home.

    Without ``client``, one is opened on ``settings`` (default: the environment) and closed
    when the app shuts down; a given client stays the caller's.
    """
    owned = client is None
    if client is None:
        client = Client(settings=settings or Settings.from_env())
    client.runtime  # noqa: B018 - open storage now: lazy opening from pool threads would race

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            client.close()

    app = FastAPI(
        title="Accio",
        version=__version__,
        description="Typed workflows, parameter sweeps, seeds and memoized results.",
        lifespan=lifespan,
    )
    app.state.client = client
    install_error_handlers(app)
    app.include_router(_api(client), prefix=API_PREFIX)

    @app.get("/health", tags=["meta"], responses=ERROR_RESPONSES)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    _install_ui(app, client)
    return app


def _install_ui(app: FastAPI, client: Client) -> None:
    try:
        from accio.server.ui import install
    except ImportError as exc:  # the web UI is optional: the API works without it
        log.info("web UI not installed: %s", exc)
        return
    install(app, client)


# -- helpers ---------------------------------------------------------------------------------


def _paged(items: Sequence[T], page: int, per_page: int) -> list[T]:
    start = (page - 1) * per_page
    return list(items[start : start + per_page])


def _split_list(values: Iterable[str] | None) -> list[str]:
    """``?tag=a&tag=b`` and ``?tag=a,b`` alike."""
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def _json_safe(value: Any) -> Any:
    """A cell as strict JSON: NaN and infinities become null, bytes hex, other objects text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return str(value)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    """Table rows as JSON-safe dicts (datasets may hold NaN, binary or nested columns)."""
    return [{str(k): _json_safe(v) for k, v in row.items()} for row in table.to_pylist()]


def _table_response(
    table: pa.Table, fmt: s.TableFormat, page: int, per_page: int, filename: str
) -> s.ResultsOut | Response:
    if fmt != "json":
        return Response(
            content=export.table_bytes(table, fmt),
            media_type=_MEDIA[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt}"'},
        )
    start = (page - 1) * per_page
    window = table.slice(start, per_page) if start < len(table) else table.slice(0, 0)
    return s.ResultsOut(
        columns=table.column_names,
        params=export.param_columns(table),
        rows=_rows(window),
        total=len(table),
        page=page,
        per_page=per_page,
    )


def _as_field_error(path: str, call: Callable[[], T]) -> T:
    """Run ``call``; a UsageError about a request field becomes a 422 naming that field."""
    try:
        return call()
    except UsageError as exc:
        raise ApiError.field(422, path, str(exc)) from None


def _explanation(run_id: str, e: NodeExplanation) -> s.ExplanationOut:
    return s.ExplanationOut(
        run_id=run_id,
        node=e.node,
        op=e.op,
        state=e.state,
        verdict=e.verdict,
        source_run=e.source_run,
        differences=list(e.differences),
        compared_with=e.compared_with,
        detail=json.loads(json.dumps(e.detail, default=str)),
    )


def _input_text(workflow: Workflow, client: Client, node_name: str, port: str) -> str:
    node = next(n for n in workflow.nodes if n.name == node_name)
    source = node.inputs[port]
    if isinstance(source, NodeRef):
        return str(source)
    if isinstance(source, ParamRef):
        return f"${source.name}"
    assert isinstance(source, Constant)
    spec = client.registry.get(node.op)
    declared = spec.input(port) if spec is not None else None
    try:
        if declared is not None:
            return render(declared.dtype, source.value)
    except AccioError:
        pass
    return json.dumps(source.value, default=str)


# -- routes ----------------------------------------------------------------------------------


def _api(client: Client) -> APIRouter:
    """Every route, closed over the client (one client per app: tests build several apps)."""
    router = APIRouter(responses=ERROR_RESPONSES)
    lock = threading.RLock()  # writes that replay runs in-process must not interleave

    @router.get("", tags=["meta"], summary="Server name and version")
    def version() -> s.VersionOut:
        return s.VersionOut(version=__version__)

    # -- operators ---------------------------------------------------------------------------

    @router.get("/operators", tags=["operators"], summary="List operators")
    def list_operators(
        include_deprecated: bool = False,
        category: Annotated[str | None, Query(max_length=200)] = None,
        q: Annotated[str | None, Query(max_length=200, description="substring of name")] = None,
        page: PageNo = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> s.Page[s.OperatorOut]:
        specs = sorted(client.registry, key=lambda o: (o.category, o.name))
        specs = [
            o
            for o in specs
            if (include_deprecated or not o.deprecation)
            and (category is None or o.category == category)
            and (not q or q.lower() in o.name.lower())
        ]
        items = [s.OperatorOut.model_validate(o.describe()) for o in _paged(specs, page, per_page)]
        return s.Page(items=items, total=len(specs), page=page, per_page=per_page)

    @router.get("/operators/{name}", tags=["operators"], summary="Describe an operator")
    def get_operator(name: Annotated[str, Path()]) -> s.OperatorOut:
        spec = client.registry.get(name)
        if spec is None:
            raise NotFoundError(f"no operator {name!r}{client.registry.suggest(name)}")
        return s.OperatorOut.model_validate(spec.describe())

    # -- workflows ---------------------------------------------------------------------------

    @router.get("/workflows", tags=["workflows"], summary="List workflows, newest first")
    def list_workflows(
        owner: Annotated[str | None, Query(max_length=200)] = None,
        q: Annotated[str | None, Query(max_length=200, description="substring of id/name")] = None,
        include_inactive: bool = False,
        page: PageNo = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> s.Page[s.WorkflowOut]:
        records = client.storage.list_workflows(
            owner=owner, text=q, limit=2**31 - 1, include_inactive=include_inactive
        )
        items = [s.workflow_out(r) for r in _paged(records, page, per_page)]
        return s.Page(items=items, total=len(records), page=page, per_page=per_page)

    def _record(spec: str) -> WorkflowRecord:
        wf_id, version = split_workflow_spec(spec)
        if version is None:
            return client.storage.get_workflow(wf_id)
        matches = [
            r for r in client.storage.workflow_versions(wf_id) if r.version.startswith(version)
        ]
        if len(matches) != 1:
            raise NotFoundError(f"workflow {spec} not found")
        return matches[0]

    @router.get(
        "/workflows/{spec}",
        tags=["workflows"],
        summary="Describe a workflow: id (active version) or id:version (a unique prefix works)",
    )
    def get_workflow(spec: Annotated[str, Path()]) -> s.WorkflowDetailOut:
        record = _record(spec)
        definition = json.loads(record.definition)
        params: list[s.WorkflowParamOut] = []
        nodes: list[s.WorkflowNodeOut] = []
        try:
            workflow, _ = workflow_from_document(definition, client.registry)
        except AccioError:  # e.g. its operators are not installed here: show the raw document
            workflow = None
        if workflow is not None:
            from accio.values.canonical import to_canonical

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
                    inputs={p: _input_text(workflow, client, n.name, p) for p in n.inputs},
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

    @router.get("/workflows/{id}/versions", tags=["workflows"], summary="Versions, newest first")
    def workflow_versions(
        id: Annotated[str, Path()],
        page: PageNo = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> s.Page[s.WorkflowOut]:
        records = client.storage.workflow_versions(id)
        if not records:
            raise NotFoundError(f"no workflow {id!r}")
        items = [s.workflow_out(r) for r in _paged(records, page, per_page)]
        return s.Page(items=items, total=len(records), page=page, per_page=per_page)

    def _push(document: dict[str, Any]) -> s.PushOut:
        _, warnings = workflow_from_document(document, client.registry)
        with lock:
            record, new = client.push(document)
        return s.PushOut(
            id=record.id, version=record.version, new=new, warnings=s.problem_items(warnings)
        )

    @router.post(
        "/workflows",
        tags=["workflows"],
        status_code=201,
        summary="Validate a workflow definition and store it as the active version",
    )
    def push_workflow(document: Annotated[dict[str, Any], Body()]) -> s.PushOut:
        return _push(document)

    @router.post(
        "/workflows/{id}",
        tags=["workflows"],
        status_code=201,
        summary="Push a workflow under this id (the body's id, if any, must match)",
    )
    def push_workflow_id(
        id: Annotated[str, Path()], document: Annotated[dict[str, Any], Body()]
    ) -> s.PushOut:
        if "id" in document and document["id"] != id:
            raise ApiError.field(422, "body.id", f"the body's id {document['id']!r} is not {id!r}")
        return _push({**document, "id": id})

    @router.post(
        "/validate",
        tags=["workflows"],
        summary="Validate a workflow or run definition without storing anything",
    )
    def validate_definition(document: Annotated[dict[str, Any], Body()]) -> s.ValidateOut:
        kind: Any = "run" if "workflow" in document else "workflow"
        try:
            if kind == "run":
                sweep, warnings = client.prepare(document)
                return s.ValidateOut(
                    kind=kind,
                    valid=True,
                    warnings=s.problem_items(warnings),
                    children=len(sweep),
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

    # -- runs --------------------------------------------------------------------------------

    def _run(run_id: str) -> RunRecord:
        return client.run(run_id)

    @router.get("/runs", tags=["runs"], summary="List runs, newest first")
    def list_runs(
        workflow: Annotated[str | None, Query(max_length=200)] = None,
        tag: Annotated[
            list[str] | None, Query(description="the run carries all of them", max_length=200)
        ] = None,
        owner: Annotated[str | None, Query(max_length=200)] = None,
        state: Annotated[list[s.RunStateName] | None, Query(description="any of them")] = None,
        q: Annotated[
            str | None, Query(max_length=500, description="words of name/notes/tags")
        ] = None,
        parent: Annotated[str | None, Query(max_length=200, description="children of")] = None,
        page: PageNo = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> s.Page[s.RunOut]:
        if parent is not None:
            _run(parent)  # 404 for an unknown parent, not an empty page
        f = RunsFilter(
            workflow=workflow,
            tags=tuple(_split_list(tag)),
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

    @router.post(
        "/runs",
        tags=["runs"],
        status_code=201,
        summary="Submit a run definition (with overrides); a sweep creates a parent and children",
    )
    def submit_run(submission: s.RunSubmission) -> s.SubmitOut:
        with lock:
            sub = client.submit(
                submission.definition,
                params=submission.params,
                name=submission.name,
                notes=submission.notes,
                tags=submission.tags,
                repeat=submission.repeat,
                seed=submission.seed,
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

    @router.get("/runs/{run_id}", tags=["runs"], summary="Describe a run")
    def get_run(run_id: RunId) -> s.RunDetailOut:
        run = _run(run_id)
        detail = s.RunDetailOut(**s.run_out(run).model_dump())
        if run.is_parent:
            children = client.children(run.id)
            detail.child_counts = dict(Counter(c.state for c in children))
            values: dict[str, list[str]] = {}
            for child in children:
                for name, typed in s.typed_values(child.params).items():
                    seen = values.setdefault(name, [])
                    if typed.text not in seen:
                        seen.append(typed.text)
            detail.param_values = values
            starts = [c.started for c in children if c.started is not None]
            if detail.started is None and starts:
                detail.started = min(starts)
        else:
            detail.node_counts = dict(Counter(n.state for n in client.nodes(run.id)))
            detail.param_values = {k: [v.text] for k, v in detail.params.items()}
        return detail

    def _edit(run_id: str, edit: s.MetadataEdit) -> s.RunOut:
        run = _run(run_id)
        target = run.parent_id or run.id  # children share their parent's metadata
        with lock:
            edited = client.edit(target, name=edit.name, notes=edit.notes, tags=edit.tags)
        return s.run_out(edited)

    @router.patch(
        "/runs/{run_id}",
        tags=["runs"],
        summary="Edit name, notes or tags (a child's id edits its parent, which is returned)",
    )
    def patch_run(run_id: RunId, edit: s.MetadataEdit) -> s.RunOut:
        return _edit(run_id, edit)

    @router.post("/runs/{run_id}", tags=["runs"], summary="Edit metadata (as PATCH)")
    def post_run(run_id: RunId, edit: s.MetadataEdit) -> s.RunOut:
        return _edit(run_id, edit)

    @router.post("/runs/{run_id}/kill", tags=["runs"], summary="Kill a run (a parent: all)")
    def kill_run(run_id: RunId) -> s.KillOut:
        run = _run(run_id)
        if run.state not in UNFINISHED_RUN_STATES:
            return s.KillOut(killed=[], already_finished=[run.id])
        with lock:
            client.kill([run.id])
        return s.KillOut(killed=[run.id], already_finished=[])

    @router.delete("/runs/{run_id}", tags=["runs"], summary="Delete a run, its nodes and logs")
    def delete_run(run_id: RunId) -> s.DeleteOut:
        run = _run(run_id)
        with lock:
            deleted = client.delete([run.id])
        return s.DeleteOut(deleted=deleted)

    @router.get("/runs/{run_id}/children", tags=["runs"], summary="Children of a sweep parent")
    def list_children(
        run_id: RunId,
        state: Annotated[list[s.RunStateName] | None, Query()] = None,
        page: PageNo = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> s.Page[s.RunOut]:
        run = _run(run_id)
        f = RunsFilter(
            parent_id=run.id,
            states=tuple(state or ()),
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        if state:
            items, total = client.runs(f), client.count_runs(f)
        else:
            offset = (page - 1) * per_page
            items, total = client.children(run.id, limit=per_page, offset=offset), run.n_children
        return s.Page(
            items=[s.run_out(r) for r in items], total=total, page=page, per_page=per_page
        )

    # -- nodes -------------------------------------------------------------------------------

    @router.get(
        "/runs/{run_id}/nodes",
        tags=["nodes"],
        summary="Nodes of a run in topological order: state, cache source, duration",
    )
    def list_nodes(
        run_id: RunId, page: PageNo = 1, per_page: PerPage = DEFAULT_PER_PAGE
    ) -> s.Page[s.NodeOut]:
        nodes = sorted(client.nodes(_run(run_id).id), key=lambda n: n.position)
        items = [s.node_out(n) for n in _paged(nodes, page, per_page)]
        return s.Page(items=items, total=len(nodes), page=page, per_page=per_page)

    @router.get("/runs/{run_id}/nodes/{node}", tags=["nodes"], summary="Describe a node")
    def get_node(run_id: RunId, node: NodeName) -> s.NodeDetailOut:
        return s.node_detail_out(client.node(_run(run_id).id, node))

    @router.get("/runs/{run_id}/nodes/{node}/outputs", tags=["nodes"], summary="Outputs of a node")
    def node_outputs(run_id: RunId, node: NodeName) -> dict[str, s.TypedValueOut]:
        return s.typed_values(client.node(_run(run_id).id, node).outputs)

    @router.get(
        "/runs/{run_id}/nodes/{node}/logs",
        tags=["nodes"],
        summary="Log lines of a node, oldest first",
        response_model=s.Page[s.LogLineOut],
        responses={200: {"content": {"text/plain": {}}}},
    )
    def node_logs(
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
        lines = client.logs(_run(run_id).id, node, streams=streams, limit=tail, since=since)
        if download:
            return PlainTextResponse(
                "".join(f"{x.line}\n" for x in lines),
                headers={"Content-Disposition": f'attachment; filename="{run_id}-{node}.log"'},
            )
        items = [s.LogLineOut(ts=x.ts, stream=x.stream, line=x.line) for x in lines]
        return s.Page(items=items, total=len(items), page=1, per_page=max(1, len(items)))

    @router.get(
        "/runs/{run_id}/explain",
        tags=["nodes"],
        summary="Why each node ran or was a cache hit (a parent: its children, paged)",
    )
    def explain(
        run_id: RunId,
        node: Annotated[str | None, Query(max_length=500)] = None,
        page: PageNo = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> s.Page[s.ExplanationOut]:
        run = _run(run_id)
        if run.is_parent:
            offset = (page - 1) * per_page
            targets = client.children(run.id, limit=per_page, offset=offset)
            total = run.n_children
        else:
            targets, total = ([run] if page == 1 else []), 1
        items = [_explanation(r.id, e) for r in targets for e in client.explain(r.id, node)]
        return s.Page(items=items, total=total, page=page, per_page=per_page)

    # -- results -----------------------------------------------------------------------------

    def _long(run_id: str, outputs: list[str] | None) -> pa.Table:
        run = _run(run_id)
        selection = _split_list(outputs) if outputs else None
        return _as_field_error(
            "query.outputs", lambda: export.long_results(client, run.id, selection)
        )

    @router.get(
        "/runs/{run_id}/results",
        tags=["results"],
        summary="Every output value of a run's children, as a long table",
        response_model=s.ResultsOut,
        responses=_TABLE_RESPONSES,
    )
    def results(
        run_id: RunId,
        outputs: Outputs = None,
        format: s.TableFormat = "json",
        page: PageNo = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> s.ResultsOut | Response:
        table = _long(run_id, outputs)
        return _table_response(table, format, page, per_page, f"{run_id}-results")

    @router.get(
        "/runs/{run_id}/aggregate",
        tags=["results"],
        summary="Mean, std, 95 % CI and count of numeric outputs over repeats",
        response_model=s.ResultsOut,
        responses=_TABLE_RESPONSES,
    )
    def aggregate(
        run_id: RunId,
        by: Annotated[
            list[str] | None, Query(description="group by these parameters (default: all)")
        ] = None,
        outputs: Outputs = None,
        format: s.TableFormat = "json",
        page: PageNo = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> s.ResultsOut | Response:
        table = _long(run_id, outputs)
        keys = _split_list(by) if by else None
        stats = _as_field_error("query.by", lambda: export.aggregate(table, keys))
        return _table_response(stats, format, page, per_page, f"{run_id}-aggregate")

    @router.get(
        "/runs/{run_id}/validation",
        tags=["results"],
        summary="Children that are missing or did not succeed",
    )
    def validation(run_id: RunId) -> s.ValidationOut:
        return s.ValidationOut.model_validate(
            export.validation_json(export.validate(client, _run(run_id).id))
        )

    @router.get(
        "/datasets/{digest}",
        tags=["results"],
        summary="A dataset output (by digest) as JSON rows, CSV or Parquet",
        response_model=s.ResultsOut,
        responses=_TABLE_RESPONSES,
    )
    def dataset(
        digest: Annotated[str, Path()],
        format: s.TableFormat = "parquet",
        page: PageNo = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> s.ResultsOut | Response:
        store = client.runtime.artifacts
        if not _DIGEST.match(digest) or not store.exists(digest):
            raise NotFoundError(f"no dataset {digest}")
        table = store.get_table(digest)
        return _table_response(table, format, page, per_page, digest[:12])

    @router.post(
        "/gc", tags=["results"], summary="Delete artifacts no run or cache entry refers to"
    )
    def gc() -> s.GcOut:
        with lock:
            files, size = client.gc()
        return s.GcOut(files=files, bytes=size)

    return router
