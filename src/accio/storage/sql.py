"""SqlStorage: the :class:`~accio.storage.base.Storage` contract in SQLAlchemy Core.

Every query is written once for SQLite and PostgreSQL. Dialect branches are limited to
insert-or-ignore/upsert (:meth:`SqlStorage._insert`) and run text search
(:meth:`SqlStorage._text_condition`: FTS5 on SQLite, word-prefix regex on PostgreSQL).

Writes go through ``self._write_engine``, whose connections carry the ``accio_write`` execution
option; on SQLite the engine factory turns that into ``BEGIN IMMEDIATE`` so concurrent writers
queue on the busy timeout instead of failing on a stale read snapshot.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from accio.errors import NotFoundError
from accio.storage import schema as db
from accio.storage.base import RunExistsError, RunStateUpdate, Storage, StorageError
from accio.storage.records import (
    UNFINISHED_RUN_STATES,
    CacheEntry,
    LogLine,
    LogStream,
    NodeRecord,
    NodeState,
    RunRecord,
    RunsFilter,
    WorkflowRecord,
    dataset_digests,
    search_words,
)

#: Bound parameters per ``IN (...)`` query; far below SQLite's and PostgreSQL's limits.
CHUNK = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlStorage(Storage):
    """Storage in a SQL database reached through a SQLAlchemy engine.

    Build it with :func:`accio.storage.sqlite.open_storage`, which also migrates the schema.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(accio_write=True)
        self._dialect = engine.dialect.name
        self._fts = self._dialect == "sqlite" and self._has_table("runs_fts")
        self._local = threading.local()

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
        with self._engine.connect() as conn:
            yield conn

    def _insert(self, table: sa.Table) -> Any:
        """A dialect insert construct, which offers ``on_conflict_do_nothing/update``."""
        if self._dialect == "sqlite":
            return sqlite.insert(table)
        if self._dialect == "postgresql":
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

    # -- workflows ------------------------------------------------------------------------

    def push_workflow(self, rec: WorkflowRecord) -> bool:
        with self._write() as conn:
            exists = conn.execute(
                sa.select(db.workflows.c.version).where(
                    db.workflows.c.id == rec.id, db.workflows.c.version == rec.version
                )
            ).first()
            conn.execute(
                db.workflows.update()
                .where(db.workflows.c.id == rec.id, db.workflows.c.version != rec.version)
                .values(active=False)
            )
            if exists:
                conn.execute(
                    db.workflows.update()
                    .where(db.workflows.c.id == rec.id, db.workflows.c.version == rec.version)
                    .values(active=True)
                )
                return False
            conn.execute(db.workflows.insert(), [{**_workflow_row(rec), "active": True}])
            return True

    def get_workflow(self, id: str, version: str | None = None) -> WorkflowRecord:
        query = sa.select(db.workflows).where(db.workflows.c.id == id)
        if version is None:
            query = query.where(db.workflows.c.active.is_(True))
        else:
            query = query.where(db.workflows.c.version == version)
        with self._read() as conn:
            row = conn.execute(query.order_by(db.workflows.c.created.desc()).limit(1)).first()
        if row is None:
            what = f"{id}:{version}" if version is not None else id
            raise NotFoundError(f"no such workflow: {what}")
        return _workflow_from_row(row)

    def list_workflows(
        self,
        owner: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        include_inactive: bool = False,
    ) -> list[WorkflowRecord]:
        query = sa.select(db.workflows)
        if not include_inactive:
            query = query.where(db.workflows.c.active.is_(True))
        if owner is not None:
            query = query.where(db.workflows.c.owner == owner)
        if text:
            query = query.where(
                sa.or_(
                    db.workflows.c.id.icontains(text, autoescape=True),
                    db.workflows.c.name.icontains(text, autoescape=True),
                )
            )
        query = query.order_by(
            db.workflows.c.created.desc(), db.workflows.c.id, db.workflows.c.version
        ).offset(offset)
        query = query.limit(limit)
        with self._read() as conn:
            return [_workflow_from_row(row) for row in conn.execute(query)]

    def workflow_versions(self, id: str) -> list[WorkflowRecord]:
        wf = db.workflows
        query = sa.select(wf).where(wf.c.id == id).order_by(wf.c.created.desc(), wf.c.version)
        with self._read() as conn:
            return [_workflow_from_row(row) for row in conn.execute(query)]

    # -- runs -----------------------------------------------------------------------------

    def create_runs(self, runs: Sequence[RunRecord], nodes: Sequence[NodeRecord]) -> None:
        # Parents first, so the self-referencing foreign key holds row by row.
        ordered = sorted(runs, key=lambda r: r.parent_id is not None)
        top = [r for r in ordered if r.parent_id is None]
        tags_json: dict[tuple[str, ...], str] = {}
        run_rows = [_run_values(r, tags_json) for r in ordered]
        # Children share their parent's tags, so only top-level runs are indexed; tag filters
        # match a child through its parent.
        tag_rows = [(r.id, tag) for r in top for tag in dict.fromkeys(r.tags)]
        node_rows = [_node_values(n) for n in nodes]
        try:
            with self._write() as conn:
                self._bulk(conn, db.runs.insert(), RUN_COLUMNS, run_rows)
                self._bulk(conn, db.run_tags.insert(), TAG_COLUMNS, tag_rows)
                self._bulk(conn, db.nodes.insert(), NODE_COLUMNS, node_rows)
                self._bulk(conn, self._insert_ignore(db.artifact_refs), REF_COLUMNS, _refs(nodes))
                if self._fts:
                    fts_rows = [_fts_values(r) for r in top]
                    self._bulk(conn, db.runs_fts.insert(), FTS_COLUMNS, fts_rows)
        except StorageError as exc:
            taken = [r.id for r in self.get_runs([r.id for r in ordered])]
            if not taken:
                raise
            more = f" (and {len(taken) - 3} more)" if len(taken) > 3 else ""
            raise RunExistsError(f"run already exists: {', '.join(taken[:3])}{more}") from exc

    def get_run(self, id: str) -> RunRecord:
        with self._read() as conn:
            row = conn.execute(sa.select(db.runs).where(db.runs.c.id == id)).first()
        if row is None:
            raise NotFoundError(f"no such run: {id}")
        return _run_from_row(row)

    def get_runs(self, ids: Sequence[str]) -> list[RunRecord]:
        unique = list(dict.fromkeys(ids))
        found: dict[str, RunRecord] = {}
        with self._read() as conn:
            for part in chunks(unique):
                for row in conn.execute(sa.select(db.runs).where(db.runs.c.id.in_(part))):
                    found[row.id] = _run_from_row(row)
        return [found[i] for i in unique if i in found]

    def list_runs(self, f: RunsFilter) -> list[RunRecord]:
        query = (
            sa.select(db.runs)
            .where(*self._run_conditions(f))
            .order_by(db.runs.c.created.desc(), db.runs.c.id)
            .limit(f.limit)
            .offset(f.offset)
        )
        with self._read() as conn:
            return [_run_from_row(row) for row in conn.execute(query)]

    def count_runs(self, f: RunsFilter) -> int:
        query = sa.select(sa.func.count()).select_from(db.runs).where(*self._run_conditions(f))
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def _run_conditions(self, f: RunsFilter) -> list[sa.ColumnElement[bool]]:
        runs = db.runs.c
        conds: list[sa.ColumnElement[bool]] = []
        words = search_words(f.text)
        if f.parent_id is not None:
            conds.append(runs.parent_id == f.parent_id)
        elif f.top_level_only and not words:  # a text search keeps to top-level runs itself
            conds.append(runs.parent_id.is_(None))
        if f.workflow is not None:
            conds.append(runs.workflow_id == f.workflow)
        if f.owner is not None:
            conds.append(runs.owner == f.owner)
        if f.states:
            conds.append(runs.state.in_(f.states))
        for tag in dict.fromkeys(f.tags):
            tagged = sa.select(db.run_tags.c.run_id).where(db.run_tags.c.tag == tag)
            if f.parent_id is None and f.top_level_only:
                conds.append(runs.id.in_(tagged))
            else:
                conds.append(sa.or_(runs.id.in_(tagged), runs.parent_id.in_(tagged)))
        if words:
            conds.append(self._text_condition(words))
        return conds

    def _text_condition(self, words: list[str]) -> sa.ColumnElement[bool]:
        """Every word is a prefix of a word in the name, notes or tags of a top-level run.

        ``words`` hold letters and digits only (:func:`search_words`), so quoting them as FTS5
        strings or regex literals cannot inject syntax.
        """
        if self._fts:
            # runs_fts holds top-level runs only, so the match says it alone. Adding
            # ``parent_id IS NULL`` tempts SQLite into walking every top-level run through
            # ix_runs_parent_created and probing the match list for each (12 ms for 10^4 runs)
            # instead of reading the matches by id (0.3 ms).
            match = " ".join(f'"{w}"*' for w in words)
            hits = sa.select(db.runs_fts.c.run_id).where(
                sa.literal_column("runs_fts").op("MATCH")(match)
            )
            return db.runs.c.id.in_(hits)
        top = db.runs.c.parent_id.is_(None)
        columns = (db.runs.c.name, db.runs.c.notes, db.runs.c.tags)
        if self._dialect == "postgresql":
            return sa.and_(
                top, *(sa.or_(*(c.op("~*")(rf"\m{w}") for c in columns)) for w in words)
            )
        # SQLite built without FTS5: substring rather than word-prefix matching.
        return sa.and_(top, *(sa.or_(*(c.icontains(w) for c in columns)) for w in words))

    def children(
        self, parent_id: str, limit: int | None = None, offset: int = 0
    ) -> list[RunRecord]:
        query = (
            sa.select(db.runs)
            .where(db.runs.c.parent_id == parent_id)
            .order_by(db.runs.c.child_index, db.runs.c.id)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_run_from_row(row) for row in conn.execute(query)]

    def update_metadata(
        self,
        run_id: str,
        *,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> RunRecord:
        runs = db.runs
        with self._write() as conn:
            found = conn.execute(
                sa.select(runs.c.id, runs.c.parent_id).where(runs.c.id == run_id)
            ).first()
            if found is None:
                raise NotFoundError(f"no such run: {run_id}")
            target: str = found.parent_id or found.id
            values: dict[str, Any] = {}
            if name is not None:
                values["name"] = name or None
            if notes is not None:
                values["notes"] = notes or None
            if tags is not None:
                unique = list(dict.fromkeys(tags))
                values["tags"] = json.dumps(unique)
                conn.execute(db.run_tags.delete().where(db.run_tags.c.run_id == target))
                tag_rows = [(target, t) for t in unique]
                self._bulk(conn, db.run_tags.insert(), TAG_COLUMNS, tag_rows)
                # Children carry a copy of their parent's tags.
                conn.execute(
                    runs.update().where(runs.c.parent_id == target).values(tags=values["tags"])
                )
            if values:
                conn.execute(runs.update().where(runs.c.id == target).values(**values))
            record = _run_from_row(conn.execute(sa.select(runs).where(runs.c.id == target)).one())
            if self._fts and values:
                conn.execute(db.runs_fts.delete().where(db.runs_fts.c.run_id == target))
                fts = db.runs_fts.insert()
                self._bulk(conn, fts, FTS_COLUMNS, [_fts_values(record)])
            return record

    def set_run_states(self, updates: Sequence[RunStateUpdate]) -> None:
        stmt = (
            db.runs.update()
            .where(db.runs.c.id == sa.bindparam("_id"))
            .values(
                state=sa.bindparam("_state"),
                started=sa.bindparam("_started"),
                completed=sa.bindparam("_completed"),
                progress=sa.bindparam("_progress"),
            )
        )
        columns = ("_id", "_state", "_started", "_completed", "_progress")
        with self._write() as conn:
            self._bulk(conn, stmt, columns, [tuple(u) for u in updates])

    def delete_run(self, id: str) -> list[str]:
        runs = db.runs
        with self._write() as conn:
            if conn.execute(sa.select(runs.c.id).where(runs.c.id == id)).first() is None:
                raise NotFoundError(f"no such run: {id}")
            child_ids = conn.execute(
                sa.select(runs.c.id).where(runs.c.parent_id == id).order_by(runs.c.child_index)
            ).scalars()
            deleted = [id, *child_ids]
            family = sa.select(runs.c.id).where(sa.or_(runs.c.id == id, runs.c.parent_id == id))
            refs = db.artifact_refs
            conn.execute(refs.delete().where(refs.c.kind == "node", refs.c.run_id.in_(family)))
            # Explicit rather than relying on ON DELETE CASCADE, which SQLite only honours
            # on connections that enabled foreign keys.
            for table in (db.logs, db.nodes, db.run_tags):
                conn.execute(table.delete().where(table.c.run_id.in_(family)))
            if self._fts:
                conn.execute(db.runs_fts.delete().where(db.runs_fts.c.run_id == id))
            conn.execute(runs.delete().where(runs.c.parent_id == id))
            conn.execute(runs.delete().where(runs.c.id == id))
            return deleted

    def unfinished_runs(self) -> list[RunRecord]:
        query = (
            sa.select(db.runs)
            .where(db.runs.c.state.in_(UNFINISHED_RUN_STATES), db.runs.c.n_children == 0)
            .order_by(db.runs.c.created, db.runs.c.id)
        )
        with self._read() as conn:
            return [_run_from_row(row) for row in conn.execute(query)]

    # -- nodes ----------------------------------------------------------------------------

    def get_nodes(self, run_id: str) -> list[NodeRecord]:
        nodes = db.nodes
        query = sa.select(nodes).where(nodes.c.run_id == run_id).order_by(nodes.c.position)
        with self._read() as conn:
            return [NodeRecord(*row) for row in conn.execute(query)]

    def nodes_of_runs(self, run_ids: Sequence[str]) -> dict[str, list[NodeRecord]]:
        found: dict[str, list[NodeRecord]] = {run_id: [] for run_id in run_ids}
        nodes = db.nodes
        with self._read() as conn:
            for part in chunks(list(found)):
                query = (
                    sa.select(nodes)
                    .where(nodes.c.run_id.in_(part))
                    .order_by(nodes.c.run_id, nodes.c.position)
                )
                for row in conn.execute(query):
                    record = NodeRecord(*row)
                    found[record.run_id].append(record)
        return found

    def get_node(self, run_id: str, name: str) -> NodeRecord:
        query = sa.select(db.nodes).where(db.nodes.c.run_id == run_id, db.nodes.c.name == name)
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no such node: {run_id}/{name}")
        return NodeRecord(*row)

    def update_nodes(self, nodes: Sequence[NodeRecord]) -> None:
        latest = {(n.run_id, n.name): n for n in nodes}  # the last update of a node wins
        if not latest:
            return
        upsert = self._insert(db.nodes)
        upsert = upsert.on_conflict_do_update(
            index_elements=[db.nodes.c.run_id, db.nodes.c.name],
            set_={c.name: upsert.excluded[c.name] for c in db.nodes.c if not c.primary_key},
        )
        refs = db.artifact_refs
        forget = refs.delete().where(
            refs.c.kind == "node",
            refs.c.run_id == sa.bindparam("_run"),
            refs.c.node == sa.bindparam("_node"),
        )
        with self._write() as conn:
            self._bulk(conn, upsert, NODE_COLUMNS, [_node_values(n) for n in latest.values()])
            # Only nodes that referred to artifacts before can hold stale references.
            stale = [key for key in self._nodes_with_refs(conn, latest) if key in latest]
            self._bulk(conn, forget, ("_run", "_node"), stale)
            self._bulk(conn, self._insert_ignore(refs), REF_COLUMNS, _refs(latest.values()))

    def _nodes_with_refs(
        self, conn: Connection, keys: Iterable[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        refs = db.artifact_refs.c
        found: set[tuple[str, str]] = set()
        for part in chunks(list({run_id for run_id, _ in keys})):
            query = (
                sa.select(refs.run_id, refs.node)
                .where(refs.kind == "node", refs.run_id.in_(part))
                .distinct()
            )
            found.update((run_id, node) for run_id, node in conn.execute(query))
        return found

    def nodes_in_states(self, states: Sequence[NodeState]) -> list[NodeRecord]:
        if not states:
            return []
        nodes = db.nodes.c
        query = (
            sa.select(db.nodes)
            .join(db.runs, db.runs.c.id == nodes.run_id)
            .where(nodes.state.in_(states))
            .order_by(
                nodes.queued_at.is_(None),
                nodes.queued_at,
                db.runs.c.created,
                nodes.run_id,
                nodes.position,
            )
        )
        with self._read() as conn:
            return [NodeRecord(*row) for row in conn.execute(query)]

    def node_state_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        nodes = db.nodes.c
        counts: dict[str, dict[str, int]] = {}
        with self._read() as conn:
            for part in chunks(list(dict.fromkeys(run_ids))):
                query = (
                    sa.select(nodes.run_id, nodes.state, sa.func.count())
                    .where(nodes.run_id.in_(part))
                    .group_by(nodes.run_id, nodes.state)
                )
                for run_id, state, n in conn.execute(query):
                    counts.setdefault(run_id, {})[state] = int(n)
        return counts

    # -- cache ----------------------------------------------------------------------------

    def lookup_cache(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        found: dict[str, CacheEntry] = {}
        with self._read() as conn:
            for part in chunks(list(dict.fromkeys(keys))):
                query = sa.select(db.cache_entries).where(db.cache_entries.c.key.in_(part))
                for row in conn.execute(query):
                    found[row.key] = CacheEntry(*row)
        return found

    def record_cache(self, entries: Sequence[CacheEntry]) -> None:
        if not entries:
            return
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

    def close(self) -> None:
        self._engine.dispose()


# -- rows <-> records -----------------------------------------------------------------------
# Table columns are declared in the order of the record fields (a test checks it), so rows
# convert positionally, which matters for sweeps of 10^4 children.

RUN_COLUMNS: tuple[str, ...] = tuple(c.name for c in db.runs.c)
NODE_COLUMNS: tuple[str, ...] = tuple(c.name for c in db.nodes.c)
CACHE_COLUMNS: tuple[str, ...] = tuple(c.name for c in db.cache_entries.c)
LOG_COLUMNS = ("run_id", "node", "ts", "stream", "line")
TAG_COLUMNS = ("run_id", "tag")
FTS_COLUMNS = ("run_id", "name", "notes", "tags")
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


def _fts_values(r: RunRecord) -> tuple[str, str, str, str]:
    return (r.id, r.name or "", r.notes or "", " ".join(r.tags))


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
