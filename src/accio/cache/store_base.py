"""The artifact store contract: immutable blobs named by the SHA-256 of their bytes.

Implementations: :class:`~accio.cache.store_local.LocalArtifactStore` (a folder, the default)
and :class:`~accio.cache.store_fsspec.FsspecArtifactStore` (any fsspec filesystem: ``s3://``,
``memory://``, ``file://``); :func:`accio.cache.stores.open_store` picks one from a URL or path.
Every implementation keeps the same promises, checked by ``tests/accio/cache/test_store_contract.py``:
writes are atomic (a digest never names partial bytes), every read hashes the bytes it returns,
damaged bytes are moved to ``quarantine/`` (never deleted) and raise :class:`CorruptArtifact`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.errors import RuntimeFailure

if TYPE_CHECKING:
    import pyarrow as pa

#: Prefix of files being written; never a valid digest, so never listed.
TMP_PREFIX = ".tmp-"

#: Pinned Parquet writer options, so library default changes cannot change the bytes.
#: zstd level 1 writes 2.3x faster than level 3 for 17 % larger files (2 M events: 9.9 against
#: 4.4 M rows/s, 32 against 28 MB); every executed node writes its datasets, while gc reclaims
#: space. Dictionaries are built for string-like columns only (:func:`dictionary_columns`).
PARQUET_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 1,
    "write_statistics": True,
    "data_page_version": "1.0",
    "data_page_size": 1 << 20,
    "row_group_size": 1 << 20,
    "use_compliant_nested_type": True,
    "store_schema": True,
    "write_page_index": False,
    "write_page_checksum": False,
}

#: Read size when hashing a stored artifact.
CHUNK = 1 << 20
_DIGEST = re.compile(r"^[0-9a-f]{64}$")

#: Folder (or key prefix) under the store root where damaged artifacts are moved; never listed.
QUARANTINE_DIR = "quarantine"


class CorruptArtifact(RuntimeFailure):
    """Stored bytes do not hash to their digest (flipped, truncated, emptied, replaced).

    The file has been moved to the store's quarantine; re-submitting the run that needs it
    re-executes its producer. ``digest`` names the artifact, ``reason`` says what was found.
    """

    def __init__(self, digest: str, reason: str, quarantined: Path | str | None = None) -> None:
        self.digest = digest
        self.reason = reason
        self.quarantined = quarantined
        where = f"; moved to {quarantined}" if quarantined is not None else ""
        super().__init__(
            f"artifact {digest} is corrupt ({reason}){where}; "
            "re-submit the run to recompute it (accio verify --repair checks the whole store)"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries intact
        return (type(self), (self.digest, self.reason, self.quarantined))


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Top-level columns worth dictionary-encoding: strings, binaries and dictionaries.

    On high-cardinality numbers (coordinates, times) a dictionary overflows and is dropped after
    the writer has paid for it: encoding every column made writes 1.4x slower and files larger.
    """
    import pyarrow.types as pt

    return [
        f.name
        for f in schema
        if pt.is_string(f.type)
        or pt.is_large_string(f.type)
        or pt.is_binary(f.type)
        or pt.is_large_binary(f.type)
        or pt.is_dictionary(f.type)
    ]


def is_digest(text: str) -> bool:
    """Whether ``text`` is a SHA-256 hex digest (lower case), i.e. may name an artifact."""
    return bool(_DIGEST.match(text))


class ArtifactStore(ABC):
    """Immutable blobs addressed by the SHA-256 of their bytes."""

    @abstractmethod
    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; returns its digest. Storing known content is a no-op."""

    @abstractmethod
    def put_file(self, path: Path) -> str:
        """Store a copy of a file (hashed while streaming); returns its digest."""

    @abstractmethod
    def put_table(self, table: pa.Table) -> str:
        """Store a table as deterministic Parquet; equal tables get the same digest."""

    @abstractmethod
    def get_bytes(self, digest: str) -> bytes:
        """The stored bytes, hashed as read. Raises NotFoundError, CorruptArtifact (the
        damaged copy has then been quarantined)."""

    def get_table(self, digest: str) -> pa.Table:
        """Read a table stored by :meth:`put_table` (bytes verified first). Raises
        NotFoundError, CorruptArtifact."""
        return read_parquet(digest, self.get_bytes(digest))

    def open_verified(self, digest: str) -> bytes:
        """The artifact's bytes, checked against the digest (export, downloads)."""
        return self.get_bytes(digest)

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether the artifact is stored."""

    @abstractmethod
    def verify(self, digest: str) -> bool:
        """Re-hash the stored bytes: False if missing or corrupted (nothing is moved)."""

    @abstractmethod
    def check(self, digest: str) -> bool:
        """Cheap integrity check before reusing an artifact without reading it (cache hits).

        False if missing; a file found damaged is quarantined and False is returned.
        """

    @abstractmethod
    def quarantine(self, digest: str, reason: str) -> Path | str | None:
        """Move a damaged artifact aside (never delete it); returns where (a path, or a URL
        for a remote store), or None if absent."""

    @abstractmethod
    def quarantined(self) -> list[dict[str, Any]]:
        """Notes of quarantined files, oldest first: digest, reason, path, when."""

    @abstractmethod
    def size(self, digest: str) -> int:
        """Size in bytes. Raises NotFoundError."""

    @abstractmethod
    def modified(self, digest: str) -> float:
        """When the artifact was stored, epoch seconds (gc spares recent ones)."""

    @abstractmethod
    def delete(self, digest: str) -> None:
        """Remove the artifact if present."""

    @abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every stored digest, never a temporary file."""

    @abstractmethod
    def clean_temporary(self, older_than_s: float) -> tuple[int, int]:
        """Delete abandoned temporary files older than ``older_than_s`` seconds.

        Returns ``(files, bytes)`` removed.
        """


def mismatch_reason(size: int, actual: str) -> str:
    """Why bytes were refused, for notes and errors."""
    if size == 0:
        return "empty file"
    return f"{size} bytes hash to {actual[:12]}…"


def write_parquet(table: pa.Table, sink: Any) -> None:
    """Write ``table`` with the pinned options: equal tables give equal bytes."""
    import pyarrow.parquet as pq  # pyarrow only when datasets are read or written

    options = {**PARQUET_OPTIONS, "use_dictionary": dictionary_columns(table.schema)}
    pq.write_table(table.combine_chunks(), sink, **options)


def read_parquet(digest: str, data: bytes) -> pa.Table:
    """Parse verified bytes as a table; failing here is not damage (the hash matched)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(pa.py_buffer(data))
    except (pa.ArrowException, OSError) as exc:
        raise RuntimeFailure(f"artifact {digest} is not a readable table: {exc}") from None
