"""Immutable model of workflow and run definitions, as produced by parsing and validation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from accio.errors import Problem
from accio.ops.api import NO_DEFAULT
from accio.values.types import DataType


@dataclass(frozen=True, slots=True)
class Constant:
    """A constant input; ``value`` is typed after validation (raw JSON before)."""

    value: Any


@dataclass(frozen=True, slots=True)
class NodeRef:
    """The output ``port`` of node ``node``: a dependency edge."""

    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}/{self.port}"


@dataclass(frozen=True, slots=True)
class ParamRef:
    """The value of workflow parameter ``name``."""

    name: str


Input = Constant | NodeRef | ParamRef


@dataclass(frozen=True)
class ParamDef:
    """A declared workflow parameter; ``optional`` is derived (definitions.md §4)."""

    name: str
    kind: DataType
    default: Any = NO_DEFAULT
    optional: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True)
class NodeDef:
    """One use of an operator in a workflow."""

    name: str
    op: str
    inputs: Mapping[str, Input] = field(default_factory=dict)

    def dependencies(self) -> list[str]:
        return sorted({i.node for i in self.inputs.values() if isinstance(i, NodeRef)})


@dataclass(frozen=True)
class Workflow:
    """A validated workflow: typed constants, known operators, acyclic graph.

    ``nodes`` are in a topological order (dependencies first, ties in declaration order).
    ``definition`` is the JSON document as written, kept for storage and display.
    """

    id: str
    version: str
    nodes: tuple[NodeDef, ...]
    params: tuple[ParamDef, ...] = ()
    name: str | None = None
    owner: str | None = None
    definition: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> ParamDef | None:
        return next((p for p in self.params if p.name == name), None)

    def node(self, name: str) -> NodeDef | None:
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def spec(self) -> str:
        return f"{self.id}:{self.version}"


LogBase = Literal["e", "2", "10"]


@dataclass(frozen=True, slots=True)
class Single:
    """One value: ``{"value": X}``, a bare ``X``, or a ``k=v`` command-line text."""

    raw: Any
    from_text: bool = False
    wrapped: bool = False  # written {"value": X} rather than a bare X


@dataclass(frozen=True, slots=True)
class Values:
    """An explicit list: ``{"values": [...]}``."""

    raws: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Range:
    """``{"from", "to", "step"}``, linear or logarithmic (``step`` is then a ratio)."""

    start: Any
    stop: Any
    step: Any = None
    log: LogBase | None = None


ValueForm = Single | Values | Range


@dataclass(frozen=True)
class RunDef:
    """A run definition as written (file, command line, or both merged)."""

    workflow: str
    params: tuple[tuple[str, ValueForm], ...] = ()
    name: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] = ()
    seed: int | None = None
    repeat: int = 1
    file: str | None = None
    #: Problems found while parsing, reported together with those found against the workflow.
    problems: tuple[Problem, ...] = ()

    def param_forms(self) -> Iterator[tuple[str, ValueForm]]:
        return iter(self.params)
