"""A small persistent memo: ``key -> text`` in memory, backed by a local SQLite file.

The artifact stores remember which bytes they hashed (by stat or by object fingerprint) and the
fingerprint cache remembers file hashes; all three are caches, so losing one only costs a
re-hash. SQLite (WAL, no fsync) because worker processes write them concurrently; a connection
per thread and process (a forked worker must not reuse its parent's); any database error
falls back to memory only (a read-only home, a filesystem without locks).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import suppress
from pathlib import Path

#: Entries kept in memory (about 250 bytes each) before starting over; SQLite keeps them all.
MEMORY_LIMIT = 200_000


class Memo:
    """``key -> value`` text pairs, in memory first, then in ``path`` (None: memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: dict[str, str] = {}
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection | None:
        path = self.path
        if path is None:
            return None
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "where", None) == (os.getpid(), path):
            return conn
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # a cache: losing it costs a re-hash
            conn.execute("CREATE TABLE IF NOT EXISTS memo (key TEXT PRIMARY KEY, value TEXT)")
        except (sqlite3.Error, OSError):
            self.path = None  # unusable: memory only from now on
            return None
        self._local.conn, self._local.where = conn, (os.getpid(), path)
        return conn

    def get(self, key: str) -> str | None:
        known = self._memory.get(key)
        if known is not None:
            return known
        conn = self._conn()
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT value FROM memo WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        if row is None:
            return None
        self._remember(key, str(row[0]))
        return str(row[0])

    def put(self, key: str, value: str) -> None:
        if self._memory.get(key) == value:
            return
        self._remember(key, value)
        conn = self._conn()
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.execute("INSERT OR REPLACE INTO memo VALUES (?, ?)", (key, value))

    def forget(self, key: str) -> None:
        self._memory.pop(key, None)
        conn = self._conn()
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.execute("DELETE FROM memo WHERE key = ?", (key,))

    def _remember(self, key: str, value: str) -> None:
        if len(self._memory) >= MEMORY_LIMIT:
            self._memory.clear()  # bounded; the SQLite file keeps them
        self._memory[key] = value
