"""Run search also finds parameter values and child names: ``runs_fts`` gains a ``params``
column (``name=value`` of a run's parameters and, for a sweep, its children's names and
parameters), filled here for the runs already stored.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from accio.storage.base import search_text
from accio.storage.records import RunRecord

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

NEW_DDL = (
    "CREATE VIRTUAL TABLE runs_fts USING fts5("
    "run_id UNINDEXED, name, notes, tags, params, tokenize = 'unicode61 remove_diacritics 2')"
)
OLD_DDL = (
    "CREATE VIRTUAL TABLE runs_fts USING fts5("
    "run_id UNINDEXED, name, notes, tags, tokenize = 'unicode61 remove_diacritics 2')"
)


def _has_fts_table(bind: sa.Connection) -> bool:
    found = bind.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs_fts'"
    ).first()
    return found is not None


def _record(row: sa.Row) -> RunRecord:  # type: ignore[type-arg]
    """Enough of a run for :func:`search_text` (name and params)."""
    return RunRecord(
        row.id, row.parent_id, "", "", row.name, None, (), "", 0.0, 0, row.params or "{}",
        0, None, "pending", None, None, 0,
    )  # fmt: skip


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or not _has_fts_table(bind):
        return
    op.execute("DROP TABLE runs_fts")
    op.execute(NEW_DDL)
    rows = bind.exec_driver_sql(
        "SELECT id, parent_id, name, notes, tags, params FROM runs ORDER BY child_index"
    ).all()
    children: dict[str, list[RunRecord]] = {}
    for row in rows:
        if row.parent_id is not None:
            children.setdefault(row.parent_id, []).append(_record(row))
    import json

    values = [
        {
            "run_id": row.id,
            "name": row.name or "",
            "notes": row.notes or "",
            "tags": " ".join(json.loads(row.tags or "[]")),
            "params": search_text(_record(row), children.get(row.id, [])),
        }
        for row in rows
        if row.parent_id is None
    ]
    if values:
        bind.execute(
            sa.text(
                "INSERT INTO runs_fts (run_id, name, notes, tags, params) "
                "VALUES (:run_id, :name, :notes, :tags, :params)"
            ),
            values,
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or not _has_fts_table(bind):
        return
    op.execute("DROP TABLE runs_fts")
    op.execute(OLD_DDL)
    op.execute(
        "INSERT INTO runs_fts (run_id, name, notes, tags) "
        "SELECT id, coalesce(name, ''), coalesce(notes, ''), '' FROM runs WHERE parent_id IS NULL"
    )
