"""Execution plans: a workflow's nodes with operators, edges and resolved inputs (pure).

A :class:`WorkflowPlan` is built once per workflow version. :func:`node_inputs` resolves one
node's inputs for one run from its parameters and its upstream outputs, and :func:`key_components`
turns them into the parts of a cache key.

Pure but for one thing: an operator whose ports are declared ``file=True`` reads files, so its
key components include their fingerprints (:mod:`accio.cache.fingerprint`, a ``stat`` per file
and a hash only when it changed). Other nodes never touch the file system here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accio.cache.fingerprint import FingerprintCache, fingerprint_value
from accio.cache.keys import KeyComponents
from accio.definitions.model import Constant, NodeRef, ParamRef, Workflow
from accio.ops.api import OperatorSpec, Resources
from accio.ops.registry import OperatorRegistry
from accio.values.canonical import to_canonical

TypedJson = dict[str, Any]  # {"type": "...", "value": ...}


@dataclass(frozen=True)
class NodePlan:
    name: str
    spec: OperatorSpec
    position: int
    inputs: Mapping[str, Constant | NodeRef | ParamRef]
    deps: tuple[str, ...]
    dependents: tuple[str, ...]


@dataclass(frozen=True)
class WorkflowPlan:
    workflow: Workflow
    nodes: tuple[NodePlan, ...]  # topological order

    @classmethod
    def build(cls, workflow: Workflow, registry: OperatorRegistry) -> WorkflowPlan:
        dependents: dict[str, list[str]] = {n.name: [] for n in workflow.nodes}
        for node in workflow.nodes:
            for dep in node.dependencies():
                dependents[dep].append(node.name)
        plans = tuple(
            NodePlan(
                name=node.name,
                spec=registry.require(node.op),
                position=i,
                inputs=node.inputs,
                deps=tuple(node.dependencies()),
                dependents=tuple(dependents[node.name]),
            )
            for i, node in enumerate(workflow.nodes)
        )
        return cls(workflow, plans)

    def node(self, name: str) -> NodePlan:
        return next(n for n in self.nodes if n.name == name)


def node_inputs(
    node: NodePlan,
    params: Mapping[str, TypedJson],
    upstream: Mapping[str, Mapping[str, TypedJson]],
) -> dict[str, TypedJson]:
    """Typed canonical inputs of ``node`` for one run: only ports that have a value."""
    resolved: dict[str, TypedJson] = {}
    for port in node.spec.inputs:
        inp = node.inputs.get(port.name)
        if isinstance(inp, Constant):
            resolved[port.name] = {
                "type": str(port.dtype),
                "value": to_canonical(port.dtype, inp.value),
            }
        elif isinstance(inp, ParamRef):
            if inp.name in params:
                resolved[port.name] = params[inp.name]
        elif isinstance(inp, NodeRef):
            resolved[port.name] = upstream[inp.node][inp.port]
    return resolved


def key_components(
    node: NodePlan,
    inputs: Mapping[str, TypedJson],
    node_seed: int | None,
    files: FingerprintCache | None = None,
) -> KeyComponents:
    """Every declared input in declaration order: given value, else port default, else null;
    plus the fingerprint of what each ``file=True`` port names (``files``: the cache of file
    hashes, default the process-wide one)."""
    parts: list[tuple[str, Any]] = []
    for port in node.spec.inputs:
        if port.name in inputs:
            parts.append((port.name, inputs[port.name]))
        elif port.has_default:
            parts.append(
                (
                    port.name,
                    {"type": str(port.dtype), "value": to_canonical(port.dtype, port.default)},
                )
            )
        else:
            parts.append((port.name, None))
    spec = node.spec
    prints: list[tuple[str, Any]] = []
    if spec.file_inputs:
        for name, typed in parts:
            if typed is not None and name in spec.file_inputs:
                prints.append((name, fingerprint_value(typed.get("value"), files)))
    return KeyComponents(
        spec.name,
        spec.version,
        spec.code_hash,
        tuple(parts),
        node_seed if spec.unstable else None,
        tuple(prints),
    )


def clamp(requested: Resources, capacity: Resources) -> Resources:
    """A node asking for more than the whole machine still runs, alone."""
    return Resources(
        min(requested.cpus, capacity.cpus),
        min(requested.memory_mb, capacity.memory_mb),
        requested.disk_mb,
    )
