"""Seed derivation moved to :mod:`accio.seeds`, below every layer, so that operators
(:mod:`accio.ops.context`) and definitions both use it without importing each other.
This module re-exports it for existing importers (the scheduler, plugins, tests)."""

from accio.seeds import (
    CHILD_TAG,
    MASK_63,
    NODE_TAG,
    TRACE_TAG,
    child_seed_from_encoded,
    child_seed_prefix,
    derive_child_seed,
    derive_node_seed,
    derive_trace_seed,
    encode_params,
    random_seed,
    seed_from_digest,
)

__all__ = [
    "CHILD_TAG",
    "MASK_63",
    "NODE_TAG",
    "TRACE_TAG",
    "child_seed_from_encoded",
    "child_seed_prefix",
    "derive_child_seed",
    "derive_node_seed",
    "derive_trace_seed",
    "encode_params",
    "random_seed",
    "seed_from_digest",
]
