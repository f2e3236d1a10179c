"""Why a node ran, or did not: the cache decision and the key component that changed.

The cache layer sits beside storage, not above it, so the node and cache entry it reads and the
index it asks are described here structurally (:class:`ExplainedNode`, :class:`KeyEntry`,
:class:`CacheIndex`); storage's records and every ``Storage`` backend fit them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class ExplainedNode(Protocol):
    """What ``explain_node`` reads of a node (storage's ``NodeRecord`` fits)."""

    @property
    def run_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def cache_key(self) -> str | None: ...
    @property
    def cache_source(self) -> str | None: ...


class KeyEntry(Protocol):
    """What is compared of a cache entry (storage's ``CacheEntry`` fits)."""

    @property
    def key(self) -> str: ...
    @property
    def op_version(self) -> str: ...
    @property
    def code_hash(self) -> str: ...
    @property
    def components(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def node(self) -> str: ...
    @property
    def created(self) -> float: ...


class CacheIndex(Protocol):
    """The two cache lookups ``explain_node`` makes (every ``Storage`` fits)."""

    def lookup_cache(self, keys: Sequence[str]) -> Mapping[str, KeyEntry]: ...

    def cache_entries_for_op(self, op: str, limit: int = 200) -> Sequence[KeyEntry]: ...


@dataclass(frozen=True)
class NodeExplanation:
    """Why one node ran or was a cache hit; the client and the REST API pass it on as is."""

    node: str
    op: str
    state: str
    verdict: str  # hit | executed | pending | failed ...
    source_run: str | None = None
    differences: tuple[str, ...] = ()
    compared_with: str | None = None  # run id of the closest earlier execution
    detail: dict[str, Any] = field(default_factory=dict)


def differences(mine: KeyEntry, other: KeyEntry) -> list[str]:
    """Key components that differ, named as a user would: ``input epsilon``, ``version``..."""
    diffs: list[str] = []
    if mine.op_version != other.op_version:
        diffs.append(f"version ({other.op_version} -> {mine.op_version})")
    if mine.code_hash != other.code_hash:
        diffs.append("code")
    a: dict[str, Any] = json.loads(mine.components)
    b: dict[str, Any] = json.loads(other.components)
    a_inputs, b_inputs = a.get("inputs", {}), b.get("inputs", {})
    for port in sorted(set(a_inputs) | set(b_inputs)):
        if a_inputs.get(port) != b_inputs.get(port):
            diffs.append(f"input {port}")
    a_files, b_files = a.get("files", {}), b.get("files", {})  # same path, other content
    for port in sorted(set(a_files) | set(b_files)):
        if a_files.get(port) != b_files.get(port) and a_inputs.get(port) == b_inputs.get(port):
            diffs.append(f"input file changed ({port})")
    if a.get("seed") != b.get("seed"):
        diffs.append("seed")
    return diffs


def closest(mine: KeyEntry, candidates: Sequence[KeyEntry]) -> tuple[KeyEntry | None, list[str]]:
    """The earlier execution of the same operator whose key differs in the fewest components."""
    best: tuple[KeyEntry | None, list[str]] = (None, [])
    for entry in candidates:  # newest first: ties keep the newest
        if entry.key == mine.key or entry.created > mine.created:
            continue
        diffs = differences(mine, entry)
        if best[0] is None or len(diffs) < len(best[1]):
            best = (entry, diffs)
    return best


def explain_node(storage: CacheIndex, node: ExplainedNode) -> NodeExplanation:
    """The cache decision for ``node``, against the closest earlier execution of its operator."""
    if node.state == "cached":
        return NodeExplanation(
            node.name,
            node.op,
            node.state,
            "hit",
            source_run=node.cache_source,
            detail={"key": node.cache_key},
        )
    if node.cache_key is None or node.state not in ("success",):
        verdict = {"failed": "failed", "skipped": "skipped"}.get(node.state, node.state)
        return NodeExplanation(
            node.name, node.op, node.state, verdict, detail={"key": node.cache_key}
        )
    mine = storage.lookup_cache([node.cache_key]).get(node.cache_key)
    if mine is None:
        return NodeExplanation(
            node.name, node.op, node.state, "executed", detail={"key": node.cache_key}
        )
    if mine.run_id != node.run_id or mine.node != node.name:
        # its own execution lost the race to record the key: another identical one did
        return NodeExplanation(node.name, node.op, node.state, "executed", source_run=mine.run_id)
    other, diffs = closest(mine, storage.cache_entries_for_op(node.op, limit=500))
    if other is None:
        return NodeExplanation(
            node.name,
            node.op,
            node.state,
            "executed",
            differences=(f"first execution of {node.op}",),
            detail={"key": node.cache_key},
        )
    return NodeExplanation(
        node.name,
        node.op,
        node.state,
        "executed",
        differences=tuple(diffs),
        compared_with=other.run_id,
        detail={"key": node.cache_key, "compared_key": other.key, "compared_node": other.node},
    )
