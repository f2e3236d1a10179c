"""The plumbing of SqlStorage (connections, transactions, bulk writes, rows <-> records) and the
cache, artifact and log tables; :mod:`accio.storage.sql` adds workflows, runs and nodes.

Every query is written once for SQLite and PostgreSQL. Dialect branches are limited to
insert-or-ignore/upsert (:meth:`SqlBase._insert`) and run text search
(:meth:`accio.storage.sql.SqlStorage._text_condition`: FTS5 on SQLite, word-prefix regex on PostgreSQL).

Writes go through ``self._write_engine``, whose connections carry the ``accio_write`` execution
option; on SQLite the engine factory turns that into ``BEGIN IMMEDIATE`` so concurrent writers
queue on the busy timeout instead of failing on a stale read snapshot.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine, Row

from accio.storage import schema as db
from accio.storage.base import Storage, StorageError
from accio.storage.records import (
    CacheEntry,
    LogLine,
    LogStream,
    NodeRecord,
    RunRecord,
    WorkflowRecord,
    dataset_digests,
)

#: Bound parameters per ``IN (...)`` query; far below SQLite's and PostgreSQL's limits.
CHUNK = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


_VERSION_LOCK = threading.Lock()
#: Seconds to connect for the PostgreSQL change token (the web server waits on it).
PG_CONNECT_TIMEOUT_S = 5


def _snapshot_of(conn: Any) -> str:
    """PostgreSQL's current snapshot through a plain DB-API connection (any driver)."""
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT txid_current_snapshot()::text")
        return str(cursor.fetchone()[0])
    finally:
        cursor.close()


class SqlBase(Storage):
    """Connections, transactions and bulk writes of a SQL storage, and its cache, artifact and
    log tables: the parts that do not depend on how runs are queried."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(accio_write=True)
        self._dialect = engine.dialect.name
        # PostgreSQL reads outside a transaction: under READ COMMITTED every statement takes
        # its own snapshot anyway, and a read then costs one round trip instead of three
        # (BEGIN, the query, ROLLBACK when the pool takes the connection back): the web
        # server's pages are a handful of such reads.
        self._read_engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._dialect == "postgresql"
            else engine
        )
        self._fts = self._dialect == "sqlite" and self._has_table("runs_fts")
        self._local = threading.local()
        self._version_conn: sqlite3.Connection | None = None
        self._pg_version_conn: Any = None  # a psycopg connection, made on first use

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def has_fts(self) -> bool:
        """Whether run text search uses the SQLite FTS5 index."""
        return self._fts

    def _has_table(self, name: str) -> bool:
        with self._engine.connect() as conn:
            return sa.inspect(conn).has_table(name)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction; integrity violations become :class:`StorageError`.

        Inside :meth:`transaction` (same thread) the writes join that transaction instead.
        """
        current: Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        try:
            with self._write_engine.begin() as conn:
                yield conn
        except sa.exc.IntegrityError as exc:
            raise StorageError(f"the database refused the write: {exc.orig}") from exc
        except sa.exc.OperationalError as exc:
            raise StorageError(f"the database is busy or unavailable: {exc.orig}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group this thread's writes into one transaction (the scheduler's flushes)."""
        with self._write() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._read_engine.connect() as conn:
            yield conn

    def _insert(self, table: sa.Table) -> Any:
        """A dialect insert construct, which offers ``on_conflict_do_nothing/update``."""
        if self._dialect == "sqlite":
            return sqlite.insert(table)
        if self._dialect == "postgresql":
            from sqlalchemy.dialects import postgresql  # 40 ms of start-up a SQLite home spares

            return postgresql.insert(table)
        raise StorageError(f"unsupported database dialect {self._dialect!r}")

    def _insert_ignore(self, table: sa.Table) -> Any:
        return self._insert(table).on_conflict_do_nothing()

    def _bulk(
        self,
        conn: Connection,
        stmt: Any,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """Execute ``stmt`` for every row (values in ``columns`` order) as one ``executemany``.

        On SQLite the statement is compiled once and the tuples go straight to the driver:
        SQLAlchemy's per-row parameter processing would cost more than SQLite itself (about
        1 s for a sweep of 10^4 children). None of our columns needs bind conversion there.
        """
        if not rows:
            return
        if self._dialect != "sqlite":
            conn.execute(stmt, [dict(zip(columns, row, strict=True)) for row in rows])
            return
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
        names = list(compiled.positiontup or ())
        if names != list(columns):
            # Reorder, and fill in the constants of the statement (``kind == 'node'``).
            consts = {k: compiled.binds[k].effective_value for k in names if k not in columns}
            picks = [columns.index(k) if k in columns else -1 for k in names]
            rows = [
                tuple(row[i] if i >= 0 else consts[k] for i, k in zip(picks, names, strict=True))
                for row in rows
            ]
        conn.exec_driver_sql(compiled.string, list(rows))

    # -- cache ----------------------------------------------------------------------------

    def lookup_cache(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        found: dict[str, CacheEntry] = {}
        with self._read() as conn:
            for part in chunks(list(dict.fromkeys(keys))):
                query = sa.select(db.cache_entries).where(db.cache_entries.c.key.in_(part))
                for row in conn.execute(query):
                    found[row.key] = CacheEntry(*row)
        return self._guarded(found)

    def record_cache(self, entries: Sequence[CacheEntry], replace: bool = False) -> None:
        if not entries:
            return
        if replace:
            self.delete_cache_entries([e.key for e in entries])
        cache = db.cache_entries
        with self._write() as conn:
            rows = [_cache_values(e) for e in entries]
            self._bulk(conn, self._insert_ignore(cache), CACHE_COLUMNS, rows)
            # Reference what was actually stored: outputs of a writer that lost the race to an
            # existing key must not keep their artifacts alive.
            with_data = list(dict.fromkeys(e.key for e in entries if dataset_digests(e.outputs)))
            refs: list[tuple[str, ...]] = []
            for part in chunks(with_data):
                query = sa.select(cache.c.run_id, cache.c.node, cache.c.outputs).where(
                    cache.c.key.in_(part)
                )
                for run_id, node, outputs in conn.execute(query):
                    refs.extend(_ref_values("cache", run_id, node, outputs))
            self._bulk(conn, self._insert_ignore(db.artifact_refs), REF_COLUMNS, refs)

    def cache_entries_for_op(self, op: str, limit: int = 200) -> list[CacheEntry]:
        cache = db.cache_entries
        query = (
            sa.select(cache)
            .where(cache.c.op == op)
            .order_by(cache.c.created.desc(), cache.c.key)
            .limit(limit)
        )
        with self._read() as conn:
            return [CacheEntry(*row) for row in conn.execute(query)]

    def delete_cache_entries(self, keys: Sequence[str]) -> int:
        cache, refs = db.cache_entries, db.artifact_refs
        forget = refs.delete().where(
            refs.c.kind == "cache",
            refs.c.run_id == sa.bindparam("_run"),
            refs.c.node == sa.bindparam("_node"),
        )
        deleted = 0
        with self._write() as conn:
            for part in chunks(list(dict.fromkeys(keys))):
                query = sa.select(cache.c.run_id, cache.c.node).where(cache.c.key.in_(part))
                producers = [tuple(row) for row in conn.execute(query)]
                self._bulk(conn, forget, ("_run", "_node"), producers)
                conn.execute(cache.delete().where(cache.c.key.in_(part)))
                deleted += len(producers)
        return deleted

    def cache_entries_with_digests(self, digests: Sequence[str]) -> list[CacheEntry]:
        cache, refs = db.cache_entries, db.artifact_refs
        found: dict[str, CacheEntry] = {}
        with self._read() as conn:
            for part in chunks(list(dict.fromkeys(digests))):
                query = (
                    sa.select(cache)
                    .join(
                        refs,
                        sa.and_(
                            refs.c.kind == "cache",
                            refs.c.run_id == cache.c.run_id,
                            refs.c.node == cache.c.node,
                        ),
                    )
                    .where(refs.c.digest.in_(part))
                )
                for row in conn.execute(query):
                    found[row.key] = CacheEntry(*row)
        return [found[key] for key in sorted(found)]

    # -- artifacts ------------------------------------------------------------------------

    def record_artifacts(self, items: Sequence[tuple[str, int]]) -> None:
        now = time.time()
        rows = [(digest, size, now) for digest, size in items]
        with self._write() as conn:
            self._bulk(conn, self._insert_ignore(db.artifacts), ARTIFACT_COLUMNS, rows)

    def artifact_records(self) -> dict[str, int]:
        query = sa.select(db.artifacts.c.digest, db.artifacts.c.size)
        with self._read() as conn:
            return {digest: int(size) for digest, size in conn.execute(query)}

    def cache_index(self) -> list[tuple[str, str, str]]:
        c = db.cache_entries.c
        with self._read() as conn:
            return [(k, r, n) for k, r, n in conn.execute(sa.select(c.key, c.run_id, c.node))]

    def node_cache_keys(self) -> list[tuple[str, str]]:
        n = db.nodes.c
        query = sa.select(n.run_id, n.cache_key).where(n.cache_key.is_not(None))
        with self._read() as conn:
            return [(r, k) for r, k in conn.execute(query)]

    def artifact_references(self) -> list[tuple[str, str, str, str]]:
        with self._read() as conn:
            return [tuple(row) for row in conn.execute(sa.select(db.artifact_refs))]

    def referenced_digests(self) -> set[str]:
        query = sa.select(db.artifact_refs.c.digest).distinct()
        with self._read() as conn:
            return set(conn.execute(query).scalars())

    def delete_artifact_records(self, digests: Sequence[str]) -> None:
        with self._write() as conn:
            for part in chunks(list(dict.fromkeys(digests))):
                conn.execute(db.artifacts.delete().where(db.artifacts.c.digest.in_(part)))

    # -- logs -----------------------------------------------------------------------------

    def append_logs(self, lines: Sequence[LogLine]) -> None:
        with self._write() as conn:
            rows = [_log_values(x) for x in lines]
            self._bulk(conn, db.logs.insert(), LOG_COLUMNS, rows)

    def get_logs(
        self,
        run_id: str,
        node: str | None,
        streams: Sequence[LogStream] = ("stdout", "stderr"),
        limit: int | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        logs = db.logs.c
        query = sa.select(logs.run_id, logs.node, logs.ts, logs.stream, logs.line).where(
            logs.run_id == run_id, logs.stream.in_(list(streams))
        )
        if node is not None:
            query = query.where(logs.node == node)
        if since is not None:
            query = query.where(logs.ts > since)
        if limit is None:
            query = query.order_by(logs.ts, logs.id)
        else:
            query = query.order_by(logs.ts.desc(), logs.id.desc()).limit(limit)
        with self._read() as conn:
            lines = [LogLine(*row) for row in conn.execute(query)]
        return lines if limit is None else lines[::-1]

    def change_token(self) -> Hashable | None:
        """A value that changes whenever a commit to the database, by any connection of any
        process, became visible, so that a reader may keep what it computed while it stays the
        same: SQLite's ``data_version``; on PostgreSQL the current snapshot (``xmax`` and the
        transactions in progress: a commit removes one, a new writer raises ``xmax``; readers
        take no transaction id, so they change nothing). None where there is none."""
        if self._dialect == "postgresql":
            return self._pg_snapshot()
        database = self._engine.url.database
        if self._dialect != "sqlite" or not database or database == ":memory:":
            return None
        with _VERSION_LOCK:
            conn = self._version_conn
            if conn is None:  # its own connection: one that never writes
                conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
                self._version_conn = conn
            return int(conn.execute("PRAGMA data_version").fetchone()[0])

    def _pg_snapshot(self) -> str:
        """The snapshot, on a connection of its own (the web server asks on every request: no
        pool checkout, no pre-ping, one round trip). A connection that broke since its last
        use is replaced once; a failing new one raises at once (PostgreSQL down)."""
        with _VERSION_LOCK:
            conn = self._pg_version_conn
            if conn is not None:
                try:
                    return _snapshot_of(conn)
                except Exception:  # dropped (a restart, an idle timeout): a new one below
                    self._pg_version_conn = None
                    with contextlib.suppress(Exception):
                        conn.close()
            dialect = self._engine.dialect
            args, kwargs = dialect.create_connect_args(self._engine.url)
            kwargs.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
            conn = dialect.connect(*args, **kwargs)
            conn.autocommit = True
            self._pg_version_conn = conn
            return _snapshot_of(conn)

    def close(self) -> None:
        if self._version_conn is not None:
            self._version_conn.close()
        with _VERSION_LOCK:
            if self._pg_version_conn is not None:
                with contextlib.suppress(Exception):
                    self._pg_version_conn.close()
                self._pg_version_conn = None
        self._engine.dispose()


# -- rows <-> records -----------------------------------------------------------------------
# Table columns are declared in the order of the record fields (a test checks it), so rows
# convert positionally, which matters for sweeps of 10^4 children.

RUN_COLUMNS: tuple[str, ...] = tuple(c.name for c in db.runs.c)
NODE_COLUMNS: tuple[str, ...] = tuple(c.name for c in db.nodes.c)
CACHE_COLUMNS: tuple[str, ...] = tuple(c.name for c in db.cache_entries.c)
LOG_COLUMNS = ("run_id", "node", "ts", "stream", "line")
TAG_COLUMNS = ("run_id", "tag")
FTS_COLUMNS = ("run_id", "name", "notes", "tags", "params")
REF_COLUMNS = ("kind", "run_id", "node", "digest")
ARTIFACT_COLUMNS = ("digest", "size", "created")
_TAGS = RUN_COLUMNS.index("tags")

_node_values = attrgetter(*NODE_COLUMNS)
_cache_values = attrgetter(*CACHE_COLUMNS)
_log_values = attrgetter(*LOG_COLUMNS)
_run_getter = attrgetter(*RUN_COLUMNS)


def _run_values(r: RunRecord, tags_json: dict[tuple[str, ...], str]) -> tuple[Any, ...]:
    """A run as a row; ``tags_json`` memoises the encoding that children share."""
    encoded = tags_json.get(r.tags)
    if encoded is None:
        encoded = tags_json[r.tags] = json.dumps(list(dict.fromkeys(r.tags)))
    values: tuple[Any, ...] = _run_getter(r)
    return (*values[:_TAGS], encoded, *values[_TAGS + 1 :])


def _run_from_row(row: Row[Any]) -> RunRecord:
    values: list[Any] = list(row)
    values[_TAGS] = tuple(json.loads(values[_TAGS]))
    return RunRecord(*values)


def _fts_values(r: RunRecord, params: str) -> tuple[str, str, str, str, str]:
    return (r.id, r.name or "", r.notes or "", " ".join(r.tags), params)


def _ref_values(kind: str, run_id: str, node: str, outputs: str | None) -> list[tuple[str, ...]]:
    return [(kind, run_id, node, digest) for digest in sorted(dataset_digests(outputs))]


def _refs(nodes: Iterable[NodeRecord]) -> list[tuple[str, ...]]:
    """Artifact references of nodes' outputs."""
    return [
        ref for n in nodes if n.outputs for ref in _ref_values("node", n.run_id, n.name, n.outputs)
    ]


def _workflow_from_row(row: Row[Any]) -> WorkflowRecord:
    return WorkflowRecord(
        id=row.id,
        version=row.version,
        definition=row.definition,
        name=row.name,
        owner=row.owner,
        created=row.created,
        active=bool(row.active),
    )


def _workflow_row(rec: WorkflowRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "version": rec.version,
        "definition": rec.definition,
        "name": rec.name,
        "owner": rec.owner,
        "created": rec.created,
        "active": rec.active,
    }


def phrase_condition(dialect: str, phrase: list[str]) -> sa.ColumnElement[bool]:
    """One term without FTS5: a word-prefix regex (PostgreSQL) or a substring (SQLite) over
    the name, notes, tags and parameters of the run and of its children."""
    runs = db.runs.c
    if dialect == "postgresql":
        pattern = r"\m" + r"\W+".join(phrase)

        def hit(c: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
            return c.op("~*")(pattern)
    else:
        text = " ".join(phrase)

        def hit(c: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
            return sa.func.lower(
                sa.func.replace(sa.func.replace(sa.func.replace(c, "=", " "), ".", " "), "-", " ")
            ).contains(text, autoescape=True)

    own = [hit(runs.name), hit(runs.notes), hit(runs.tags)]
    child = db.runs.alias("child")
    in_children = runs.id.in_(
        sa.select(child.c.parent_id).where(
            sa.or_(hit(child.c.name), _param_hit(child.c.params, phrase))
        )
    )
    return sa.or_(*own, _param_hit(runs.params, phrase), in_children)


def _param_hit(column: sa.ColumnElement[Any], phrase: list[str]) -> sa.ColumnElement[bool]:
    """``name=value`` in a params JSON text ``{"name": {"type": ..., "value": V}}`` (its
    first word the name, the others the value's words in order; approximate, as substrings)."""
    if len(phrase) < 2:
        return column.icontains(f'"{phrase[0]}', autoescape=True)
    name, rest = phrase[0], phrase[1:]
    key = column.icontains(f'"{name}":', autoescape=True)
    return sa.and_(key, *(column.icontains(w, autoescape=True) for w in rest))
