"""The Python API against a remote Accio server, over its REST API (``/api/v1``).

::

    from accio.client.remote import RemoteClient
    client = RemoteClient("http://host:8642")     # the CLI does this when $ACCIO_SERVER is set
    client.push("workflow.json")
    sub = client.submit("sweep.json", repeat=2)
    client.wait(sub.run_id)
    table = client.results(sub.run_id)            # pyarrow.Table: the server's long results table

Method names and return types follow :class:`accio.client.client.Client` for everything the CLI
uses; API errors come back as the same :class:`~accio.errors.AccioError` subclasses (404 ->
NotFoundError, 422 -> DefinitionError with its problems, 400 -> UsageError, 409 ->
RuntimeFailure). The server runs the scheduler, so ``scheduler_running()`` is always true.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import httpx

from accio.client.client import NodeExplanation, Submission
from accio.definitions.load import read_json_file, workflow_id_from_path
from accio.definitions.model import Range, RunDef, Single, Values, Workflow
from accio.engine.states import TERMINAL_RUN_STATES
from accio.errors import (
    AccioError,
    DefinitionError,
    NotFoundError,
    Problem,
    RuntimeFailure,
    Severity,
    UsageError,
)
from accio.storage.records import (
    LogLine,
    LogStream,
    NodeRecord,
    NodeState,
    RunRecord,
    RunsFilter,
    RunState,
    WorkflowRecord,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from accio.ops.registry import OperatorRegistry

API_PREFIX = "/api/v1"
#: The server's largest page (``per_page``); longer listings take several requests.
MAX_PER_PAGE = 500
_LOG_FLAG = {"e": "log", "2": "log2", "10": "log10"}


class RemoteClient:
    """A client of a remote Accio server: what :class:`~accio.client.client.Client` does on a
    local home, through HTTP. Nothing is stored or executed locally."""

    def __init__(self, base_url: str, *, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + API_PREFIX, timeout=timeout)
        self._registry: OperatorRegistry | None = None
        self.runtime = _RemoteRuntime(self)

    # ----------------------------------------------------------------- plumbing
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def registry(self) -> OperatorRegistry:
        """The operators installed here (used to read workflow definitions locally)."""
        if self._registry is None:
            from accio.ops.registry import default_registry

            self._registry = default_registry()
        return self._registry

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        file: str | None = None,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method,
                url,
                params={k: v for k, v in (params or {}).items() if v is not None},
                json=body,
            )
        except httpx.HTTPError as exc:
            raise AccioError(f"cannot reach the Accio server at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise _error(response, file)
        return response

    def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self._request(method, url, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise AccioError(
                f"the Accio server at {self.base_url} sent an invalid response to {url}"
            ) from None

    def _pages(
        self, url: str, params: Mapping[str, Any], limit: int | None, offset: int
    ) -> Iterator[dict[str, Any]]:
        """Items of a paged listing from ``offset``, at most ``limit`` of them."""
        per_page = MAX_PER_PAGE
        page, skip = offset // per_page + 1, offset % per_page
        left = limit
        while left is None or left > 0:
            data = self._json("GET", url, params={**params, "page": page, "per_page": per_page})
            items: list[dict[str, Any]] = data["items"][skip:]
            yield from items[:left] if left is not None else items
            if left is not None:
                left -= len(items)
            if page * per_page >= int(data["total"]) or not data["items"]:
                return
            page, skip = page + 1, 0

    # ----------------------------------------------------------------- workflows
    def push(self, source: str | Path | Mapping[str, Any]) -> tuple[WorkflowRecord, bool]:
        """Validate and store a workflow on the server; returns (record, is_new)."""
        file: str | None = None
        if isinstance(source, Mapping):
            document = dict(source)
        else:
            file = str(source)
            raw = read_json_file(source)
            if not isinstance(raw, dict):
                raise DefinitionError([Problem("", "expected a workflow object", file)])
            document = {"id": workflow_id_from_path(source), **raw}
        url = f"/workflows/{_quote(document['id'])}" if "id" in document else "/workflows"
        pushed = self._json("POST", url, body=document, file=file)
        record = self._workflow_record(f"{pushed['id']}:{pushed['version']}")
        return record, bool(pushed["new"])

    def _workflow_record(self, spec: str) -> WorkflowRecord:
        data = self._json("GET", f"/workflows/{_quote(spec)}")
        return _workflow_record(data, data.get("definition", {}))

    def workflow(self, spec: str) -> Workflow:
        """A pushed workflow by ``id`` or ``id:version``, read with the local operators."""
        from accio.definitions.documents import workflow_from_document

        data = self._json("GET", f"/workflows/{_quote(spec)}")
        workflow, _ = workflow_from_document(data["definition"], self.registry)
        return workflow

    # ----------------------------------------------------------------- runs
    def submit(
        self,
        run: RunDef | str | Path | Mapping[str, Any],
        *,
        start: bool | None = None,
        workflow_file: str | Path | None = None,
        params: Mapping[str, Any] | None = None,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] = (),
        repeat: int | None = None,
        seed: int | None = None,
    ) -> Submission:
        """Create a run (or a sweep parent and children) on the server; ``start`` is ignored:
        the server's scheduler runs it."""
        del start
        file: str | None = None
        text_params: dict[str, Any] = {}
        if isinstance(run, RunDef):
            file = run.file
            errors = [p for p in run.problems if p.severity == "error"]
            if errors:
                raise DefinitionError(run.problems)
            document, text_params = _run_document(run)
        elif isinstance(run, Mapping):
            document = dict(run)
        else:
            file = str(run)
            raw = read_json_file(run)
            document = raw if isinstance(raw, dict) else {"workflow": raw}
        if workflow_file is not None:
            record, _ = self.push(workflow_file)
            document["workflow"] = f"{record.id}:{record.version}"
        body = {
            "definition": document,
            "params": {**text_params, **(params or {})},
            "name": name,
            "notes": notes,
            "tags": list(tags),
            "repeat": repeat,
            "seed": seed,
        }
        data = self._json("POST", "/runs", body=body, file=file)
        return Submission(
            run_id=data["run_id"],
            child_ids=tuple(data["child_ids"]),
            workflow=Workflow(id=data["workflow_id"], version=data["workflow_version"], nodes=()),
            seed=int(data["seed"]),
            seed_given=bool(data["seed_given"]),
            warnings=tuple(_problems(data.get("warnings", []), file, "warning")),
        )

    def run(self, run_id: str) -> RunRecord:
        return _run_record(self._json("GET", f"/runs/{_quote(run_id)}"))

    def runs(self, f: RunsFilter | None = None, **kwargs: Any) -> list[RunRecord]:
        f = f or RunsFilter(**kwargs)
        items = self._pages("/runs", _filter_params(f), f.limit, f.offset)
        return [_run_record(item) for item in items]

    def count_runs(self, f: RunsFilter | None = None, **kwargs: Any) -> int:
        f = f or RunsFilter(**kwargs)
        data = self._json("GET", "/runs", params={**_filter_params(f), "per_page": 1})
        return int(data["total"])

    def children(self, run_id: str, limit: int | None = None, offset: int = 0) -> list[RunRecord]:
        items = self._pages(f"/runs/{_quote(run_id)}/children", {}, limit, offset)
        return [_run_record(item) for item in items]

    def nodes(self, run_id: str) -> list[NodeRecord]:
        """Every node of a run, with the outputs of those that have some."""
        listed = list(self._pages(f"/runs/{_quote(run_id)}/nodes", {}, None, 0))
        return [
            self.node(run_id, n["name"])
            if n["state"] in ("success", "cached")
            else _node_record(n)
            for n in listed
        ]

    def node(self, run_id: str, name: str) -> NodeRecord:
        return _node_record(self._json("GET", f"/runs/{_quote(run_id)}/nodes/{_quote(name)}"))

    def edit(
        self,
        run_id: str,
        *,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> RunRecord:
        """Edit metadata; a child's id edits its parent (which is returned)."""
        body: dict[str, Any] = {"name": name, "notes": notes}
        body["tags"] = list(tags) if tags is not None else None
        return _run_record(self._json("PATCH", f"/runs/{_quote(run_id)}", body=body))

    def logs(
        self,
        run_id: str,
        node: str,
        *,
        streams: Sequence[LogStream] = ("stdout", "stderr"),
        limit: int | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        url = f"/runs/{_quote(run_id)}/nodes/{_quote(node)}/logs"
        params = {"stream": list(streams), "tail": limit, "since": since}
        data = self._json("GET", url, params=params)
        return [
            LogLine(run_id, node, float(x["ts"]), cast(LogStream, x["stream"]), x["line"])
            for x in data["items"]
        ]

    # ----------------------------------------------------------------- execution control
    def scheduler_running(self) -> bool:
        """The server runs the scheduler."""
        return True

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.1,
        on_progress: Callable[[RunRecord], None] | None = None,
    ) -> RunRecord:
        """Poll the run until it is finished."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            record = self.run(run_id)
            if on_progress is not None:
                on_progress(record)
            if record.state in TERMINAL_RUN_STATES:
                return record
            if deadline is not None and time.time() > deadline:
                raise RuntimeFailure(f"run {run_id} did not finish within {timeout} s")
            time.sleep(poll)

    def kill(self, run_ids: Sequence[str]) -> None:
        records = [self.run(r) for r in run_ids]  # NotFoundError before killing any
        for record in records:
            self._json("POST", f"/runs/{_quote(record.id)}/kill")

    def delete(self, run_ids: Sequence[str]) -> list[str]:
        records = [self.run(r) for r in run_ids]
        deleted: list[str] = []
        for record in records:
            data = self._json("DELETE", f"/runs/{_quote(record.id)}")
            deleted.extend(data["deleted"])
        return deleted

    # ----------------------------------------------------------------- results
    def results(self, run_id: str) -> pa.Table:
        """The server's long results table (one row per output value, see
        :func:`accio.client.export.long_results`), fetched as Parquet."""
        import pyarrow.parquet as pq

        response = self._request(
            "GET", f"/runs/{_quote(run_id)}/results", params={"format": "parquet"}
        )
        return pq.read_table(io.BytesIO(response.content))

    def explain(self, run_id: str, node: str | None = None) -> list[NodeExplanation]:
        """Per node of a run: cache hit or what changed (a parent: its children's nodes)."""
        items = self._pages(f"/runs/{_quote(run_id)}/explain", {"node": node}, None, 0)
        return [
            NodeExplanation(
                node=e["node"],
                op=e["op"],
                state=e["state"],
                verdict=e["verdict"],
                source_run=e.get("source_run"),
                differences=tuple(e.get("differences", ())),
                compared_with=e.get("compared_with"),
                detail=dict(e.get("detail") or {}),
            )
            for e in items
        ]

    def gc(self) -> tuple[int, int]:
        """Delete unreferenced artifacts on the server; returns (files, bytes)."""
        data = self._json("POST", "/gc")
        return int(data["files"]), int(data["bytes"])

    # ----------------------------------------------------------------- not available remotely
    def execute(self, *args: Any, **kwargs: Any) -> None:
        raise UsageError("not supported against a remote server: execute (the server runs runs)")

    def prepare(self, *args: Any, **kwargs: Any) -> Any:
        raise UsageError("not supported against a remote server: prepare")


class _RemoteStorage:
    """The few storage reads the CLI makes directly (``client.runtime.storage``)."""

    def __init__(self, client: RemoteClient) -> None:
        self._client = client

    def node_state_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for run_id in run_ids:
            data = self._client._json("GET", f"/runs/{_quote(run_id)}")
            counts[run_id] = {str(k): int(v) for k, v in data.get("node_counts", {}).items()}
        return counts

    def list_workflows(
        self,
        owner: str | None = None,
        text: str | None = None,
        limit: int = 50,
        include_inactive: bool = False,
    ) -> list[WorkflowRecord]:
        params = {"owner": owner, "q": text, "include_inactive": include_inactive}
        items = self._client._pages("/workflows", params, limit, 0)
        return [_workflow_record(item, None) for item in items]

    def get_workflow(self, wf_id: str, version: str | None = None) -> WorkflowRecord:
        spec = wf_id if version is None else f"{wf_id}:{version}"
        return self._client._workflow_record(spec)


class _RemoteRuntime:
    """Stands in for :class:`~accio.engine.runtime.Runtime`: only ``storage`` reads."""

    def __init__(self, client: RemoteClient) -> None:
        self.storage = _RemoteStorage(client)


# -- conversions -----------------------------------------------------------------------------


def _quote(part: str) -> str:
    return quote(part, safe="")


def _error(response: httpx.Response, file: str | None) -> AccioError:
    """An API error response as the AccioError the local client would have raised."""
    try:
        body = response.json()
        items = [i for i in body.get("errors", []) if isinstance(i, dict)]
        warnings = [i for i in body.get("warnings", []) if isinstance(i, dict)]
    except (ValueError, AttributeError):
        items, warnings = [], []
    messages = [str(i.get("message", "")) for i in items] or [response.reason_phrase]
    text = "; ".join(messages)
    status = response.status_code
    if status == 404:
        return NotFoundError(text)
    if status == 422:
        problems = _problems(items, file, "error") + _problems(warnings, file, "warning")
        return DefinitionError(problems or [Problem("", text, file)])
    if status == 400:
        return UsageError(text)
    if status == 409:
        return RuntimeFailure(text)
    return AccioError(f"the Accio server answered {status}: {text}")


def _problems(
    items: Sequence[Mapping[str, Any]], file: str | None, severity: Severity
) -> list[Problem]:
    return [
        Problem(
            str(i.get("path") or ""),
            str(i.get("message", "")),
            i.get("file") or file,
            severity,
        )
        for i in items
    ]


def _filter_params(f: RunsFilter) -> dict[str, Any]:
    if f.parent_id is None and not f.top_level_only:
        raise UsageError("not supported against a remote server: listing all runs with children")
    return {
        "workflow": f.workflow,
        "tag": list(f.tags) or None,
        "owner": f.owner,
        "state": list(f.states) or None,
        "q": f.text,
        "parent": f.parent_id,
    }


def _typed_json(values: Mapping[str, Any] | None) -> str:
    typed = {k: {"type": v["type"], "value": v.get("value")} for k, v in (values or {}).items()}
    return json.dumps(typed, ensure_ascii=False, separators=(",", ":"))


def _run_record(d: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        id=d["id"],
        parent_id=d.get("parent_id"),
        workflow_id=d["workflow_id"],
        workflow_version=d["workflow_version"],
        name=d.get("name"),
        notes=d.get("notes"),
        tags=tuple(d.get("tags", ())),
        owner=d["owner"],
        created=float(d["created"]),
        seed=int(d["seed"]),
        params=_typed_json(d.get("params")),
        repeat_index=int(d["repeat_index"]),
        child_index=d.get("child_index"),
        state=cast(RunState, d["state"]),
        started=d.get("started"),
        completed=d.get("completed"),
        n_children=int(d["n_children"]),
        progress=float(d.get("progress", 0.0)),
    )


def _node_record(d: Mapping[str, Any]) -> NodeRecord:
    error = d.get("error")
    outputs = d.get("outputs")
    return NodeRecord(
        run_id=d["run_id"],
        name=d["name"],
        op=d["op"],
        state=cast(NodeState, d["state"]),
        cache_key=d.get("cache_key"),
        seed=d.get("seed"),
        attempts=int(d.get("attempts", 0)),
        queued_at=d.get("queued_at"),
        started=d.get("started"),
        completed=d.get("completed"),
        error=None if error is None else json.dumps(error, ensure_ascii=False),
        outputs=_typed_json(outputs) if outputs else None,
        cache_source=d.get("cache_source"),
        position=int(d.get("position", 0)),
    )


def _workflow_record(d: Mapping[str, Any], definition: Any) -> WorkflowRecord:
    return WorkflowRecord(
        id=d["id"],
        version=d["version"],
        definition=json.dumps(definition if definition is not None else {}, ensure_ascii=False),
        name=d.get("name"),
        owner=d.get("owner"),
        created=float(d["created"]),
        active=bool(d["active"]),
    )


def _run_document(run: RunDef) -> tuple[dict[str, Any], dict[str, str]]:
    """A parsed run definition back as a document, and its command-line (text) parameters."""
    document: dict[str, Any] = {"workflow": run.workflow, "repeat": run.repeat}
    for key in ("name", "notes", "seed"):
        value = getattr(run, key)
        if value is not None:
            document[key] = value
    if run.tags:
        document["tags"] = list(run.tags)
    params: dict[str, Any] = {}
    text_params: dict[str, str] = {}
    for pname, form in run.params:
        if isinstance(form, Single):
            if form.from_text and isinstance(form.raw, str):
                text_params[pname] = form.raw
            else:
                params[pname] = {"value": form.raw} if form.wrapped else form.raw
        elif isinstance(form, Values):
            params[pname] = {"values": list(form.raws)}
        elif isinstance(form, Range):
            spec: dict[str, Any] = {"from": form.start, "to": form.stop}
            if form.step is not None:
                spec["step"] = form.step
            if form.log is not None:
                spec[_LOG_FLAG[form.log]] = True
            params[pname] = spec
    if params:
        document["params"] = params
    return document, text_params


__all__ = ["RemoteClient"]
