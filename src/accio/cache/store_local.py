"""The default artifact store: a local (or shared, POSIX) folder, one file per digest.

Datasets are Arrow tables stored as Parquet. Because a dataset's digest feeds the cache keys of
every node downstream, the same table must always produce the same bytes: tables are written
with pinned options (:data:`PARQUET_OPTIONS`) after combining chunks, so equal tables give equal
files and are stored once. The bytes do depend on the pyarrow (and zstd) build, which stamps
its version in the file footer: upgrading pyarrow can change the digests of new datasets.

Writes never expose a half-written file: data goes to a ``.tmp-*`` file on the same
filesystem, is fsynced, then atomically renamed into place. Readers and :meth:`iter_digests`
ignore temporary files; :func:`accio.cache.gc.gc` removes stale ones.

**Integrity.** A digest names content, so serving bytes under a digest they do not hash to would
silently poison every downstream cache key. Two checks, for two different costs:

* every *read* (:meth:`get_bytes`, :meth:`get_table`, :meth:`open_verified`) hashes the bytes
  it has just read (streamed SHA-256, about 2 GB/s here: +16 ms on a 2 M-row, 32 MB table). A
  verified flag cached by ``(inode, size, mtime_ns)`` would be cheaper still, but it cannot see
  bit rot or a write that restored the mtime, and reads are rare next to the work done on the
  data, so reads trust nothing but the hash;
* a *cache hit* reads no bytes, so :meth:`check` only compares the file's ``(inode, size,
  mtime_ns, ctime_ns)`` with the stat recorded when the file was written or last hashed (a
  small SQLite index, ``.verified.sqlite3``) and re-hashes only when that stat changed. A
  truncated, emptied, replaced or rewritten file is caught for the price of one ``stat``.

A file that fails either check is moved to ``quarantine/`` under the store (never deleted
silently) with a JSON note saying why, and :class:`CorruptArtifact` is raised. A quarantined
digest is absent from the store, so the cache entries pointing at it are misses
(:mod:`accio.cache.verify`) and re-executing the producer writes the same bytes back.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from accio.cache.memo import Memo
from accio.cache.store_base import (
    CHUNK,
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

#: The stat recorded for each artifact written or hashed by this store (see :meth:`check`).
VERIFIED_INDEX = ".verified.sqlite3"

StatKey = tuple[int, int, int, int]  # (inode, size, mtime_ns, ctime_ns)


class LocalArtifactStore(ArtifactStore):
    """Artifacts as files ``root/ab/cdef…`` (first two hex digits shard the directories)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._verified = _VerifiedIndex(self.root / VERIFIED_INDEX)

    def path(self, digest: str) -> Path:
        """Where the artifact lives (whether or not it exists)."""
        if not is_digest(digest):
            raise NotFoundError(f"not an artifact digest: {digest!r}")
        return self.root / digest[:2] / digest[2:]

    # -- writing --------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if self.check(digest):
            return digest
        with self._writing() as (tmp, handle):
            handle.write(data)
        return self._commit(tmp, digest)

    def put_file(self, path: Path) -> str:
        hasher = hashlib.sha256()
        with self._writing() as (tmp, handle), open(path, "rb") as source:
            while chunk := source.read(CHUNK):
                hasher.update(chunk)
                handle.write(chunk)
        return self._commit(tmp, hasher.hexdigest())

    def put_table(self, table: pa.Table) -> str:
        # One chunk per column (write_parquet): rows split differently give the same bytes.
        with self._writing() as (tmp, handle):
            write_parquet(table, handle)
        return self._commit(tmp, _hash_file(tmp))

    @contextmanager
    def _writing(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A new temporary file, fsynced on success and removed on failure."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        try:
            with open(tmp, "xb") as handle:
                yield tmp, handle
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _commit(self, tmp: Path, digest: str) -> str:
        """Move a complete, fsynced temporary file to its content address.

        A file already there is kept only if it passes :meth:`check`: re-executing the producer
        of a damaged artifact is how the store repairs it.
        """
        final = self.path(digest)
        if final.exists() and self.check(digest):
            tmp.unlink(missing_ok=True)
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)  # artifacts are immutable
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        self._trust(digest, final)
        return digest

    # -- reading --------------------------------------------------------------------------

    def get_bytes(self, digest: str) -> bytes:
        return self._read_verified(digest)

    def _read_verified(self, digest: str) -> bytes:
        """Read the whole file and hash what was read: bytes are never served unchecked."""
        path = self.path(digest)
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            raise NotFoundError(f"no such artifact: {digest}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            reason = mismatch_reason(len(data), actual)
            moved = self._quarantine_inode(digest, reason, stat.st_ino)
            raise CorruptArtifact(digest, reason, moved)
        self._verified.put(digest, _stat_key(stat))
        return data

    def exists(self, digest: str) -> bool:
        return is_digest(digest) and self.path(digest).is_file()

    def verify(self, digest: str) -> bool:
        if not self.exists(digest):
            return False
        try:
            return _hash_file(self.path(digest)) == digest
        except FileNotFoundError:
            return False

    def check(self, digest: str) -> bool:
        if not is_digest(digest):
            return False
        path = self.path(digest)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        key = _stat_key(stat)
        if self._verified.get(digest) == key:
            return True
        try:
            actual = _hash_file(path)
        except FileNotFoundError:
            return False
        if actual == digest:
            self._verified.put(digest, key)
            return True
        self._quarantine_inode(digest, mismatch_reason(stat.st_size, actual), stat.st_ino)
        return False

    def quarantine(self, digest: str, reason: str) -> Path | str | None:
        try:
            inode = self.path(digest).stat().st_ino
        except FileNotFoundError:
            return None
        return self._quarantine_inode(digest, reason, inode)

    def _quarantine_inode(self, digest: str, reason: str, inode: int) -> Path | None:
        """Move the file aside if it is still the one found damaged (a producer may have
        written a good copy meanwhile); a JSON note beside it says why."""
        path = self.path(digest)
        try:
            if path.stat().st_ino != inode:
                return None  # replaced by a fresh copy since: that one is not ours to move
        except FileNotFoundError:
            return None
        folder = self.root / QUARANTINE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        target = folder / f"{digest}.{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}"
        target = target.with_name(f"{target.name}-{secrets.token_hex(3)}")
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return None  # another reader moved it first
        self._verified.forget(digest)
        note = {"digest": digest, "reason": reason, "path": str(target), "when": now}
        target.with_name(target.name + ".json").write_text(json.dumps(note, sort_keys=True))
        return target

    def quarantined(self) -> list[dict[str, Any]]:
        folder = self.root / QUARANTINE_DIR
        if not folder.is_dir():
            return []
        notes: list[dict[str, Any]] = []
        for item in folder.glob("*.json"):
            try:
                notes.append(json.loads(item.read_text()))
            except (OSError, ValueError):
                continue
        return sorted(notes, key=lambda n: (n.get("when", 0.0), n.get("digest", "")))

    def _trust(self, digest: str, path: Path) -> None:
        """Record the stat of a file whose bytes were just hashed (written or verified)."""
        with suppress(FileNotFoundError):
            self._verified.put(digest, _stat_key(path.stat()))

    def size(self, digest: str) -> int:
        return self._stat(digest).st_size

    def modified(self, digest: str) -> float:
        return self._stat(digest).st_mtime

    def _stat(self, digest: str) -> os.stat_result:
        try:
            return self.path(digest).stat()
        except FileNotFoundError:
            raise NotFoundError(f"no such artifact: {digest}") from None

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)
        self._verified.forget(digest)

    def iter_digests(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for shard in sorted(self.root.iterdir()):
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for item in sorted(shard.iterdir()):
                digest = shard.name + item.name
                if is_digest(digest) and item.is_file():
                    yield digest

    def clean_temporary(self, older_than_s: float) -> tuple[int, int]:
        if not self.root.is_dir():
            return 0, 0
        cutoff = time.time() - older_than_s
        files = size = 0
        for tmp in self.root.glob(f"{TMP_PREFIX}*"):
            try:
                stat = tmp.stat()
                if stat.st_mtime > cutoff:
                    continue
                tmp.unlink()
            except FileNotFoundError:
                continue  # finished or cleaned by another process meanwhile
            files += 1
            size += stat.st_size
        return files, size


def _stat_key(stat: os.stat_result) -> StatKey:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


class _VerifiedIndex:
    """``digest -> stat`` of files whose bytes were hashed (a :class:`Memo`: losing it only
    costs a re-hash)."""

    def __init__(self, path: Path) -> None:
        self._memo = Memo(path)

    def get(self, digest: str) -> StatKey | None:
        text = self._memo.get(digest)
        if text is None:
            return None
        ino, size, mtime_ns, ctime_ns = (int(x) for x in text.split(","))
        return (ino, size, mtime_ns, ctime_ns)

    def put(self, digest: str, key: StatKey) -> None:
        self._memo.put(digest, ",".join(str(x) for x in key))

    def forget(self, digest: str) -> None:
        self._memo.forget(digest)


def _hash_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
