"""The JSON shapes of Accio's records (pydantic): the REST API's responses and the CLI's
``--json`` output, one contract for both, and their construction from domain records.

They are kept apart from the storage dataclasses so that the wire format is explicit, appears in
the OpenAPI schema, and does not change by accident when a record gains a field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from accio.cache.explain import NodeExplanation
from accio.client.runs_out import ExportOut as ExportOut
from accio.client.runs_out import GcOut as GcOut
from accio.client.runs_out import RetentionOut as RetentionOut
from accio.client.runs_out import RunEndOut as RunEndOut
from accio.client.runs_out import WaitOut as WaitOut
from accio.errors import AccioError, Problem
from accio.states import RunState
from accio.storage.records import LogStream, NodeRecord, RunRecord, WorkflowRecord
from accio.values.canonical import from_canonical
from accio.values.render import render
from accio.values.types import parse_type

T = TypeVar("T")

RunStateName = RunState  # the vocabularies, defined once in accio.states and the records
StreamName = LogStream
TableFormat = Literal["json", "csv", "parquet"]


class ErrorItem(BaseModel):
    """One problem: where (file, JSON path or request field) and what is wrong."""

    file: str | None = None
    path: str | None = None
    message: str


class ErrorBody(BaseModel):
    """Every error response: 4xx with the problems found, 500 with a generic message."""

    errors: list[ErrorItem]
    warnings: list[ErrorItem] = Field(default_factory=list)


class Page(BaseModel, Generic[T]):
    """One page of a listing; ``total`` counts every match, not only this page."""

    items: list[T]
    total: int
    page: int
    per_page: int


class VersionOut(BaseModel):
    name: str = "accio"
    version: str
    api: str = "v1"


# -- operators -------------------------------------------------------------------------------


class InputPortOut(BaseModel):
    name: str
    type: str
    help: str | None = None
    optional: bool = False
    default: Any = None


class OutputPortOut(BaseModel):
    name: str
    type: str
    help: str | None = None


class ResourcesOut(BaseModel):
    cpus: float
    memory_mb: int
    disk_mb: int


class OperatorOut(BaseModel):
    name: str
    category: str
    help: str | None = None
    description: str | None = None
    deprecation: str | None = None
    unstable: bool = False
    version: str
    resources: ResourcesOut
    inputs: list[InputPortOut]
    outputs: list[OutputPortOut]


# -- workflows -------------------------------------------------------------------------------


class WorkflowOut(BaseModel):
    id: str
    version: str
    name: str | None = None
    owner: str | None = None
    created: float
    active: bool


class WorkflowParamOut(BaseModel):
    name: str
    kind: str
    default: Any = None
    default_text: str | None = None
    required: bool
    optional: bool


class WorkflowNodeOut(BaseModel):
    name: str
    op: str
    inputs: dict[str, str]
    depends_on: list[str]


class WorkflowDetailOut(WorkflowOut):
    params: list[WorkflowParamOut]
    nodes: list[WorkflowNodeOut]
    definition: dict[str, Any]


class PushOut(BaseModel):
    id: str
    version: str
    new: bool
    warnings: list[ErrorItem] = Field(default_factory=list)


class ValidateOut(BaseModel):
    """``valid`` is false when ``errors`` is not empty; nothing is stored either way."""

    kind: Literal["workflow", "run"]
    valid: bool
    errors: list[ErrorItem] = Field(default_factory=list)
    warnings: list[ErrorItem] = Field(default_factory=list)
    children: int | None = None


# -- runs ------------------------------------------------------------------------------------


class TypedValueOut(BaseModel):
    """A stored value: its type, canonical JSON value (types.md §5) and rendered text (§4)."""

    type: str
    value: Any = None
    text: str


class RunOut(BaseModel):
    id: str
    parent_id: str | None = None
    workflow_id: str
    workflow_version: str
    name: str | None = None
    notes: str | None = None
    tags: list[str]
    owner: str
    created: float
    seed: int
    params: dict[str, TypedValueOut]
    repeat_index: int
    child_index: int | None = None
    state: str
    progress: float
    started: float | None = None
    completed: float | None = None
    duration: float | None = None
    n_children: int


class RunDetailOut(RunOut):
    """A run with a summary of what it contains: node states, or a parent's child states and the
    distinct rendered values each parameter takes across the children."""

    node_counts: dict[str, int] = Field(default_factory=dict)
    child_counts: dict[str, int] = Field(default_factory=dict)
    param_values: dict[str, list[str]] = Field(default_factory=dict)
    #: ``{node state: count}`` over the run's nodes, or over every child's for a sweep parent.
    node_progress: dict[str, int] = Field(default_factory=dict)
    #: Why the run failed (the failed node's error, first line); None unless it failed.
    failure_reason: str | None = None


class RunSubmission(BaseModel):
    """A run definition (definitions.md §7) and overrides, as ``accio submit`` takes them.

    ``params`` values are strings in the parameter's text form (as on the command line) or JSON
    values (as in a run file).
    """

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    notes: str | None = None
    tags: list[str] = Field(default_factory=list)
    repeat: int | None = Field(default=None, ge=1, le=1_000_000)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    #: Re-execute every node / these nodes whatever the cache holds (``submit --force``).
    force: bool = False
    force_nodes: list[str] = Field(default_factory=list)


class SubmitOut(BaseModel):
    run_id: str
    child_ids: list[str]
    workflow_id: str
    workflow_version: str
    seed: int
    seed_given: bool
    warnings: list[ErrorItem] = Field(default_factory=list)


class MetadataEdit(BaseModel):
    """Fields left out (or null) are unchanged; ``tags`` replaces the whole list."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    notes: str | None = None
    tags: list[str] | None = None


class CountsOut(BaseModel):
    """``{state: count}`` of a run's children (a sweep parent) or of its nodes (other runs)."""

    children: dict[str, int] = Field(default_factory=dict)
    nodes: dict[str, int] = Field(default_factory=dict)


class RunIdsOut(BaseModel):
    """Run ids starting with a prefix (children included), sorted."""

    ids: list[str]


class KillOut(BaseModel):
    killed: list[str]
    already_finished: list[str]


class DeleteOut(BaseModel):
    deleted: list[str]


class NodeOut(BaseModel):
    run_id: str
    name: str
    op: str
    state: str
    position: int
    attempts: int
    cache_key: str | None = None
    cached: bool
    cache_source: str | None = None
    ran_on: str = ""  # "slurm job 1234 on HOST" / "HOST pid PID"; "" if it did not run
    seed: int | None = None
    queued_at: float | None = None
    started: float | None = None
    completed: float | None = None
    duration: float | None = None
    error: Any = None


class NodeDetailOut(NodeOut):
    outputs: dict[str, TypedValueOut]


class LogLineOut(BaseModel):
    ts: float
    stream: str
    line: str


class ExplanationOut(BaseModel):
    run_id: str
    node: str
    op: str
    state: str
    verdict: str
    source_run: str | None = None
    differences: list[str]
    compared_with: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class ResultsOut(BaseModel):
    """A page of the long results table (see :mod:`accio.client.export`)."""

    columns: list[str]
    params: list[str]
    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int


class ChildProblemOut(BaseModel):
    child_index: int
    run_id: str | None = None
    name: str | None = None
    repeat: int | None = None
    state: str
    reason: str


class ValidationOut(BaseModel):
    run_id: str
    expected: int
    found: int
    succeeded: int
    ok: bool
    problems: list[ChildProblemOut]


# -- construction ----------------------------------------------------------------------------


def problem_item(p: Problem) -> ErrorItem:
    return ErrorItem(file=p.file, path=p.path or None, message=p.message)


def problem_items(problems: Sequence[Problem]) -> list[ErrorItem]:
    return [problem_item(p) for p in problems]


def loads(text: str | None) -> Any:
    """Stored JSON text, or the text itself when it is not JSON (old or foreign rows)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def typed_value(typed: Any) -> TypedValueOut:
    """A stored ``{"type", "value"}`` with its rendering; undecodable values render as JSON."""
    if not isinstance(typed, Mapping):
        return TypedValueOut(type="?", value=typed, text=json.dumps(typed, default=str))
    kind, value = str(typed.get("type")), typed.get("value")
    try:
        dtype = parse_type(kind)
        text = render(dtype, from_canonical(dtype, value))
    except AccioError:
        text = json.dumps(value, default=str)
    return TypedValueOut(type=kind, value=value, text=text)


def typed_values(text: str | None) -> dict[str, TypedValueOut]:
    data = loads(text)
    if not isinstance(data, Mapping):
        return {}
    return {str(k): typed_value(v) for k, v in data.items()}


def duration(started: float | None, completed: float | None) -> float | None:
    if started is None or completed is None:
        return None
    return max(0.0, completed - started)


def run_out(r: RunRecord) -> RunOut:
    return RunOut(
        id=r.id,
        parent_id=r.parent_id,
        workflow_id=r.workflow_id,
        workflow_version=r.workflow_version,
        name=r.name,
        notes=r.notes,
        tags=list(r.tags),
        owner=r.owner,
        created=r.created,
        seed=r.seed,
        params=typed_values(r.params),
        repeat_index=r.repeat_index,
        child_index=r.child_index,
        state=r.state,
        progress=r.progress,
        started=r.started,
        completed=r.completed,
        duration=duration(r.started, r.completed),
        n_children=r.n_children,
    )


def node_out(n: NodeRecord) -> NodeOut:
    return NodeOut(**_node_fields(n))


def node_detail_out(n: NodeRecord) -> NodeDetailOut:
    return NodeDetailOut(**_node_fields(n), outputs=typed_values(n.outputs))


def _node_fields(n: NodeRecord) -> dict[str, Any]:
    return {
        "run_id": n.run_id,
        "name": n.name,
        "op": n.op,
        "state": n.state,
        "position": n.position,
        "attempts": n.attempts,
        "cache_key": n.cache_key,
        "cached": n.state == "cached",
        "cache_source": n.cache_source,
        "ran_on": n.ran_on,
        "seed": n.seed,
        "queued_at": n.queued_at,
        "started": n.started,
        "completed": n.completed,
        "duration": duration(n.started, n.completed),
        "error": loads(n.error),
    }


def explanation_out(run_id: str, e: NodeExplanation) -> ExplanationOut:
    return ExplanationOut(
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


def workflow_out(r: WorkflowRecord) -> WorkflowOut:
    return WorkflowOut(
        id=r.id, version=r.version, name=r.name, owner=r.owner, created=r.created, active=r.active
    )


__all__ = [
    "ChildProblemOut",
    "CountsOut",
    "DeleteOut",
    "ErrorBody",
    "ErrorItem",
    "ExplanationOut",
    "GcOut",
    "InputPortOut",
    "KillOut",
    "LogLineOut",
    "MetadataEdit",
    "NodeDetailOut",
    "NodeOut",
    "OperatorOut",
    "OutputPortOut",
    "Page",
    "PushOut",
    "ResourcesOut",
    "ResultsOut",
    "RunDetailOut",
    "RunIdsOut",
    "RunOut",
    "RunStateName",
    "RunSubmission",
    "StreamName",
    "SubmitOut",
    "TableFormat",
    "TypedValueOut",
    "ValidateOut",
    "ValidationOut",
    "VersionOut",
    "WorkflowDetailOut",
    "WorkflowNodeOut",
    "WorkflowOut",
    "WorkflowParamOut",
    "duration",
    "explanation_out",
    "loads",
    "node_detail_out",
    "node_out",
    "problem_item",
    "problem_items",
    "run_out",
    "typed_value",
    "typed_values",
    "workflow_out",
]
