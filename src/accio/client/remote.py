"""The Python API against a remote Accio server, over its REST API (``/api/v1``).

::

    from accio.client.remote import RemoteClient
    client = RemoteClient("http://host:8642")     # the CLI does this when $ACCIO_SERVER is set
    client.push("workflow.json"); sub = client.submit("sweep.json", repeat=2)
    client.wait(sub.run_id)
    table = client.results(sub.run_id)            # the same wide table as the local client

It implements :class:`~accio.client.contract.AccioClient` like the local client, with the same
records and shapes; API errors come back as the same :class:`~accio.errors.AccioError`
subclasses (404 -> NotFoundError, 422 -> DefinitionError with its problems, 400 ->
UsageError, 409 -> RuntimeFailure). The server runs the scheduler, so ``scheduler_running()``
is always true (nothing to start or replay here); ``scheduler_status()`` asks the server about
its home's. Wire conversions: :mod:`accio.client.wire`; tokens: :mod:`.credentials`.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx

from accio.cache.explain import NodeExplanation
from accio.client import wire
from accio.client.agents import RemoteAgents
from accio.client.contract import AccioClient, RunSource, Submission
from accio.client.credentials import bearer
from accio.client.lookup import pick_run_id, prepare_run
from accio.client.models import OperatorOut, RetentionOut
from accio.client.status import RemoteSchedulerStatus
from accio.definitions.load import read_json_file, workflow_id_from_path
from accio.definitions.model import RunDef, Workflow
from accio.errors import (
    AccioError,
    DefinitionError,
    NotFoundError,
    Problem,
    RuntimeFailure,
    UsageError,
)
from accio.states import TERMINAL_RUN_STATES
from accio.storage.records import (
    LogLine,
    LogStream,
    NodeRecord,
    RunRecord,
    RunsFilter,
    WorkflowRecord,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from accio.definitions.sweep import Sweep
    from accio.ops.registry import OperatorRegistry

API_PREFIX = "/api/v1"
#: The server's largest page (``per_page``); longer listings take several requests.
MAX_PER_PAGE = 500


class RemoteClient(RemoteAgents, RemoteSchedulerStatus):
    """What :class:`~accio.client.local.LocalClient` does, on a remote server through HTTP."""

    def __init__(self, base_url: str, *, timeout: float = 30, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + API_PREFIX, timeout=timeout)
        self._http.headers.update(bearer(self.base_url, token))  # $ACCIO_TOKEN, accio login
        self._registry: OperatorRegistry | None = None

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
            raise wire.error(response, file)
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
        url = f"/workflows/{wire.quote_part(document['id'])}" if "id" in document else "/workflows"
        pushed = self._json("POST", url, body=document, file=file)
        record = self.workflow_record(f"{pushed['id']}:{pushed['version']}")
        return record, bool(pushed["new"])

    def workflow_record(self, spec: str) -> WorkflowRecord:
        data = self._json("GET", f"/workflows/{wire.quote_part(spec)}")
        return wire.workflow_record(data, data.get("definition", {}))

    def workflow(self, spec: str) -> Workflow:
        """A pushed workflow by ``id`` or ``id:version``, read with the local operators."""
        from accio.definitions.documents import workflow_from_document

        data = self._json("GET", f"/workflows/{wire.quote_part(spec)}")
        workflow, _ = workflow_from_document(data["definition"], self.registry)
        return workflow

    def find_stored_workflow(self, spec: str) -> Workflow | None:
        try:
            return self.workflow(spec)
        except NotFoundError:
            return None

    def workflows(
        self,
        owner: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        include_inactive: bool = False,
    ) -> list[WorkflowRecord]:
        params = {"owner": owner, "q": text, "include_inactive": include_inactive}
        items = self._pages("/workflows", params, limit, offset)
        return [wire.workflow_record(item, None) for item in items]

    def count_workflows(
        self, owner: str | None = None, text: str | None = None, *, include_inactive: bool = False
    ) -> int:
        params = {"owner": owner, "q": text, "include_inactive": include_inactive, "per_page": 1}
        return int(self._json("GET", "/workflows", params=params)["total"])

    def workflow_versions(self, wf_id: str) -> list[WorkflowRecord]:
        try:
            items = list(self._pages(f"/workflows/{wire.quote_part(wf_id)}/versions", {}, None, 0))
        except NotFoundError:
            return []
        return [wire.workflow_record(item, None) for item in items]

    def operators(self, *, include_deprecated: bool = False) -> list[OperatorOut]:
        items = self._pages("/operators", {"include_deprecated": include_deprecated}, None, 0)
        return [OperatorOut.model_validate(item) for item in items]

    def operator(self, name: str) -> OperatorOut:
        data = self._json("GET", f"/operators/{wire.quote_part(name)}")
        return OperatorOut.model_validate(data)

    # ----------------------------------------------------------------- runs
    def prepare(
        self,
        run: RunSource,
        *,
        workflow_file: str | Path | None = None,
        params: Mapping[str, Any] | None = None,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] = (),
        repeat: int | None = None,
        seed: int | None = None,
    ) -> tuple[Sweep, list[Problem]]:
        """Resolve a run here, with the local operators and the server's pushed workflows."""
        return prepare_run(
            run,
            self.registry,
            self.find_stored_workflow,
            workflow_file=workflow_file,
            params=params,
            name=name,
            notes=notes,
            tags=tags,
            repeat=repeat,
            seed=seed,
        )

    def submit(
        self,
        run: RunSource,
        *,
        start: bool | None = None,
        workflow_file: str | Path | None = None,
        params: Mapping[str, Any] | None = None,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] = (),
        repeat: int | None = None,
        seed: int | None = None,
        force: bool = False,
        force_nodes: Sequence[str] = (),
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
            document, text_params = wire.run_document(run)
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
        if force or force_nodes:  # only then: an older server knows neither field
            body.update(force=force, force_nodes=list(force_nodes))
        data = self._json("POST", "/runs", body=body, file=file)
        return Submission(
            run_id=data["run_id"],
            child_ids=tuple(data["child_ids"]),
            workflow=Workflow(id=data["workflow_id"], version=data["workflow_version"], nodes=()),
            seed=int(data["seed"]),
            seed_given=bool(data["seed_given"]),
            warnings=tuple(wire.problems(data.get("warnings", []), file, "warning")),
        )

    def run(self, run_id: str) -> RunRecord:
        url = f"/runs/{wire.quote_part(run_id)}"
        return wire.run_record(self._json("GET", url, params={"summary": False}))

    def run_ids_with_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        data = self._json("GET", "/run-ids", params={"prefix": prefix, "limit": limit})
        return [str(i) for i in data["ids"]]

    def resolve_run_id(self, prefix: str) -> str:
        return pick_run_id(prefix, self.run_ids_with_prefix(prefix) if prefix else [])

    def runs(self, f: RunsFilter | None = None, **kwargs: Any) -> list[RunRecord]:
        f = f or RunsFilter(**kwargs)
        items = self._pages("/runs", wire.filter_params(f), f.limit, f.offset)
        return [wire.run_record(item) for item in items]

    def count_runs(self, f: RunsFilter | None = None, **kwargs: Any) -> int:
        f = f or RunsFilter(**kwargs)
        data = self._json("GET", "/runs", params={**wire.filter_params(f), "per_page": 1})
        return int(data["total"])

    def children(self, run_id: str, limit: int | None = None, offset: int = 0) -> list[RunRecord]:
        items = self._pages(f"/runs/{wire.quote_part(run_id)}/children", {}, limit, offset)
        return [wire.run_record(item) for item in items]

    def child_counts(self, run_id: str) -> dict[str, int]:
        return self._counts(run_id)["children"]

    def child_node_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        data = self._json("GET", f"/runs/{wire.quote_part(run_id)}/child-node-counts")
        return {str(n): {str(s): int(c) for s, c in v.items()} for n, v in data.items()}

    def node_counts(self, run_id: str) -> dict[str, int]:
        return self._counts(run_id)["nodes"]

    def _counts(self, run_id: str) -> dict[str, dict[str, int]]:
        data = self._json("GET", f"/runs/{wire.quote_part(run_id)}/counts")
        return {
            k: {str(s): int(n) for s, n in data.get(k, {}).items()} for k in ("children", "nodes")
        }

    def node_progress(self, run_id: str) -> dict[str, int]:
        from accio.client.progress import node_progress

        return node_progress(self, self.run(run_id))

    def failure_reason(self, run_id: str) -> str | None:
        from accio.client.progress import failure_reason

        return failure_reason(self, self.run(run_id))

    def nodes(self, run_id: str) -> list[NodeRecord]:
        """Every node of a run, with the outputs of those that have some."""
        path = f"/runs/{wire.quote_part(run_id)}/nodes"
        return [wire.node_record(n) for n in self._pages(path, {"detail": "true"}, None, 0)]

    def node(self, run_id: str, name: str) -> NodeRecord:
        return wire.node_record(
            self._json("GET", f"/runs/{wire.quote_part(run_id)}/nodes/{wire.quote_part(name)}")
        )

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
        return wire.run_record(self._json("PATCH", f"/runs/{wire.quote_part(run_id)}", body=body))

    def logs(
        self,
        run_id: str,
        node: str,
        *,
        streams: Sequence[LogStream] = ("stdout", "stderr"),
        limit: int | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        url = f"/runs/{wire.quote_part(run_id)}/nodes/{wire.quote_part(node)}/logs"
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

    def start_scheduler(self) -> bool:
        """The server runs its scheduler: nothing to start."""
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
            self._json("POST", f"/runs/{wire.quote_part(record.id)}/kill")

    def delete(self, run_ids: Sequence[str]) -> list[str]:
        records = [self.run(r) for r in run_ids]
        deleted: list[str] = []
        for record in records:
            data = self._json("DELETE", f"/runs/{wire.quote_part(record.id)}")
            deleted.extend(data["deleted"])
        return deleted

    # ----------------------------------------------------------------- results
    def results(self, run_id: str) -> pa.Table:
        """The wide table (one row per child), as the local client returns it; fetched as
        Parquet so that column types survive the trip."""
        url = f"/runs/{wire.quote_part(run_id)}/results"
        return self._parquet(url, {"format": "parquet", "shape": "wide"})

    def dataset(self, digest: str) -> pa.Table:
        return self._parquet(f"/datasets/{wire.quote_part(digest)}", {"format": "parquet"})

    def _parquet(self, url: str, params: Mapping[str, Any]) -> pa.Table:
        import pyarrow.parquet as pq

        response = self._request("GET", url, params=params)
        try:
            return pq.read_table(io.BytesIO(response.content))
        except Exception:
            raise AccioError(f"the Accio server sent an unreadable table for {url}") from None

    def explain(self, run_id: str, node: str | None = None) -> list[NodeExplanation]:
        """Per node of a run: cache hit or what changed (a parent: its children's nodes)."""
        items = self._pages(f"/runs/{wire.quote_part(run_id)}/explain", {"node": node}, None, 0)
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

    def retain(
        self,
        *,
        keep_last: int | None = None,
        older_than: float | None = None,
        dry_run: bool = False,
    ) -> RetentionOut:
        """Retention on the server (``POST /gc/retention``)."""
        params: dict[str, Any] = {"dry_run": dry_run}
        if keep_last is not None:
            params["keep_last"] = keep_last
        if older_than is not None:
            params["older_than"] = older_than
        return RetentionOut.model_validate(self._json("POST", "/gc/retention", params=params))

    # ----------------------------------------------------------------- not available remotely
    def execute(self, *args: Any, **kwargs: Any) -> None:
        raise UsageError("not supported against a remote server: execute (the server runs runs)")


def _static_check(remote: RemoteClient) -> AccioClient:
    return remote  # mypy proves here that the remote client implements the contract


__all__ = ["RemoteClient"]
