"""Cache keys: what makes two node executions the same (decisions.md §13).

``key = SHA-256`` over the compact, sorted-keys JSON of::

    ["accio/node-key/v1", op name, op version, op code hash,
     [[port, typed canonical value or null], ...]  (every declared input, declaration order),
     node seed if the operator is unstable else null]

Datasets appear by digest, so a key covers the content of every upstream result (a Merkle chain).
Keeping the components lets ``accio explain`` say which one changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEY_TAG = "accio/node-key/v1"


@dataclass(frozen=True)
class KeyComponents:
    """The parts of a cache key, kept so that a miss can be explained."""

    op: str
    version: str
    code_hash: str
    inputs: tuple[tuple[str, Any], ...]  # (port, {"type", "value"} or None) in declaration order
    seed: int | None

    def key(self) -> str:
        payload = [
            KEY_TAG,
            self.op,
            self.version,
            self.code_hash,
            [list(i) for i in self.inputs],
            self.seed,
        ]
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> str:
        """Stored beside the cache entry: input fingerprints and the seed."""
        return json.dumps(
            {"inputs": {port: fingerprint(v) for port, v in self.inputs}, "seed": self.seed},
            sort_keys=True,
            separators=(",", ":"),
        )


def fingerprint(value: Any) -> str | None:
    """A short stable digest of one typed input value (a dataset is its own digest)."""
    if value is None:
        return None
    if isinstance(value, Mapping) and value.get("type") == "dataset":
        return str(value["value"])
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
