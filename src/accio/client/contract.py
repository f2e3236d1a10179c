"""The one client contract: what the CLI, the REST server and the web UI may ask of an Accio home.

:class:`~accio.client.local.LocalClient` (an Accio home on this machine) and
:class:`~accio.client.remote.RemoteClient` (an Accio server over HTTP) both implement
:class:`AccioClient`, with the same record types and the same shapes; mypy checks each at the
bottom of its module (``_static_check``), and ``tests/accio/client/test_contract.py`` runs one
suite against both. Nothing above this layer reaches into a runtime, a storage
backend or a scheduler: if a caller needs something, it becomes a method here and in both clients.

Records are the storage dataclasses (frozen, no SQLAlchemy): :class:`RunRecord`,
:class:`NodeRecord`, :class:`WorkflowRecord`, :class:`LogLine`; listings take a
:class:`RunsFilter`. Errors are :class:`~accio.errors.AccioError` subclasses on both sides
(NotFoundError, DefinitionError, UsageError, RuntimeFailure).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from accio.cache.explain import NodeExplanation
from accio.definitions.model import RunDef, Workflow
from accio.errors import Problem
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

    from accio.client.agents import AgentsOut
    from accio.client.models import OperatorOut, RetentionOut
    from accio.definitions.sweep import Sweep
    from accio.ops.registry import OperatorRegistry

#: What ``submit``/``prepare`` accept as a run: a parsed definition, a file, or a document.
RunSource = RunDef | str | Path | Mapping[str, Any]


@dataclass(frozen=True)
class Submission:
    """What ``submit`` created: the top-level run id and, for a sweep, its children."""

    run_id: str
    child_ids: tuple[str, ...]
    workflow: Workflow
    seed: int
    seed_given: bool
    warnings: tuple[Problem, ...] = ()

    @property
    def run_ids(self) -> tuple[str, ...]:
        return (self.run_id, *self.child_ids)


@dataclass(frozen=True)
class SchedulerStatus:
    """Whether a scheduler serves this home and, when known, its pid and web address."""

    running: bool
    pid: int | None = None
    url: str | None = None
    remote: bool = False
    #: Why the scheduler paused dispatch (storage failing: disk full, database locked), if so.
    condition: str | None = None
    #: Its executor (local, dask, slurm...), once it has published its agents.
    executor: str | None = None


@runtime_checkable
class AccioClient(Protocol):
    """Everything a front end does with an Accio home, local or remote."""

    @property
    def registry(self) -> OperatorRegistry:
        """The operators installed in this process (to read and validate definitions)."""
        ...

    def close(self) -> None: ...

    # -- workflows ---------------------------------------------------------------------------

    def push(self, source: str | Path | Mapping[str, Any]) -> tuple[WorkflowRecord, bool]:
        """Validate and store a workflow as the active version; returns (record, is_new)."""
        ...

    def workflow(self, spec: str) -> Workflow:
        """A pushed workflow by ``id`` or ``id:version`` (a unique version prefix works)."""
        ...

    def workflow_record(self, spec: str) -> WorkflowRecord:
        """The stored record of ``id`` or ``id:version`` (with its definition text)."""
        ...

    def find_stored_workflow(self, spec: str) -> Workflow | None:
        """:meth:`workflow`, or None when it is not pushed."""
        ...

    def workflows(
        self,
        owner: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        include_inactive: bool = False,
    ) -> list[WorkflowRecord]:
        """Workflows, newest first; ``text`` is a substring of id or name."""
        ...

    def count_workflows(
        self, owner: str | None = None, text: str | None = None, *, include_inactive: bool = False
    ) -> int: ...

    def workflow_versions(self, wf_id: str) -> list[WorkflowRecord]:
        """Every version of a workflow, newest first (empty when unknown)."""
        ...

    def operators(self, *, include_deprecated: bool = False) -> list[OperatorOut]:
        """Operators the home can run, by category then name."""
        ...

    def operator(self, name: str) -> OperatorOut:
        """One operator; NotFoundError (with a suggestion) when unknown."""
        ...

    # -- runs --------------------------------------------------------------------------------

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
        """Resolve a run definition against its workflow without storing anything."""
        ...

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
        """Store a run (a sweep: parent and children) and hand it to the scheduler.

        ``force`` re-executes every node, ``force_nodes`` the named ones, whatever the cache
        holds; their results replace the cache entries. Stored with the run (a resumed run
        stays forced); an unknown node name is a UsageError.
        """
        ...

    def run(self, run_id: str) -> RunRecord:
        """One run by its full id; NotFoundError."""
        ...

    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the run (child runs included) whose id starts with ``prefix``.

        NotFoundError when none does; UsageError naming the candidates when several do.
        """
        ...

    def run_ids_with_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids (children included) starting with ``prefix``, sorted, at most ``limit``."""
        ...

    def runs(self, f: RunsFilter | None = None, **kwargs: Any) -> list[RunRecord]:
        """Runs matching a filter (or its fields as keywords), newest first."""
        ...

    def count_runs(self, f: RunsFilter | None = None, **kwargs: Any) -> int: ...

    def children(self, run_id: str, limit: int | None = None, offset: int = 0) -> list[RunRecord]:
        """Children of a sweep parent in child order."""
        ...

    def child_counts(self, run_id: str) -> dict[str, int]:
        """``{state: count}`` over a parent's children (empty for a run without children)."""
        ...

    def child_node_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        """``{node name: {node state: children in which it is in it}}`` of a sweep parent."""
        ...

    def node_counts(self, run_id: str) -> dict[str, int]:
        """``{state: count}`` over a run's own nodes (empty for a sweep parent)."""
        ...

    def node_progress(self, run_id: str) -> dict[str, int]:
        """``{node state: count}`` over a run's nodes or, for a sweep parent, over every node of
        every child (one aggregate query): progress a user can read as work done.
        :mod:`accio.client.progress` turns it into done/cached/running/queued/failed words."""
        ...

    def failure_reason(self, run_id: str) -> str | None:
        """Why a run failed: ``node NAME: first line of its error`` (a sweep: its first failed
        child's, named), ``killed``, or the scheduler's refusal; None unless it failed."""
        ...

    def nodes(self, run_id: str) -> list[NodeRecord]:
        """Every node of a run in topological order, outputs included."""
        ...

    def node(self, run_id: str, name: str) -> NodeRecord: ...

    def edit(
        self,
        run_id: str,
        *,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> RunRecord:
        """Edit metadata (None = unchanged); a child's id edits its parent, which is returned."""
        ...

    def logs(
        self,
        run_id: str,
        node: str,
        *,
        streams: Sequence[LogStream] = ("stdout", "stderr"),
        limit: int | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        """Log lines of a node, oldest first; ``limit`` keeps the last N, ``since`` is exclusive."""
        ...

    # -- execution ---------------------------------------------------------------------------

    def scheduler_status(self) -> SchedulerStatus: ...

    def scheduler_running(self) -> bool: ...

    def start_scheduler(self) -> bool:
        """Start a scheduler if none serves the home; True if one runs afterwards."""
        ...

    def agents(self) -> AgentsOut:
        """Where the scheduler runs tasks (machines, Dask workers, batch jobs) with their size
        and running tasks, as it last published them; ``scheduler`` false when none runs."""
        ...

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.1,
        on_progress: Callable[[RunRecord], None] | None = None,
    ) -> RunRecord:
        """Block until the run is finished (RuntimeFailure after ``timeout`` seconds)."""
        ...

    def kill(self, run_ids: Sequence[str]) -> None:
        """Kill runs (a parent: every child); finished runs are left as they are."""
        ...

    def delete(self, run_ids: Sequence[str]) -> list[str]:
        """Delete runs with their children, nodes and logs; returns the deleted ids."""
        ...

    # -- results -----------------------------------------------------------------------------

    def results(self, run_id: str) -> pa.Table:
        """The wide table: one row per child (or the single run) with ``run_id``, ``name``,
        ``repeat``, ``seed``, ``state``, one column per parameter and one per scalar output
        (``Node/port``). The long table is :func:`accio.client.export.long_results`."""
        ...

    def explain(self, run_id: str, node: str | None = None) -> list[NodeExplanation]:
        """Per node of a run: a cache hit (from which run) or the key component that changed."""
        ...

    def dataset(self, digest: str) -> pa.Table:
        """A dataset output by its digest; NotFoundError when absent."""
        ...

    def gc(self) -> tuple[int, int]:
        """Delete artifacts nothing refers to; returns (files, bytes)."""
        ...

    def retain(
        self,
        *,
        keep_last: int | None = None,
        older_than: float | None = None,
        dry_run: bool = False,
    ) -> RetentionOut:
        """Delete finished top-level runs beyond the ``keep_last`` newest or created more than
        ``older_than`` seconds ago (both: only runs meeting both), with their children; then
        the cache entries no remaining run needs and the artifacts nothing references."""
        ...


#: The signed-in user a server request acts for (set by the server's auth guard): a local
#: client records it as the owner of what it creates instead of ``settings.user``.
ACTING_USER: ContextVar[str | None] = ContextVar("accio_acting_user", default=None)
#: Whether that user is an admin. With no acting user (no authentication) nothing is checked.
ACTING_ADMIN: ContextVar[bool] = ContextVar("accio_acting_admin", default=False)

__all__ = [
    "ACTING_ADMIN",
    "ACTING_USER",
    "AccioClient",
    "LogLine",
    "NodeExplanation",
    "NodeRecord",
    "RunRecord",
    "RunSource",
    "RunsFilter",
    "SchedulerStatus",
    "Submission",
    "WorkflowRecord",
]
