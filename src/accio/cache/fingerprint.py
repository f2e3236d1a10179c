"""Fingerprints of the files and directories a node reads, for its cache key.

A node whose input port is declared ``Port("string", file=True)`` names a path; keying it by the
path alone would serve old results after the file changed. Its key therefore also holds the
path's fingerprint: size and SHA-256 of the content (a directory: the sorted relative paths,
sizes and hashes of every file below it).

The modification time is *not* part of the fingerprint, on purpose: like datasets, files are keyed
by content, so ``touch`` or a copy with new times does not invalidate results, while an in-place
edit that keeps the size and the mtime still does. Times serve only to avoid re-hashing: a
content hash is reused while the file's ``(size, mtime_ns, ctime_ns, inode, device)`` are
unchanged (ctime cannot be set back by a user, so even a write that restores the mtime shows).

Keys are computed in the scheduler process, so this must stay cheap: one ``stat`` per file
(a directory is walked), a hash only when that stat changed. Known hashes live in memory and, once
:func:`use_cache_file` named one (the runtime does: ``<home>/fingerprints.sqlite3``), in a small
SQLite file so that a restarted scheduler does not re-hash every input. Inside
:func:`snapshot` each path is fingerprinted at most once (a sweep's 10^4 children reading one
directory walk it once per scheduling pass).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat as stat_mod
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from accio.cache.memo import Memo

_CHUNK = 1 << 20
#: A hash is remembered only for a file unchanged for this long (ns): timestamps are coarse
#: (a kernel tick, 2 s on FAT), so a younger file could change again without its stat showing.
RACY_NS = 1_000_000_000

#: ``(size, mtime_ns, ctime_ns, inode, device)``: while equal, a file's content hash is reused.
StatKey = tuple[int, int, int, int, int]


def resolve(text: str) -> Path:
    """The path an operator reading ``text`` opens: ``file://`` removed, ``~`` expanded,
    made absolute (relative to the scheduler's working directory)."""
    if text.startswith("file://"):
        text = text[len("file://") :]
    return Path(os.path.abspath(os.path.expanduser(text)))


class FingerprintCache:
    """``path -> (stat key, sha256)`` of hashed files, in memory and optionally in SQLite."""

    def __init__(self, db_path: Path | None = None) -> None:
        self._memo = Memo(db_path)  # path -> "size,mtime_ns,ctime_ns,inode,device,sha256"
        self._snapshot: dict[str, Any] | None = None
        #: Counters that make the cost visible (benchmarks, tests): stats done, files hashed.
        self.stats = 0
        self.hashed = 0
        self.hashed_bytes = 0

    @property
    def db_path(self) -> Path | None:
        """The SQLite file the hashes persist in (None: memory only)."""
        return self._memo.path

    @db_path.setter
    def db_path(self, path: Path | None) -> None:
        self._memo.path = path  # connections are per (process, path): the next use reopens

    # -- persistence ----------------------------------------------------------------------

    def _known(self, path: str) -> tuple[StatKey, str] | None:
        text = self._memo.get(path)
        if text is None:
            return None
        *numbers, digest = text.split(",")
        size, mtime_ns, ctime_ns, inode, device = (int(x) for x in numbers)
        return (size, mtime_ns, ctime_ns, inode, device), digest

    def _remember(self, path: str, key: StatKey, digest: str) -> None:
        self._memo.put(path, ",".join([*(str(x) for x in key), digest]))

    # -- fingerprints ---------------------------------------------------------------------

    def file_hash(self, path: str, st: os.stat_result) -> str:
        """SHA-256 of a regular file's content, re-hashed only if its stat changed."""
        key: StatKey = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
        known = self._known(path)
        if known is not None and known[0] == key:
            return known[1]
        hasher = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
        self.hashed += 1
        self.hashed_bytes += st.st_size
        digest = hasher.hexdigest()
        after = os.stat(path)
        settled = time.time_ns() - max(key[1], key[2]) > RACY_NS
        if settled and (after.st_size, after.st_mtime_ns, after.st_ctime_ns) == key[:3]:
            # Not if it changed while being read, nor if it may still change within one tick
            # of the filesystem's clock (the same size and times would then hide a new content).
            self._remember(path, key, digest)
        return digest

    def fingerprint(self, text: str) -> str:
        """``file:<size>:<sha256>``, ``dir:<files>:<bytes>:<sha256>`` or ``missing``."""
        path = resolve(text)
        name = str(path)
        if self._snapshot is not None and name in self._snapshot:
            return str(self._snapshot[name])
        result = self._fingerprint(path)
        if self._snapshot is not None:
            self._snapshot[name] = result
        return result

    def _fingerprint(self, path: Path) -> str:
        self.stats += 1
        try:
            st = os.stat(path)
        except OSError:
            return "missing"  # the node will fail reading it; a failure is never cached
        if stat_mod.S_ISDIR(st.st_mode):
            return self._directory(path)
        if not stat_mod.S_ISREG(st.st_mode):
            return "special"  # a FIFO or device: nothing stable to hash
        return f"file:{st.st_size}:{self.file_hash(str(path), st)}"

    def _directory(self, root: Path) -> str:
        """Every regular file below ``root`` (symlinks followed to files, not to directories),
        in sorted order: relative path, size and content hash."""
        tree = hashlib.sha256()
        count = total = 0
        for rel, full in _walk(root):
            try:
                st = os.stat(full)
            except OSError:
                continue  # removed meanwhile
            self.stats += 1
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            digest = self.file_hash(full, st)
            tree.update(f"{rel}\0{st.st_size}\0{digest}\n".encode("utf-8", "surrogateescape"))
            count += 1
            total += st.st_size
        return f"dir:{count}:{total}:{tree.hexdigest()}"

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Within the block each path is fingerprinted once (one scheduling pass)."""
        outer = self._snapshot
        if outer is None:
            self._snapshot = {}
        try:
            yield
        finally:
            if outer is None:
                self._snapshot = None


def _walk(root: Path) -> Iterator[tuple[str, str]]:
    """``(relative path, full path)`` of every non-directory entry below ``root``, sorted."""
    found: list[tuple[str, str]] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            full = os.path.join(folder, name)
            found.append((os.path.relpath(full, root).replace(os.sep, "/"), full))
    found.sort()
    yield from found


_default = FingerprintCache()


def default_cache() -> FingerprintCache:
    """The process-wide cache :func:`accio.engine.plan.key_components` uses by default."""
    return _default


def use_cache_file(path: Path) -> None:
    """Persist the default cache's hashes in ``path`` (SQLite), e.g. under the Accio home."""
    if _default.db_path != path:
        _default.db_path = path


def snapshot() -> contextlib.AbstractContextManager[None]:
    """:meth:`FingerprintCache.snapshot` of the default cache."""
    return _default.snapshot()


def fingerprint_value(value: Any, cache: FingerprintCache | None = None) -> Any:
    """The fingerprint of a file port's canonical value: a path, or a list of paths."""
    prints = cache or _default
    if isinstance(value, str):
        return prints.fingerprint(value)
    if isinstance(value, list | tuple):
        return [prints.fingerprint(v) if isinstance(v, str) else None for v in value]
    return None
