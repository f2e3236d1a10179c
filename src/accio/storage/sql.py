"""SqlStorage: the :class:`~accio.storage.base.Storage` contract in SQLAlchemy Core.

Every query is written once for SQLite and PostgreSQL. Dialect branches are limited to
insert-or-ignore/upsert (:meth:`SqlBase._insert`) and run text search
(:meth:`SqlStorage._text_condition`: FTS5 on SQLite, word-prefix regex on PostgreSQL).
Connections, bulk writes and the cache, artifact and log tables live in
:mod:`accio.storage.sqlbase`; this module holds workflows, runs and nodes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accio.errors import NotFoundError
from accio.states import UNFINISHED_RUN_STATES, NodeState
from accio.storage import schema as db
from accio.storage.base import (
    RunExistsError,
    RunStateUpdate,
    StorageError,
    search_phrases,
    search_text,
)
from accio.storage.records import (
    NodeRecord,
    RunRecord,
    RunsFilter,
    WorkflowRecord,
    search_words,
)
from accio.storage.sqlaccounts import SqlAccounts
from accio.storage.sqlbase import (
    CACHE_COLUMNS,
    FTS_COLUMNS,
    NODE_COLUMNS,
    REF_COLUMNS,
    RUN_COLUMNS,
    TAG_COLUMNS,
    SqlBase,
    _fts_values,
    _node_values,
    _refs,
    _run_from_row,
    _run_values,
    _workflow_from_row,
    _workflow_row,
    chunks,
    phrase_condition,
)


class SqlStorage(SqlAccounts, SqlBase):
    """Storage in a SQL database reached through a SQLAlchemy engine.

    Build it with :func:`accio.storage.sqlite.open_storage`, which also migrates the schema.
    """

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
                    kids: dict[str, list[RunRecord]] = {}
                    for r in ordered:
                        if r.parent_id is not None:
                            kids.setdefault(r.parent_id, []).append(r)
                    fts_rows = [_fts_values(r, search_text(r, kids.get(r.id, []))) for r in top]
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
            conds.append(self._text_condition(f.text or ""))
        return conds

    def _text_condition(self, text: str) -> sa.ColumnElement[bool]:
        """Every term of the text (:func:`search_phrases`) is found in the name, notes or tags of
        a top-level run, in its parameters (``name=value``) or in its children's names and
        parameters.

        Terms hold letters and digits only, so quoting them as FTS5 strings or regex literals
        cannot inject syntax.
        """
        phrases = search_phrases(text)
        if self._fts:
            # runs_fts holds top-level runs only, so the match says it alone. Adding
            # ``parent_id IS NULL`` tempts SQLite into walking every top-level run through
            # ix_runs_parent_created and probing the match list for each (12 ms for 10^4 runs)
            # instead of reading the matches by id (0.3 ms).
            match = " ".join(f'"{" ".join(p)}"*' for p in phrases)
            hits = sa.select(db.runs_fts.c.run_id).where(
                sa.literal_column("runs_fts").op("MATCH")(match)
            )
            return db.runs.c.id.in_(hits)
        return sa.and_(
            db.runs.c.parent_id.is_(None), *(phrase_condition(self._dialect, p) for p in phrases)
        )

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

    def run_ids_with_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        ids = db.runs.c.id
        if self._dialect == "sqlite":
            # A range on the primary key (an index seek; SQLite compares text bytewise): LIKE
            # would be case-insensitive there and could not use the index.
            match = sa.and_(ids >= prefix, ids < prefix + "\U0010ffff")
        else:  # collations order text by locale, so a range is not a prefix test there
            match = ids.startswith(prefix, autoescape=True)
        query = sa.select(ids).where(match).order_by(ids).limit(limit)
        with self._read() as conn:
            return [i for i in conn.execute(query).scalars() if i.startswith(prefix)]

    def child_state_counts(self, parent_id: str) -> dict[str, int]:
        runs = db.runs.c
        query = (
            sa.select(runs.state, sa.func.count())
            .where(runs.parent_id == parent_id)
            .group_by(runs.state)
        )
        with self._read() as conn:
            return {str(state): int(n) for state, n in conn.execute(query)}

    def child_node_counts(self, parent_id: str) -> dict[str, dict[str, int]]:
        nodes, runs = db.nodes.c, db.runs.c
        query = (
            sa.select(nodes.name, nodes.state, sa.func.count())
            .select_from(db.nodes.join(db.runs, nodes.run_id == runs.id))
            .where(runs.parent_id == parent_id)
            .group_by(nodes.name, nodes.state)
        )
        out: dict[str, dict[str, int]] = {}
        with self._read() as conn:
            for name, state, n in conn.execute(query):
                out.setdefault(str(name), {})[str(state)] = int(n)
        return out

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
                fts_row = db.runs_fts.c.run_id == target
                kept = conn.execute(sa.select(db.runs_fts.c.params).where(fts_row)).scalar()
                conn.execute(db.runs_fts.delete().where(fts_row))
                fts = db.runs_fts.insert()
                self._bulk(conn, fts, FTS_COLUMNS, [_fts_values(record, kept or "")])
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

    def nodes_of_runs(
        self, run_ids: Sequence[str], *, started_only: bool = False
    ) -> dict[str, list[NodeRecord]]:
        found: dict[str, list[NodeRecord]] = {run_id: [] for run_id in run_ids}
        nodes = db.nodes
        with self._read() as conn:
            for part in chunks(list(found)):
                query = sa.select(nodes).where(nodes.c.run_id.in_(part))
                if started_only:
                    query = query.where(nodes.c.state != "pending")
                query = query.order_by(nodes.c.run_id, nodes.c.position)
                for row in conn.execute(query):
                    record = NodeRecord(*row)
                    found[record.run_id].append(record)
        return found

    def started_nodes_of_runs(self, run_ids: Sequence[str]) -> dict[str, list[NodeRecord]]:
        return self.nodes_of_runs(run_ids, started_only=True)

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


__all__ = ["CACHE_COLUMNS", "NODE_COLUMNS", "RUN_COLUMNS", "SqlStorage", "chunks"]
