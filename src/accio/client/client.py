"""The Python API: everything the CLI does, on a local Accio home.

::

    import accio
    client = accio.Client()                       # $ACCIO_HOME or ~/.accio
    client.push("workflow.json")
    sub = client.submit("sweep.json", repeat=2)   # returns at once; the scheduler runs it
    client.wait(sub.run_id)
    table = client.results(sub.run_id)            # pyarrow.Table, one row per child
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.cache.explain import NodeExplanation
from accio.client.contract import Submission
from accio.config import Settings
from accio.definitions.documents import load_run, run_from_document, workflow_from_document
from accio.definitions.load import read_json_file, split_workflow_spec, workflow_id_from_path
from accio.definitions.model import RunDef, Workflow
from accio.definitions.run import apply_overrides, resolve_run
from accio.definitions.sweep import Sweep
from accio.engine import daemon
from accio.engine.runtime import ExecutorName, Runtime, open_runtime
from accio.engine.scheduler import Scheduler
from accio.engine.states import TERMINAL_RUN_STATES
from accio.engine.tuning import paused_gc
from accio.errors import NotFoundError, Problem, RuntimeFailure
from accio.ops.registry import OperatorRegistry
from accio.storage.base import Storage
from accio.storage.records import (
    LogLine,
    LogStream,
    NodeRecord,
    RunRecord,
    RunsFilter,
    WorkflowRecord,
)
from accio.values.canonical import canonical_json

if TYPE_CHECKING:
    import pyarrow as pa


class Client:
    """Access to one Accio home (storage, artifacts, scheduler)."""

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        settings: Settings | None = None,
        registry: OperatorRegistry | None = None,
        autostart: bool = True,
    ) -> None:
        if settings is None:
            env = dict(os.environ)
            if home is not None:
                env["ACCIO_HOME"] = str(home)
            settings = Settings.from_env(env)
        self.settings = settings
        self.autostart = autostart
        self._registry = registry
        self._runtime: Runtime | None = None

    # ----------------------------------------------------------------- plumbing
    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = open_runtime(self.settings, self._registry)
        return self._runtime

    @property
    def storage(self) -> Storage:
        return self.runtime.storage

    @property
    def registry(self) -> OperatorRegistry:
        return self.runtime.registry

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- workflows
    def push(self, source: str | Path | Mapping[str, Any]) -> tuple[WorkflowRecord, bool]:
        """Validate and store a workflow as a new active version; returns (record, is_new)."""
        if isinstance(source, Mapping):
            workflow, _ = workflow_from_document(dict(source), self.registry)
        else:
            document = read_json_file(source)
            workflow, _ = workflow_from_document(
                document, self.registry, file=str(source), default_id=workflow_id_from_path(source)
            )
        return self._store_workflow(workflow)

    def _store_workflow(self, workflow: Workflow) -> tuple[WorkflowRecord, bool]:
        definition = dict(workflow.definition)
        definition["id"] = workflow.id
        record = WorkflowRecord(
            id=workflow.id,
            version=workflow.version,
            definition=json.dumps(definition, ensure_ascii=False),
            name=workflow.name,
            owner=workflow.owner or self.settings.user,
            created=time.time(),
            active=True,
        )
        new = self.storage.push_workflow(record)
        return self.storage.get_workflow(workflow.id, workflow.version), new

    def workflow(self, spec: str) -> Workflow:
        """A pushed workflow by ``id`` (active version) or ``id:version`` (a unique prefix works)."""
        wf_id, version = split_workflow_spec(spec)
        record = self.storage.get_workflow(wf_id, self._full_version(wf_id, version))
        workflow, _ = workflow_from_document(json.loads(record.definition), self.registry)
        return workflow

    def _full_version(self, wf_id: str, version: str | None) -> str | None:
        if version is None or len(version) == 40:
            return version
        versions = [w.version for w in self._versions(wf_id) if w.version.startswith(version)]
        if len(versions) != 1:
            raise NotFoundError(f"workflow {wf_id}:{version} not found")
        return versions[0]

    def _versions(self, wf_id: str) -> list[WorkflowRecord]:
        lister = getattr(self.storage, "workflow_versions", None)
        if lister is not None:
            return list(lister(wf_id))
        return [self.storage.get_workflow(wf_id)]

    def find_stored_workflow(self, spec: str) -> Workflow | None:
        try:
            return self.workflow(spec)
        except NotFoundError:
            return None

    # ----------------------------------------------------------------- runs
    def prepare(
        self,
        run: RunDef | str | Path | Mapping[str, Any],
        *,
        workflow_file: str | Path | None = None,
        params: Mapping[str, Any] | None = None,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] = (),
        repeat: int | None = None,
        seed: int | None = None,
    ) -> tuple[Sweep, list[Problem]]:
        """Resolve a run definition (with overrides) against its workflow, without storing it."""
        from accio.cli.lookup import find_workflow

        if isinstance(run, Mapping):
            run = run_from_document(dict(run))
        elif not isinstance(run, RunDef):
            run = load_run(run)
        text_params = [
            (k, v if isinstance(v, str) else json.dumps(v)) for k, v in (params or {}).items()
        ]
        run = apply_overrides(
            run, name=name, notes=notes, tags=tags, repeat=repeat, seed=seed, params=text_params
        )
        workflow, _, warnings = find_workflow(
            run,
            self.registry,
            explicit=str(workflow_file) if workflow_file is not None else None,
            stored=self.find_stored_workflow,
        )
        sweep = resolve_run(run, workflow, self.registry)
        return sweep, [*warnings, *sweep.warnings]

    def submit(
        self,
        run: RunDef | str | Path | Mapping[str, Any],
        *,
        start: bool | None = None,
        **overrides: Any,
    ) -> Submission:
        """Create a run (or a parent and its children) and hand it to the scheduler."""
        sweep, warnings = self.prepare(run, **overrides)
        record, _ = self._store_workflow(sweep.workflow)  # the run records the exact version
        with paused_gc():  # 10^4 children: tens of thousands of records at once
            runs, nodes = self._records(sweep, record.version)
            self.storage.create_runs(runs, nodes)
        self.runtime.control.send("submitted", [runs[0].id])
        if self.autostart if start is None else start:
            daemon.start_background(self.settings)
        return Submission(
            runs[0].id,
            tuple(r.id for r in runs[1:]),
            sweep.workflow,
            sweep.run_seed,
            sweep.seed_given,
            tuple(warnings),
        )

    def _records(self, sweep: Sweep, version: str) -> tuple[list[RunRecord], list[NodeRecord]]:
        now = time.time()
        owner = self.settings.user or getpass.getuser()
        meta = sweep.run
        types = sweep.param_types()
        base = RunRecord(
            id=os.urandom(16).hex(),
            parent_id=None,
            workflow_id=sweep.workflow.id,
            workflow_version=version,
            name=meta.name,
            notes=meta.notes,
            tags=meta.tags,
            owner=owner,
            created=now,
            seed=sweep.run_seed,
            params="{}",
            repeat_index=0,
            child_index=None,
            state="pending",
            started=None,
            completed=None,
            n_children=0,
        )
        node_names = [(n.name, n.op) for n in sweep.workflow.nodes]

        # '"name":{"type":"double","value":' once per parameter, not once per child
        heads = {
            k: f'{json.dumps(k)}:{{"type":{json.dumps(str(t))},"value":' for k, t in types.items()
        }

        def params_json(params: Mapping[str, Any]) -> str:
            parts = [f"{heads[k]}{canonical_json(types[k], v)}}}" for k, v in params.items()]
            return "{" + ",".join(parts) + "}"

        def nodes_of(run_id: str) -> list[NodeRecord]:
            return [
                NodeRecord(
                    run_id,
                    name,
                    op,
                    "pending",
                    None,
                    None,
                    0,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    i,
                )
                for i, (name, op) in enumerate(node_names)
            ]

        if sweep.is_single:
            child = sweep[0]
            single = replace(base, params=params_json(child.params))
            return [single], nodes_of(single.id)
        parent = replace(base, n_children=len(sweep))
        runs = [parent]
        nodes: list[NodeRecord] = []
        wf_id, pid = sweep.workflow.id, parent.id
        # Plain constructor calls and os.urandom ids: 10^4 children in a fraction of a second.
        last: tuple[Any, str] = (None, "")  # the repeats of a combination share their params
        for child in sweep:
            rid = os.urandom(16).hex()
            if child.params is not last[0]:
                last = (child.params, params_json(child.params))
            text = last[1]
            runs.append(
                RunRecord(
                    rid,
                    pid,
                    wf_id,
                    version,
                    child.name,
                    None,
                    (),
                    owner,
                    now,
                    child.seed,
                    text,
                    child.repeat_index,
                    child.index,
                    "pending",
                    None,
                    None,
                    0,
                )
            )
            nodes.extend(nodes_of(rid))
        return runs, nodes

    def run(self, run_id: str) -> RunRecord:
        return self.storage.get_run(run_id)

    def runs(self, f: RunsFilter | None = None, **kwargs: Any) -> list[RunRecord]:
        return self.storage.list_runs(f or RunsFilter(**kwargs))

    def count_runs(self, f: RunsFilter | None = None, **kwargs: Any) -> int:
        return self.storage.count_runs(f or RunsFilter(**kwargs))

    def children(self, run_id: str, limit: int | None = None, offset: int = 0) -> list[RunRecord]:
        return self.storage.children(run_id, limit=limit, offset=offset)

    def nodes(self, run_id: str) -> list[NodeRecord]:
        return self.storage.get_nodes(run_id)

    def node(self, run_id: str, name: str) -> NodeRecord:
        return self.storage.get_node(run_id, name)

    def edit(
        self,
        run_id: str,
        *,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> RunRecord:
        """Edit metadata; a child's id edits its parent (children have no metadata of their own)."""
        return self.storage.update_metadata(
            run_id, name=name, notes=notes, tags=tuple(tags) if tags is not None else None
        )

    def logs(
        self,
        run_id: str,
        node: str,
        *,
        streams: Sequence[LogStream] = ("stdout", "stderr"),
        limit: int | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        self.storage.get_node(run_id, node)  # NotFoundError for an unknown node
        return self.storage.get_logs(
            run_id, node, streams=tuple(streams), limit=limit, since=since
        )

    # ----------------------------------------------------------------- execution control
    def scheduler_running(self) -> bool:
        return daemon.is_running(self.settings.home)

    def execute(self, executor: ExecutorName = "local", timeout: float | None = None) -> None:
        """Run every unfinished run in this process (needs no scheduler to be running)."""
        with daemon._try_lock(self.settings.home) as handle:
            if handle is None:
                raise RuntimeFailure("a scheduler process already runs for this Accio home")
            scheduler = self.runtime.scheduler(executor=self.runtime.executor(executor))
            try:
                scheduler.run_until_idle(timeout)
            finally:
                scheduler.executor.stop()
                scheduler.close()

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.1,
        on_progress: Callable[[RunRecord], None] | None = None,
    ) -> RunRecord:
        """Block until the run is finished; starts the scheduler if none runs."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            record = self.storage.get_run(run_id)
            if on_progress is not None:
                on_progress(record)
            if record.state in TERMINAL_RUN_STATES:
                return record
            if not self.scheduler_running():
                if self.autostart:
                    daemon.start_background(self.settings)
                else:
                    raise RuntimeFailure("no scheduler runs: start one with 'accio server start'")
            if deadline is not None and time.time() > deadline:
                raise RuntimeFailure(f"run {run_id} did not finish within {timeout} s")
            time.sleep(poll)

    def kill(self, run_ids: Sequence[str]) -> None:
        records = [self.storage.get_run(r) for r in run_ids]  # NotFoundError first
        if self.scheduler_running():
            self.runtime.control.send("kill", [r.id for r in records])
            self._await(
                lambda: all(
                    self.storage.get_run(r.id).state in TERMINAL_RUN_STATES for r in records
                )
            )
        else:
            scheduler = self._offline()
            try:
                scheduler.kill([r.id for r in records])
            finally:
                scheduler.close()

    def delete(self, run_ids: Sequence[str]) -> list[str]:
        records = [self.storage.get_run(r) for r in run_ids]
        if self.scheduler_running():
            self.runtime.control.send("delete", [r.id for r in records])
            self._await(lambda: not self.storage.get_runs([r.id for r in records]))
            return [r.id for r in records]
        scheduler = self._offline()
        deleted: list[str] = []
        try:
            for r in records:
                scheduler.kill([r.id])
                deleted.extend(scheduler._safe_delete(r.id))
        finally:
            scheduler.close()
        return deleted

    def _offline(self) -> Scheduler:
        """A scheduler that never runs anything: used to kill runs when none is running."""
        from accio.executors.inline import InlineExecutor

        scheduler = self.runtime.scheduler(
            executor=InlineExecutor(str(self.settings.artifacts_dir))
        )
        scheduler.load_unfinished()
        scheduler._ready.clear()
        return scheduler

    def _await(self, done: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.time() + timeout
        while not done():
            if time.time() > deadline:
                raise RuntimeFailure("the scheduler did not handle the request in time")
            time.sleep(0.05)

    # ----------------------------------------------------------------- results
    def results(self, run_id: str) -> pa.Table:
        """One row per child (or the single run): parameters, seed, state and scalar outputs."""
        import pyarrow as pa

        record = self.storage.get_run(run_id)
        runs = self.storage.children(run_id) if record.is_parent else [record]
        nodes_by_run = self.storage.nodes_of_runs([r.id for r in runs])
        rows: list[dict[str, Any]] = []
        for run in runs:
            row: dict[str, Any] = {
                "run_id": run.id,
                "name": run.name,
                "repeat": run.repeat_index,
                "seed": run.seed,
                "state": run.state,
            }
            for pname, typed in json.loads(run.params).items():
                row[pname] = _plain(typed)
            for node in nodes_by_run[run.id]:
                if node.outputs:
                    for port, typed in json.loads(node.outputs).items():
                        value = _plain(typed)
                        if isinstance(value, int | float | str | bool):
                            row[f"{node.name}/{port}"] = value
            rows.append(row)
        return pa.Table.from_pylist(rows)

    def explain(self, run_id: str, node: str | None = None) -> list[NodeExplanation]:
        """Per node: a cache hit (and from which run), or what changed against the closest earlier
        execution of the same operator (input X, version, code, seed)."""
        from accio.cache.explain import explain_node

        nodes = self.storage.get_nodes(run_id)
        if node is not None:
            nodes = [n for n in nodes if n.name == node]
            if not nodes:
                raise NotFoundError(f"run {run_id} has no node {node!r}")
        return [explain_node(self.storage, n) for n in nodes]

    def gc(self) -> tuple[int, int]:
        """Delete artifacts no run or cache entry references; returns (files, bytes)."""
        from accio.cache.gc import gc

        return gc(self.runtime.artifacts, self.storage)


def _plain(typed: Mapping[str, Any]) -> Any:
    return typed.get("value")


__all__ = ["Client", "NodeExplanation", "Submission"]
