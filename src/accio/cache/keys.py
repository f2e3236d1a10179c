"""Cache keys: what makes two node executions the same (decisions.md §13).

``key = SHA-256`` over the compact, sorted-keys JSON of::

    ["accio/node-key/v1", op name, op version, op code hash,
     [[port, typed canonical value or null], ...]  (every declared input, declaration order),
     node seed if the operator is unstable else null]

Datasets appear by digest, so a key covers the content of every upstream result (a Merkle chain).
Keeping the components lets ``accio explain`` say which one changed.

A node with ports declared ``file=True`` reads files named by those values; their fingerprints
(:mod:`accio.cache.fingerprint`: size and content hash) are appended as a sixth element,
``{port: fingerprint}``. Nodes without such ports keep exactly the five-element key above.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KEY_TAG = "accio/node-key/v1"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=4096)
def _head(op: str, version: str, code_hash: str) -> str:
    return _canonical([KEY_TAG, op, version, code_hash])[:-1]


@functools.lru_cache(maxsize=4096)
def _port(port: str) -> str:
    return json.dumps(port, ensure_ascii=False)


@dataclass(frozen=True)
class KeyComponents:
    """The parts of a cache key, kept so that a miss can be explained."""

    op: str
    version: str
    code_hash: str
    inputs: tuple[tuple[str, Any], ...]  # (port, {"type", "value"} or None) in declaration order
    seed: int | None
    #: ``(port, fingerprint)`` of every file port that has a value, declaration order.
    files: tuple[tuple[str, Any], ...] = ()
    #: Canonical JSON text of each input, computed once for the key and the fingerprints.
    texts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", tuple(_canonical(v) for _, v in self.inputs))

    def key(self) -> str:
        inputs = ",".join(
            f"[{_port(port)},{text}]"
            for (port, _), text in zip(self.inputs, self.texts, strict=True)
        )
        head = _head(self.op, self.version, self.code_hash)
        seed = "null" if self.seed is None else str(int(self.seed))
        if self.files:
            text = f"{head},[{inputs}],{seed},{_canonical(dict(self.files))}]"
        else:
            text = f"{head},[{inputs}],{seed}]"
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> str:
        """Stored beside the cache entry: input fingerprints and the seed."""
        prints = {
            port: fingerprint(value, text)
            for (port, value), text in zip(self.inputs, self.texts, strict=True)
        }
        if self.files:  # so that explain can say "input file changed"
            return _canonical({"inputs": prints, "seed": self.seed, "files": dict(self.files)})
        return _canonical({"inputs": prints, "seed": self.seed})


def fingerprint(value: Any, text: str | None = None) -> str | None:
    """A short stable digest of one typed input value (a dataset is its own digest)."""
    if value is None:
        return None
    if isinstance(value, Mapping) and value.get("type") == "dataset":
        return str(value["value"])
    text = _canonical(value) if text is None else text
    return hashlib.sha256(text.encode()).hexdigest()[:32]
