"""Parsing and validating workflow definitions against the operator registry.

Every check runs and every problem is reported with its JSON path (``graph[2].inputs.epsilon``);
nothing stops at the first error (definitions.md §6, decisions.md §6).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accio.definitions.inputs import parse_inputs
from accio.definitions.model import Input, NodeDef, NodeRef, ParamDef, ParamRef, Workflow
from accio.definitions.problems import Problems, did_you_mean, field_path, json_kind
from accio.definitions.version import workflow_version
from accio.errors import ValueParseError
from accio.ops.api import NO_DEFAULT, OperatorSpec, PortSpec
from accio.ops.registry import OperatorRegistry
from accio.values.parse import parse_json
from accio.values.types import DataType, parse_type

WORKFLOW_ID_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]+$")
NODE_NAME_RE = re.compile(r"^[A-Z][a-zA-Z0-9_]+$")
PARAM_NAME_RE = re.compile(r"^[a-z][a-zA-Z0-9_]*$")

WORKFLOW_KEYS = ("id", "name", "owner", "params", "graph")
PARAM_KEYS = ("name", "kind", "default_value")
NODE_KEYS = ("op", "name", "inputs")


@dataclass
class _Node:
    """A node being validated: where it is, what it is, what it uses."""

    index: int
    path: str
    name: str
    op: OperatorSpec | None
    inputs: dict[str, Input]
    input_paths: dict[str, str]


@dataclass
class _Param:
    index: int
    path: str
    name: str
    kind: DataType | None
    default_raw: Any
    has_default: bool


def validate_workflow(
    document: Any,
    registry: OperatorRegistry,
    *,
    file: str | None = None,
    default_id: str | None = None,
) -> tuple[Workflow | None, Problems]:
    """Validate a decoded workflow document; returns the workflow (None if invalid) and problems."""
    problems = Problems(file)
    if not problems.check_document(document):
        return None, problems
    if not problems.check_object(document, "", "a workflow definition"):
        return None, problems
    problems.check_keys(document, WORKFLOW_KEYS, "")

    wf_id = problems.optional_string(document, "id", "")
    if wf_id is None and "id" not in document:
        wf_id = default_id
        if wf_id is None:
            problems.error("id", "missing workflow id (and no file name to take it from)")
    if wf_id is not None and not WORKFLOW_ID_RE.match(wf_id):
        origin = (
            ' (taken from the file name; set "id" to choose one)' if "id" not in document else ""
        )
        problems.error(
            "id",
            f"invalid workflow id {wf_id!r}{origin}: expected [a-zA-Z][a-zA-Z0-9_.-]+ (2+ chars)",
        )
    name = problems.optional_string(document, "name", "")
    owner = problems.optional_string(document, "owner", "")

    params = _parse_params(document.get("params", []), problems)
    nodes = _parse_graph(document, registry, problems)
    by_name: dict[str, _Node] = {}
    for n in nodes:
        by_name.setdefault(n.name, n)  # a duplicate is reported, its inputs still checked
    _check_references(nodes, by_name, problems)
    order = _check_acyclic(nodes, by_name, problems)
    typed_params = _check_params(params, nodes, problems)

    if problems.errors or wf_id is None or order is None:
        return None, problems
    node_defs = tuple(NodeDef(n.name, n.op.name if n.op else "", dict(n.inputs)) for n in order)
    version = workflow_version(wf_id, name, owner, typed_params, node_defs)
    workflow = Workflow(
        id=wf_id,
        version=version,
        nodes=node_defs,
        params=typed_params,
        name=name,
        owner=owner,
        definition=document,
    )
    return workflow, problems


def _parse_params(raw: Any, problems: Problems) -> list[_Param]:
    if not isinstance(raw, list):
        problems.error(
            "params", f"expected an array of parameter declarations, got {json_kind(raw)}"
        )
        return []
    params: list[_Param] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        path = f"params[{i}]"
        if not problems.check_object(item, path, "a parameter declaration"):
            continue
        problems.check_keys(item, PARAM_KEYS, path)
        pname = item.get("name")
        if not isinstance(pname, str):
            problems.error(
                field_path(path, "name"),
                "missing parameter name"
                if pname is None
                else f"expected a string, got {json_kind(pname)}",
            )
            continue
        if not PARAM_NAME_RE.match(pname):
            problems.error(
                field_path(path, "name"),
                f"invalid parameter name {pname!r}: expected [a-z][a-zA-Z0-9_]*",
            )
        if pname in seen:
            problems.error(
                field_path(path, "name"),
                f"duplicate parameter {pname!r} (also declared at params[{seen[pname]}])",
            )
            continue
        seen[pname] = i
        kind: DataType | None = None
        raw_kind = item.get("kind")
        if raw_kind is None:
            problems.error(field_path(path, "kind"), f"missing kind for parameter {pname!r}")
        elif not isinstance(raw_kind, str):
            problems.error(
                field_path(path, "kind"), f"expected a type name, got {json_kind(raw_kind)}"
            )
        else:
            try:
                kind = parse_type(raw_kind)
            except ValueParseError as exc:
                problems.error(field_path(path, "kind"), str(exc))
        params.append(
            _Param(i, path, pname, kind, item.get("default_value"), "default_value" in item)
        )
    return params


def _parse_graph(
    document: Mapping[str, Any], registry: OperatorRegistry, problems: Problems
) -> list[_Node]:
    if "graph" not in document:
        problems.error("graph", "missing graph: a workflow needs at least one node")
        return []
    graph = document["graph"]
    if not isinstance(graph, list):
        problems.error("graph", f"expected an array of nodes, got {json_kind(graph)}")
        return []
    if not graph:
        problems.error("graph", "empty graph: a workflow needs at least one node")
        return []
    nodes: list[_Node] = []
    first_seen: dict[str, int] = {}
    for i, item in enumerate(graph):
        path = f"graph[{i}]"
        if not problems.check_object(item, path, "a node"):
            continue
        problems.check_keys(item, NODE_KEYS, path)
        op_name = item.get("op")
        spec: OperatorSpec | None = None
        if op_name is None:
            problems.error(field_path(path, "op"), "missing operator name")
        elif not isinstance(op_name, str):
            problems.error(field_path(path, "op"), f"expected a string, got {json_kind(op_name)}")
            op_name = None
        else:
            spec = registry.get(op_name)
            if spec is None:
                problems.error(
                    field_path(path, "op"),
                    f"unknown operator {op_name!r}{registry.suggest(op_name)}",
                )
            elif spec.deprecation:
                problems.warning(path, f"operator {op_name} is deprecated: {spec.deprecation}")
        node_name = item.get("name", op_name)
        if "name" in item and not isinstance(node_name, str):
            problems.error(
                field_path(path, "name"), f"expected a string, got {json_kind(node_name)}"
            )
            node_name = None
        if node_name is None:
            continue
        name_path = field_path(path, "name") if "name" in item else field_path(path, "op")
        if not NODE_NAME_RE.match(node_name):
            problems.error(
                name_path,
                f"invalid node name {node_name!r}: expected [A-Z][a-zA-Z0-9_]+ (2+ chars, no hyphen)",
            )
        if node_name in first_seen:
            problems.error(
                name_path,
                f"duplicate node name {node_name!r} (also used by graph[{first_seen[node_name]}]); "
                'give each use of an operator its own "name"',
            )
        else:
            first_seen[node_name] = i
        inputs, input_paths = parse_inputs(item.get("inputs", {}), path, spec, problems)
        nodes.append(_Node(i, path, node_name, spec, inputs, input_paths))
    if (
        nodes
        and all(any(isinstance(v, NodeRef) for v in n.inputs.values()) for n in nodes)
        and len(nodes) == len(graph)
    ):
        problems.error("graph", "no root node: every node takes a reference input")
    return nodes


def _check_references(nodes: list[_Node], by_name: dict[str, _Node], problems: Problems) -> None:
    for node in nodes:
        for port_name, inp in node.inputs.items():
            if not isinstance(inp, NodeRef):
                continue
            path = field_path(node.input_paths[port_name], "reference")
            target = by_name.get(inp.node)
            if target is None:
                problems.error(
                    path,
                    f"reference to unknown node {inp.node!r}{did_you_mean(inp.node, by_name)}",
                )
                continue
            if target.op is None:
                continue
            out = target.op.output(inp.port)
            if out is None:
                outs = ", ".join(p.name for p in target.op.outputs) or "none"
                problems.error(
                    path,
                    f"node {inp.node} ({target.op.name}) has no output {inp.port!r}"
                    f"{did_you_mean(inp.port, [p.name for p in target.op.outputs])}; outputs: {outs}",
                )
                continue
            port = node.op.input(port_name) if node.op else None
            if port is not None and port.dtype != out.dtype:
                problems.error(
                    path,
                    f"type mismatch: {inp} is {out.dtype}, but input {port_name!r} of "
                    f"{node.op.name if node.op else '?'} expects {port.dtype}",
                )


def _check_acyclic(
    nodes: list[_Node], by_name: dict[str, _Node], problems: Problems
) -> list[_Node] | None:
    """Kahn's order over the whole graph; each cycle is reported once as ``A -> B -> A``."""
    deps = {
        n.name: sorted(
            {i.node for i in n.inputs.values() if isinstance(i, NodeRef) and i.node in by_name}
        )
        for n in by_name.values()
    }
    state: dict[str, int] = {}
    order: list[_Node] = []
    reported: set[frozenset[str]] = set()
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in deps[name]:
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    # Show the cycle in data-flow order: producer -> consumer.
                    problems.error("graph", f"cycle: {' -> '.join(reversed(cycle))}")
            elif state.get(dep) is None:
                visit(dep)
        stack.pop()
        state[name] = 2
        order.append(by_name[name])

    for node in by_name.values():
        if node.name not in state:
            visit(node.name)
    return None if reported else order


def _check_params(
    params: list[_Param], nodes: list[_Node], problems: Problems
) -> tuple[ParamDef, ...]:
    declared = {p.name: p for p in params}
    uses: dict[str, list[tuple[_Node, PortSpec | None]]] = {}
    for node in nodes:
        for port_name, inp in node.inputs.items():
            if not isinstance(inp, ParamRef):
                continue
            port = node.op.input(port_name) if node.op else None
            uses.setdefault(inp.name, []).append((node, port))
            if inp.name not in declared:
                problems.error(
                    field_path(node.input_paths[port_name], "param"),
                    f"parameter {inp.name!r} is not declared in params"
                    f"{did_you_mean(inp.name, declared)}",
                )
    result: list[ParamDef] = []
    for p in params:
        feeds = [(n, port) for n, port in uses.get(p.name, []) if port is not None]
        if p.name not in uses:
            problems.error(
                p.path,
                f"parameter {p.name!r} is declared but never used; a sweep over it would run "
                "identical children (remove it or bind it to an input)",
            )
        port_types = sorted({str(port.dtype) for _, port in feeds})
        if len(port_types) > 1:
            where = ", ".join(f"{n.name}.{port.name}: {port.dtype}" for n, port in feeds)
            problems.error(
                field_path(p.path, "kind"),
                f"parameter {p.name!r} feeds inputs of different types ({where})",
            )
        elif port_types and p.kind is not None and str(p.kind) != port_types[0]:
            n, port = feeds[0]
            problems.error(
                field_path(p.path, "kind"),
                f"parameter {p.name!r} is declared {p.kind} but feeds {n.name}.{port.name if port else '?'} "
                f"of type {port_types[0]}",
            )
        if p.kind is None:
            continue
        default = NO_DEFAULT
        if p.has_default:
            try:
                default = parse_json(p.kind, p.default_raw)
            except ValueParseError as exc:
                problems.error(
                    field_path(p.path, "default_value"), f"invalid default ({p.kind}): {exc}"
                )
                continue
            for n, port in feeds:
                if port is not None and (reason := port.check(default)):
                    problems.error(
                        field_path(p.path, "default_value"),
                        f"default for {n.name}.{port.name} {reason}",
                    )
        optional = p.has_default or all(
            port is not None and not port.required for _, port in feeds
        )
        result.append(
            ParamDef(p.name, p.kind, default, (optional and bool(feeds)) or p.has_default)
        )
    return tuple(result)


__all__ = ["validate_workflow", "workflow_version"]
