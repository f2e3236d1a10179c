"""A workflow's version: a content hash of its normalised definition (definitions.md §5)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from accio.definitions.model import Input, NodeDef, NodeRef, ParamDef, ParamRef
from accio.values.canonical import to_canonical


def workflow_version(
    wf_id: str,
    name: str | None,
    owner: str | None,
    params: tuple[ParamDef, ...],
    nodes: tuple[NodeDef, ...],
) -> str:
    """SHA-1 hex of canonical JSON of the normalised definition, nodes sorted by name (§5)."""
    doc = {
        "id": wf_id,
        "name": name,
        "owner": owner,
        "params": sorted(
            (
                {
                    "name": p.name,
                    "kind": str(p.kind),
                    "default": to_canonical(p.kind, p.default) if p.has_default else None,
                }
                for p in params
            ),
            key=lambda d: str(d["name"]),
        ),
        "graph": [
            {
                "name": n.name,
                "op": n.op,
                "inputs": {k: _input_json(v) for k, v in n.inputs.items()},
            }
            for n in sorted(nodes, key=lambda n: n.name)
        ],
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(text.encode()).hexdigest()


def _input_json(inp: Input) -> Any:
    if isinstance(inp, NodeRef):
        return {"reference": str(inp)}
    if isinstance(inp, ParamRef):
        return {"param": inp.name}
    return {"value": _plain(inp.value)}


def _plain(value: Any) -> Any:
    """A JSON-able rendering of a typed constant for version hashing."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return {type(value).__name__: asdict(value)}
    if isinstance(value, frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
