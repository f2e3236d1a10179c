"""A node's ``inputs``: each a constant, a reference ``Node/port`` or a parameter, checked
against the operator's declared input ports (unknown, missing, mistyped, out of bounds)."""

from __future__ import annotations

import json
from typing import Any

from accio.definitions.model import Constant, Input, NodeDef, NodeRef, ParamRef
from accio.definitions.problems import Problems, did_you_mean, field_path, json_kind
from accio.errors import AccioError, ValueParseError
from accio.ops.api import OperatorSpec, PortSpec
from accio.ops.registry import OperatorRegistry
from accio.values.parse import parse_json
from accio.values.render import render

INPUT_KEYS = ("value", "reference", "param")


def parse_inputs(
    raw: Any, node_path: str, spec: OperatorSpec | None, problems: Problems
) -> tuple[dict[str, Input], dict[str, str]]:
    """The inputs of one node, and the JSON path of each, reporting every problem found."""
    inputs: dict[str, Input] = {}
    paths: dict[str, str] = {}
    ipath = field_path(node_path, "inputs")
    if not isinstance(raw, dict):
        problems.error(
            ipath, f"expected an object mapping input names to inputs, got {json_kind(raw)}"
        )
        return inputs, paths
    for port_name, value in raw.items():
        path = field_path(ipath, port_name)
        port = spec.input(port_name) if spec else None
        if spec is not None and port is None:
            problems.error(
                path,
                f"operator {spec.name} has no input {port_name!r}"
                f"{did_you_mean(port_name, [p.name for p in spec.inputs])}; "
                f"inputs: {', '.join(p.name for p in spec.inputs) or 'none'}",
            )
        parsed = _parse_input(value, path, port, problems)
        if parsed is not None:
            inputs[port_name] = parsed
            paths[port_name] = path
    if spec is not None:
        for port in spec.inputs:
            if port.required and port.name not in raw:
                problems.error(
                    field_path(ipath, port.name),
                    f"missing required input {port.name!r} ({port.dtype}) of operator {spec.name}",
                )
    return inputs, paths


def _parse_input(value: Any, path: str, port: PortSpec | None, problems: Problems) -> Input | None:
    if isinstance(value, dict):
        present = [k for k in INPUT_KEYS if k in value]
        unknown = [k for k in value if k not in INPUT_KEYS]
        if not present and not any(did_you_mean(k, INPUT_KEYS) for k in unknown):
            got = (
                f"an object with keys {', '.join(map(repr, unknown))}"
                if unknown
                else "an empty object"
            )
            problems.error(
                path,
                'expected {"value": X}, {"reference": "Node/port"} or {"param": "name"}, got '
                f'{got}; a map constant must be written {{"value": {{...}}}}',
            )
            return None
        for key in unknown:
            problems.error(
                field_path(path, key),
                f"unknown key {key!r}{did_you_mean(key, INPUT_KEYS)}; an input is "
                '{"value": X}, {"reference": "Node/port"} or {"param": "name"}',
            )
        if not present:
            return None
        if len(present) > 1:
            problems.error(
                path, f"an input takes one of value, reference, param; got {', '.join(present)}"
            )
            return None
        key = present[0]
        if key == "reference":
            ref = value["reference"]
            if not isinstance(ref, str):
                problems.error(
                    field_path(path, "reference"),
                    f'expected a string "Node/port", got {json_kind(ref)}',
                )
                return None
            if ref.count("/") != 1 or "" in ref.split("/"):
                problems.error(
                    field_path(path, "reference"),
                    f'malformed reference {ref!r}: expected "Node/port"',
                )
                return None
            node, out = ref.split("/")
            return NodeRef(node, out)
        if key == "param":
            pname = value["param"]
            if not isinstance(pname, str) or not pname:
                problems.error(
                    field_path(path, "param"), f"expected a parameter name, got {json_kind(pname)}"
                )
                return None
            return ParamRef(pname)
        return _constant(value["value"], field_path(path, "value"), port, problems)
    return _constant(value, path, port, problems)


def _constant(raw: Any, path: str, port: PortSpec | None, problems: Problems) -> Input | None:
    if port is None:
        return Constant(raw)
    try:
        typed = parse_json(port.dtype, raw)
    except ValueParseError as exc:
        problems.error(path, f"invalid value for input {port.name!r} ({port.dtype}): {exc}")
        return None
    if reason := port.check(typed):
        problems.error(path, f"input {port.name!r} {reason}")
        return None
    return Constant(typed)


def input_text(node: NodeDef, port: str, registry: OperatorRegistry | None) -> str:
    """How a node input is written for people: ``Table/data`` for a reference, ``$epsilon`` for a
    parameter, a constant rendered in its port's type (``4.hours``, not its JSON)."""
    source = node.inputs[port]
    if isinstance(source, NodeRef):
        return str(source)
    if isinstance(source, ParamRef):
        return f"${source.name}"
    value = source.value if isinstance(source, Constant) else source
    spec = registry.get(node.op) if registry is not None else None
    declared = spec.input(port) if spec is not None else None
    try:
        if declared is not None:
            return render(declared.dtype, value)
    except AccioError:
        pass
    return json.dumps(value, default=str)
