"""Content-addressed storage of artifacts: bytes named by their SHA-256 (the public names).

The contract and shared helpers live in :mod:`accio.cache.store_base`, the folder store in
:mod:`accio.cache.store_local`, the fsspec store (S3, memory, ``file://``) in
:mod:`accio.cache.store_fsspec`; :func:`accio.cache.stores.open_store` picks one. This module
keeps ``from accio.cache.artifacts import ...`` working for all of them.
"""

from __future__ import annotations

from accio.cache.store_base import (
    CHUNK,
    PARQUET_OPTIONS,
    QUARANTINE_DIR,
    TMP_PREFIX,
    ArtifactStore,
    CorruptArtifact,
    dictionary_columns,
    is_digest,
    mismatch_reason,
    read_parquet,
    write_parquet,
)
from accio.cache.store_fsspec import FsspecArtifactStore
from accio.cache.store_local import VERIFIED_INDEX, LocalArtifactStore, StatKey

__all__ = [
    "CHUNK",
    "PARQUET_OPTIONS",
    "QUARANTINE_DIR",
    "TMP_PREFIX",
    "VERIFIED_INDEX",
    "ArtifactStore",
    "CorruptArtifact",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "StatKey",
    "dictionary_columns",
    "is_digest",
    "mismatch_reason",
    "read_parquet",
    "write_parquet",
]
