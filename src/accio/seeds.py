"""Seed derivation: run seed -> child seed -> node seed -> trace seed.

A foundation module (like :mod:`accio.errors`): it imports nothing from Accio, so operators and
definitions can both use it without depending on each other.

Seeds are *keyed*, not drawn in sequence (decisions.md §9). Each derived seed is the first 8 bytes,
big-endian, masked to 63 bits, of SHA-256 over a tagged canonical encoding::

    child seed = H("accio/child-seed/v1", run seed, sorted resolved parameters, repeat index)
    node seed  = H("accio/node-seed/v1",  child seed, node name)
    trace seed = H("accio/trace-seed/v1", node seed, trace id)

where the encoding is compact JSON with sorted keys of ``[tag, ...fields]`` and parameters are
their canonical typed JSON (types.md §5). Because a child's seed depends only on its own
parameters, adding a value to a sweep leaves every other child's seed, and therefore its cached
results, unchanged. A single run uses repeat index 0, so it shares seeds with the matching child.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

MASK_63 = (1 << 63) - 1
CHILD_TAG = "accio/child-seed/v1"
NODE_TAG = "accio/node-seed/v1"
TRACE_TAG = "accio/trace-seed/v1"


def seed_from_digest(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "big") & MASK_63


def _hash(payload: str) -> int:
    return seed_from_digest(hashlib.sha256(payload.encode()).digest())


def encode_params(params: Mapping[str, Any]) -> str:
    """Canonical text of resolved parameters given as canonical JSON values, sorted by name."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def child_seed_prefix(run_seed: int) -> str:
    """The constant head of a child seed's encoding; the sweep appends params and repeat."""
    return f'["{CHILD_TAG}",{run_seed},'


def child_seed_from_encoded(run_seed: int, encoded_params: str, repeat_index: int) -> int:
    """Child seed from pre-encoded parameters."""
    return _hash(f"{child_seed_prefix(run_seed)}{encoded_params},{repeat_index}]")


def derive_child_seed(run_seed: int, params: Mapping[str, Any], repeat_index: int) -> int:
    """The seed of the child with these canonical parameters and repeat index."""
    return child_seed_from_encoded(run_seed, encode_params(params), repeat_index)


def derive_node_seed(child_seed: int, node_name: str) -> int:
    """The seed of one unstable node of a run: two nodes of one run are not correlated."""
    return _hash(json.dumps([NODE_TAG, child_seed, node_name], separators=(",", ":")))


def derive_trace_seed(node_seed: int, trace_id: str) -> int:
    """The seed for one trace inside an unstable operator."""
    return _hash(json.dumps([TRACE_TAG, node_seed, trace_id], separators=(",", ":")))


def random_seed() -> int:
    """A fresh 63-bit seed for a run submitted without one; it is recorded and shown."""
    return secrets.randbits(63)
