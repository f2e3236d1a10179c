"""The Python API on a local Accio home: :class:`LocalClient` implements the client contract.

::

    client = LocalClient()                        # $ACCIO_HOME or ~/.accio
    sub = client.submit("sweep.json", repeat=2)   # returns at once; the scheduler runs it
    table = client.results(client.wait(sub.run_id).id)  # pyarrow.Table, one row per child
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.cache.explain import NodeExplanation
from accio.cache.store_base import is_digest
from accio.client import progress
from accio.client.agents import LocalAgents
from accio.client.contract import ACTING_USER, AccioClient, RunSource, Submission
from accio.client.local_workflows import LocalWorkflows
from accio.client.lookup import pick_run_id, prepare_run
from accio.client.status import LocalSchedulerStatus
from accio.client.sweeps import forced_nodes, sweep_records
from accio.config import ExecutorName, Settings
from accio.definitions.sweep import Sweep
from accio.engine import daemon
from accio.engine.tuning import paused_gc
from accio.errors import NotFoundError, Problem, RuntimeFailure
from accio.ops.registry import OperatorRegistry
from accio.states import TERMINAL_RUN_STATES
from accio.storage.base import Storage
from accio.storage.records import (
    LogLine,
    LogStream,
    NodeRecord,
    RunRecord,
    RunsFilter,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from accio.client.models import OperatorOut, RetentionOut
    from accio.engine.runtime import Runtime
    from accio.engine.scheduler import Scheduler


class LocalClient(LocalAgents, LocalSchedulerStatus, LocalWorkflows):
    """Access to one Accio home on this machine (storage, artifacts, scheduler process)."""

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
        self._storage: Storage | None = None  # storage alone, for reads before any runtime

    # ----------------------------------------------------------------- plumbing
    @property
    def runtime(self) -> Runtime:
        """The runtime of the home, opened on first use (engine-level callers and tests only:
        front ends use the contract's methods)."""
        if self._runtime is None:
            from accio.engine.runtime import open_runtime  # the engine, only when used

            self._runtime = open_runtime(self.settings, self._registry)
        return self._runtime

    @property
    def storage(self) -> Storage:
        """The home's storage. Reads need no runtime: a CLI read (``get runs``) imports neither
        the engine nor pyarrow."""
        if self._runtime is not None:
            return self._runtime.storage
        if self._storage is None:
            from accio.storage.sqlite import open_storage

            self.settings.home.mkdir(parents=True, exist_ok=True)
            self._storage = open_storage(self.settings)
        return self._storage

    @property
    def registry(self) -> OperatorRegistry:
        return self.runtime.registry

    def open(self) -> None:
        """Open storage now (a server does, so that pool threads never race to open it)."""
        self.runtime  # noqa: B018

    def close(self) -> None:
        for part in (self._storage, self._runtime):
            if part is not None:
                part.close()
        self._storage = self._runtime = None

    def __enter__(self) -> LocalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def operators(self, *, include_deprecated: bool = False) -> list[OperatorOut]:
        from accio.client.models import OperatorOut  # pydantic: not for every command

        specs = sorted(self.registry, key=lambda o: (o.category, o.name))
        return [
            OperatorOut.model_validate(o.describe())
            for o in specs
            if include_deprecated or not o.deprecation
        ]

    def operator(self, name: str) -> OperatorOut:
        from accio.client.models import OperatorOut

        spec = self.registry.get(name)
        if spec is None:
            raise NotFoundError(f"no operator {name!r}{self.registry.suggest(name)}")
        return OperatorOut.model_validate(spec.describe())

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
        """Resolve a run definition (with overrides) against its workflow, without storing it."""
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
            max_children=self.settings.max_children,
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
        """Create a run (or a parent and its children) and hand it to the scheduler."""
        sweep, warnings = self.prepare(
            run,
            workflow_file=workflow_file,
            params=params,
            name=name,
            notes=notes,
            tags=tags,
            repeat=repeat,
            seed=seed,
        )
        forced = forced_nodes(sweep.workflow, force, force_nodes)
        record = self._version_of(sweep.workflow)  # the run records the exact version
        with paused_gc():  # 10^4 children: tens of thousands of records at once
            owner = ACTING_USER.get() or self.settings.user  # the server's signed-in user
            runs, nodes = sweep_records(sweep, record.version, owner, forced)
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

    def run(self, run_id: str) -> RunRecord:
        return self.storage.get_run(run_id)

    def run_ids_with_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        return self.storage.run_ids_with_prefix(prefix, limit)

    def resolve_run_id(self, prefix: str) -> str:
        return pick_run_id(prefix, self.run_ids_with_prefix(prefix) if prefix else [])

    def runs(self, f: RunsFilter | None = None, **kwargs: Any) -> list[RunRecord]:
        return self.storage.list_runs(f or RunsFilter(**kwargs))

    def count_runs(self, f: RunsFilter | None = None, **kwargs: Any) -> int:
        return self.storage.count_runs(f or RunsFilter(**kwargs))

    def children(self, run_id: str, limit: int | None = None, offset: int = 0) -> list[RunRecord]:
        return self.storage.children(run_id, limit=limit, offset=offset)

    def child_counts(self, run_id: str) -> dict[str, int]:
        return self.storage.child_state_counts(run_id)

    def child_node_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        return self.storage.child_node_counts(run_id)

    def node_counts(self, run_id: str) -> dict[str, int]:
        return dict(self.storage.node_state_counts([run_id]).get(run_id, {}))

    def node_progress(self, run_id: str) -> dict[str, int]:
        return progress.node_progress(self, self.run(run_id))

    def failure_reason(self, run_id: str) -> str | None:
        return progress.failure_reason(self, self.run(run_id))

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
        storage = self.storage
        storage.get_node(run_id, node)  # NotFoundError for an unknown node
        return storage.get_logs(run_id, node, streams=tuple(streams), limit=limit, since=since)

    # ----------------------------------------------------------------- execution control
    def scheduler_running(self) -> bool:
        return daemon.is_running(self.settings.home)

    def start_scheduler(self) -> bool:
        return daemon.start_background(self.settings)

    def execute(self, executor: ExecutorName = "local", timeout: float | None = None) -> None:
        """Run every unfinished run in this process (needs no scheduler to be running)."""
        with daemon.home_lock(self.settings.home) as handle:
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
            record = self.run(run_id)
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
        storage = self.storage
        records = [storage.get_run(r) for r in run_ids]  # NotFoundError first
        if self.scheduler_running():
            self.runtime.control.send("kill", [r.id for r in records])
            _await(
                lambda: all(storage.get_run(r.id).state in TERMINAL_RUN_STATES for r in records)
            )
            return
        scheduler = self._offline()
        try:
            scheduler.kill([r.id for r in records])
        finally:
            scheduler.close()

    def delete(self, run_ids: Sequence[str]) -> list[str]:
        storage = self.storage
        records = [storage.get_run(r) for r in run_ids]
        if self.scheduler_running():
            self.runtime.control.send("delete", [r.id for r in records])
            _await(lambda: not storage.get_runs([r.id for r in records]))
            return [r.id for r in records]
        family = [i for r in records for i in (r.id, *(c.id for c in storage.children(r.id)))]
        scheduler = self._offline()
        try:
            scheduler.delete([r.id for r in records])
        finally:
            scheduler.close()
        gone = set(family) - {r.id for r in storage.get_runs(family)}
        return [i for i in dict.fromkeys(family) if i in gone]

    def _offline(self) -> Scheduler:
        """A scheduler that never runs anything: kills and deletes when no scheduler runs."""
        from accio.executors.inline import InlineExecutor

        scheduler = self.runtime.scheduler(
            executor=InlineExecutor(str(self.settings.artifacts_dir))
        )
        scheduler.load_unfinished()
        scheduler.discard_ready()
        return scheduler

    # ----------------------------------------------------------------- results
    def results(self, run_id: str) -> pa.Table:
        """One row per child (or the single run): parameters, seed, state and scalar outputs."""
        storage = self.storage
        record = storage.get_run(run_id)
        runs = storage.children(run_id) if record.is_parent else [record]
        from accio.client.tables import wide_table  # pyarrow: only for results

        return wide_table(runs, storage.nodes_of_runs([r.id for r in runs]))

    def explain(self, run_id: str, node: str | None = None) -> list[NodeExplanation]:
        """Per node: a cache hit (and from which run), or what changed against the closest earlier
        execution of the same operator (input X, version, code, seed)."""
        from accio.cache.explain import explain_node

        storage = self.storage
        nodes = storage.get_nodes(run_id)
        if node is not None:
            nodes = [n for n in nodes if n.name == node]
            if not nodes:
                raise NotFoundError(f"run {run_id} has no node {node!r}")
        return [explain_node(storage, n) for n in nodes]

    def dataset(self, digest: str) -> pa.Table:
        store = self.runtime.artifacts
        if not is_digest(digest) or not store.exists(digest):
            raise NotFoundError(f"no dataset {digest}")
        return store.get_table(digest)

    def retain(
        self,
        *,
        keep_last: int | None = None,
        older_than: float | None = None,
        dry_run: bool = False,
    ) -> RetentionOut:
        from accio.client.retention import retain  # unfinished runs are never deleted

        return retain(self, keep_last=keep_last, older_than=older_than, dry_run=dry_run)

    def gc(self) -> tuple[int, int]:
        """Delete artifacts no run or cache entry references; returns (files, bytes)."""
        from accio.cache.gc import gc

        return gc(self.runtime.artifacts, self.storage)


def _await(done: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.time() + timeout  # a scheduler handles kill/delete: wait for its effect
    while not done():
        if time.time() > deadline:
            raise RuntimeFailure("the scheduler did not handle the request in time")
        time.sleep(0.05)


def _static_check(local: LocalClient) -> AccioClient:
    return local  # mypy proves here that the local client implements the contract


__all__ = ["LocalClient"]
