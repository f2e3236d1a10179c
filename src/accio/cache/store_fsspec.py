"""Artifacts on any fsspec filesystem: S3 (s3fs), ``memory://``, ``file://``, ...

Same layout as the folder store (``root/ab/cdef…``, ``root/quarantine/``), so a folder written
by :class:`~accio.cache.store_local.LocalArtifactStore` can be read through ``file://`` and
copied to a bucket as is. Workers open the store from its URL and read inputs and write outputs
straight to it: neither they nor the scheduler need the other's filesystem.

**Atomic writes.** On object stores (S3, GCS, Azure) a PUT makes an object visible only once
all of it has arrived, and a CopyObject likewise: there is no partial object to see. Tables and
bytes are therefore built and hashed in memory first, then PUT straight to their digest's key
(one request; a temporary key plus a server-side copy would move every byte twice for nothing).
On S3 that PUT also carries the digest as its ``x-amz-checksum-sha256``, so the server refuses
bytes damaged on the way instead of storing them under the digest.
:meth:`put_file` streams instead, to a ``.tmp-*`` key while hashing, then copies it to its
digest once the digest is known. Filesystems without atomic PUT (``file://``, ``memory://``)
write a ``.tmp-*`` file and rename it. Either way a digest never names bytes that were not
hashed to it first.

**Integrity.** Every read hashes the bytes it returns. On S3, :meth:`check` (cache hits, gc,
and before each put) first asks for the object's stored SHA-256 checksum: equal to the digest,
the server verified these very bytes on upload and nobody has overwritten them since (an
overwrite brings its own checksum, or none). Otherwise (multipart uploads, objects written by
other tools, other filesystems) it compares the object's *fingerprint* from one ``info()`` call
with the one recorded when this process or the index file last hashed it, and re-hashes
(downloads) only when it changed. On S3 the
fingerprint is ``(ETag, size, LastModified, VersionId)``: the ETag is computed by the server
from the content (MD5 for a single PUT or copy, MD5 of part MD5s for a multipart upload) and
every overwrite is a new object with a new LastModified, so an unchanged fingerprint means
nobody rewrote the object since its bytes were hashed. (It cannot see rot inside the server,
which S3 checks itself; reads still hash everything.) A filesystem whose ``info()`` offers no
such field gets no shortcut: check hashes.

``file://`` renames but does not fsync: for a local or shared POSIX folder, give a plain path
(:class:`~accio.cache.store_local.LocalArtifactStore`). Cost, 2 M-row table (30.8 MiB), SeaweedFS
on loopback, 2 busy cores: put 423 ms and get 134 ms on S3 against 141 ms and 62 ms in a folder;
a cache-hit check is one HEAD (3 ms) against one stat (0.1 ms).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.cache.memo import Memo
from accio.cache.store_base import (
    QUARANTINE_DIR,
    TMP_PREFIX,
    ArtifactStore,
    CorruptArtifact,
    is_digest,
    mismatch_reason,
    write_parquet,
)
from accio.errors import NotFoundError

if TYPE_CHECKING:
    import pyarrow as pa
    from fsspec import AbstractFileSystem

#: Protocols whose whole-object PUT and copy are atomic (no rename needed, none available).
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
#: ``info()`` fields that change whenever an object or file is rewritten.
_FINGERPRINT_FIELDS = ("ETag", "VersionId", "LastModified", "mtime", "ino", "created")
#: s3fs part size; below twice this an upload is one PUT.
_PUT_CHUNK = 50 << 20
#: Read size when streaming an object through SHA-256 (one ranged GET each on S3).
_STREAM_CHUNK = 8 << 20


class FsspecArtifactStore(ArtifactStore):
    """Artifacts under ``root`` of an fsspec filesystem (see the module docstring)."""

    def __init__(
        self, fs: AbstractFileSystem, root: str, *, index_path: Path | None = None
    ) -> None:
        """``root`` is a path of ``fs`` (``bucket/prefix`` for S3); ``index_path`` a local
        SQLite file keeping verified fingerprints across processes (memory only if None)."""
        self.fs = fs
        self.root = root.rstrip("/")
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.protocol = str(protocol)
        self.atomic_put = self.protocol in OBJECT_STORES
        self._index = Memo(index_path)  # digest -> fingerprint of objects hashed

    def path(self, digest: str) -> str:
        """The artifact's path in ``fs`` (whether or not it exists)."""
        if not is_digest(digest):
            raise NotFoundError(f"not an artifact digest: {digest!r}")
        return f"{self.root}/{digest[:2]}/{digest[2:]}"

    def url(self, path: str) -> str:
        """A path of this store as a URL (notes and errors name it so)."""
        return str(self.fs.unstrip_protocol(path))

    # -- writing --------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if self.check(digest):
            return digest
        final = self.path(digest)
        if self.atomic_put:
            self.fs.pipe_file(final, data, **self._put_options(digest, len(data)))
        else:
            tmp = self._tmp_path()
            try:
                self.fs.pipe_file(tmp, data)
                self._rename(tmp, final)
            except BaseException:
                self._remove(tmp)
                raise
        self._trust(digest)
        return digest

    def put_table(self, table: pa.Table) -> str:
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        write_parquet(table, sink)
        return self.put_bytes(sink.getvalue().to_pybytes())

    def put_file(self, path: Path) -> str:
        hasher = hashlib.sha256()
        tmp = self._tmp_path()
        try:
            with open(path, "rb") as source, self.fs.open(tmp, "wb") as out:
                while chunk := source.read(_STREAM_CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
            digest = hasher.hexdigest()
            if not self.check(digest):
                if self.atomic_put:
                    self.fs.copy(tmp, self.path(digest))  # server-side copy: atomic
                else:
                    self._rename(tmp, self.path(digest))
                self._trust(digest)
        finally:
            self._remove(tmp)
        return digest

    def _put_options(self, digest: str, size: int) -> dict[str, Any]:
        """S3 single PUT (the object appears whole or not at all) carrying the digest as its
        SHA-256 checksum: the server refuses bytes damaged on the way. Multipart uploads
        (large objects) complete atomically too, without that per-object check."""
        if self.protocol not in ("s3", "s3a") or size >= 2 * _PUT_CHUNK:
            return {}
        checksum = base64.b64encode(bytes.fromhex(digest)).decode()
        return {"chunksize": _PUT_CHUNK, "ChecksumSHA256": checksum}

    def _tmp_path(self) -> str:
        if not self.atomic_put:
            self.fs.makedirs(self.root, exist_ok=True)
        return f"{self.root}/{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"

    def _rename(self, tmp: str, final: str) -> None:
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        self.fs.mv(tmp, final)  # os.rename on file://: atomic on one filesystem

    def _remove(self, path: str) -> None:
        with suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def _trust(self, digest: str) -> None:
        """Record the fingerprint of an object whose bytes were just hashed by us."""
        with suppress(FileNotFoundError):
            fingerprint = self._fingerprint(digest)
            if fingerprint is not None:
                self._index.put(digest, fingerprint)

    # -- reading --------------------------------------------------------------------------

    def get_bytes(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            before = self._fingerprint(digest)
            data = bytes(self.fs.cat_file(path))
        except FileNotFoundError:
            raise NotFoundError(f"no such artifact: {digest}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            reason = mismatch_reason(len(data), actual)
            raise CorruptArtifact(digest, reason, self._quarantine_if(digest, reason, before))
        self._trust_if_unchanged(digest, before)
        return data

    def _hash(self, digest: str) -> tuple[str, int]:
        """Streamed SHA-256 and size of the stored bytes (nothing held in memory)."""
        hasher, size = hashlib.sha256(), 0
        with self.fs.open(self.path(digest), "rb", block_size=_STREAM_CHUNK) as handle:
            while chunk := handle.read(_STREAM_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        return hasher.hexdigest(), size

    def exists(self, digest: str) -> bool:
        return is_digest(digest) and bool(self.fs.isfile(self.path(digest)))

    def verify(self, digest: str) -> bool:
        if not is_digest(digest):
            return False
        try:
            return self._hash(digest)[0] == digest
        except FileNotFoundError:
            return False

    def check(self, digest: str) -> bool:
        if not is_digest(digest):
            return False
        try:
            if self._vouched(digest):
                return True
            before = self._fingerprint(digest)
            if before is not None and self._index.get(digest) == before:
                return True
            actual, size = self._hash(digest)
        except FileNotFoundError:
            return False
        if actual == digest:
            self._trust_if_unchanged(digest, before)
            return True
        self._quarantine_if(digest, mismatch_reason(size, actual), before)
        return False

    def _vouched(self, digest: str) -> bool:
        """Whether S3 holds the digest as the object's SHA-256 checksum: the server verified
        it against the bytes when they were uploaded (see :meth:`_put_options`), and any later
        overwrite replaces the checksum with its own. One HEAD, no state, valid on any machine."""
        if self.protocol not in ("s3", "s3a"):
            return False
        bucket, _, key = self.path(digest).partition("/")
        try:
            head = self.fs.call_s3("head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except FileNotFoundError:
            raise
        except OSError:
            return False  # checksums unsupported here: fall back to fingerprints
        checksum = head.get("ChecksumSHA256")
        if not isinstance(checksum, str) or "-" in checksum:  # multipart: composite
            return False
        return base64.b64decode(checksum).hex() == digest

    def _fingerprint(self, digest: str) -> str | None:
        """What changes whenever the object is rewritten (None: nothing reliable)."""
        info = self.fs.info(self.path(digest))
        if info.get("type") != "file":
            raise FileNotFoundError(self.path(digest))
        fields = {k: str(info[k]) for k in _FINGERPRINT_FIELDS if info.get(k) is not None}
        if not fields:
            return None
        fields["size"] = str(info.get("size"))
        return json.dumps(fields, sort_keys=True)

    def _trust_if_unchanged(self, digest: str, before: str | None) -> None:
        """Trust ``before`` only if the object still has it: the bytes hashed were its own."""
        with suppress(FileNotFoundError):
            if before is not None and self._fingerprint(digest) == before:
                self._index.put(digest, before)

    # -- quarantine -----------------------------------------------------------------------

    def quarantine(self, digest: str, reason: str) -> str | None:
        try:
            before = self._fingerprint(digest)
        except FileNotFoundError:
            return None
        return self._quarantine_if(digest, reason, before)

    def _quarantine_if(self, digest: str, reason: str, seen: str | None) -> str | None:
        """Move the object aside if it is still the one found damaged (a producer may have
        written a good copy meanwhile); a JSON note beside it says why. Returns its URL."""
        path = self.path(digest)
        try:
            if seen is not None and self._fingerprint(digest) != seen:
                return None  # replaced since: that copy is not ours to move
        except FileNotFoundError:
            return None
        now = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        target = f"{self.root}/{QUARANTINE_DIR}/{digest}.{stamp}-{secrets.token_hex(3)}"
        if not self.atomic_put:
            self.fs.makedirs(f"{self.root}/{QUARANTINE_DIR}", exist_ok=True)
        try:
            self.fs.mv(path, target)  # S3: copy then delete; file://: rename
        except FileNotFoundError:
            return None  # another reader moved it first
        self._index.forget(digest)
        note = {"digest": digest, "reason": reason, "path": self.url(target), "when": now}
        self.fs.pipe_file(target + ".json", json.dumps(note, sort_keys=True).encode())
        return self.url(target)

    def quarantined(self) -> list[dict[str, Any]]:
        notes: list[dict[str, Any]] = []
        for item in self._find(f"{self.root}/{QUARANTINE_DIR}"):
            if not item.endswith(".json"):
                continue
            try:
                notes.append(json.loads(self.fs.cat_file(item)))
            except (OSError, ValueError):
                continue
        return sorted(notes, key=lambda n: (n.get("when", 0.0), n.get("digest", "")))

    # -- listing and deleting -------------------------------------------------------------

    def size(self, digest: str) -> int:
        return int(self._info(digest)["size"])

    def modified(self, digest: str) -> float:
        return _mtime(self._info(digest))

    def _info(self, digest: str) -> dict[str, Any]:
        try:
            info: dict[str, Any] = self.fs.info(self.path(digest))
        except FileNotFoundError:
            raise NotFoundError(f"no such artifact: {digest}") from None
        if info.get("type") != "file":
            raise NotFoundError(f"no such artifact: {digest}")
        return info

    def delete(self, digest: str) -> None:
        if is_digest(digest):
            self._remove(self.path(digest))
            self._index.forget(digest)

    def _find(self, prefix: str) -> list[str]:
        try:
            return sorted(str(p) for p in self.fs.find(prefix, detail=False))
        except FileNotFoundError:
            return []

    def iter_digests(self) -> Iterator[str]:
        start = len(self.root) + 1
        for item in self._find(self.root):
            shard, _, rest = item[start:].partition("/")
            if len(shard) == 2 and "/" not in rest and is_digest(shard + rest):
                yield shard + rest

    def clean_temporary(self, older_than_s: float) -> tuple[int, int]:
        cutoff = time.time() - older_than_s
        files, size = self._abort_uploads(cutoff), 0
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return files, size
        for entry in entries:
            name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            if not name.startswith(TMP_PREFIX) or entry.get("type") != "file":
                continue
            if _mtime(entry) > cutoff:
                continue
            try:
                self.fs.rm_file(entry["name"])
            except FileNotFoundError:
                continue  # finished or cleaned by another process meanwhile
            files += 1
            size += int(entry.get("size") or 0)
        return files, size

    def _abort_uploads(self, cutoff: float) -> int:
        """Abort S3 multipart uploads under the root started before ``cutoff``: a writer
        killed mid-upload leaves parts that take space but never become an object."""
        if self.protocol not in ("s3", "s3a"):
            return 0
        bucket, _, prefix = self.root.partition("/")
        try:
            listing = self.fs.call_s3(
                "list_multipart_uploads", Bucket=bucket, Prefix=prefix + "/" if prefix else ""
            )
        except OSError:
            return 0  # not supported by this server: nothing to clean
        aborted = 0
        for upload in listing.get("Uploads", []):
            started = upload.get("Initiated")
            if not isinstance(started, datetime) or started.timestamp() > cutoff:
                continue
            with suppress(OSError):
                self.fs.call_s3(
                    "abort_multipart_upload",
                    Bucket=bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
                aborted += 1
        return aborted


def _mtime(info: dict[str, Any]) -> float:
    """Modification time of an ``info()`` entry, epoch seconds, whatever the filesystem."""
    for key in ("LastModified", "mtime", "created", "last_modified"):
        value = info.get(key)
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        if isinstance(value, int | float):
            return float(value)
    return time.time()  # unknown: treat as new, so gc spares it
