"""Initial schema: workflows, runs, tags, nodes, cache index, artifacts, logs, FTS.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Written out rather than imported from schema.py: a migration must keep creating the schema of
# its own revision when schema.py moves on. A test checks the two agree at head.
BigInt = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")

RUNS_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS runs_fts USING fts5("
    "run_id UNINDEXED, name, notes, tags, tokenize = 'unicode61 remove_diacritics 2')"
)


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("version", sa.String, primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("name", sa.String),
        sa.Column("owner", sa.String),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_workflows_active_created", "workflows", ["active", "created"])

    op.create_table(
        "runs",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("parent_id", sa.String, sa.ForeignKey("runs.id", ondelete="CASCADE")),
        sa.Column("workflow_id", sa.String, nullable=False),
        sa.Column("workflow_version", sa.String, nullable=False),
        sa.Column("name", sa.String),
        sa.Column("notes", sa.Text),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("owner", sa.String, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("seed", BigInt, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("repeat_index", sa.Integer, nullable=False),
        sa.Column("child_index", sa.Integer),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("started", sa.Float),
        sa.Column("completed", sa.Float),
        sa.Column("n_children", sa.Integer, nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
    )
    op.create_index("ix_runs_parent_child", "runs", ["parent_id", "child_index"])
    op.create_index("ix_runs_created", "runs", ["created"])
    op.create_index("ix_runs_workflow", "runs", ["workflow_id"])
    op.create_index("ix_runs_owner", "runs", ["owner"])
    op.create_index("ix_runs_state", "runs", ["state"])

    op.create_table(
        "run_tags",
        sa.Column(
            "run_id", sa.String, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("tag", sa.String, primary_key=True),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag"])

    op.create_table(
        "nodes",
        sa.Column(
            "run_id", sa.String, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("op", sa.String, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("cache_key", sa.String),
        sa.Column("seed", BigInt),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("queued_at", sa.Float),
        sa.Column("started", sa.Float),
        sa.Column("completed", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("outputs", sa.Text),
        sa.Column("cache_source", sa.String),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_nodes_state", "nodes", ["state"])

    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("op", sa.String, nullable=False),
        sa.Column("op_version", sa.String, nullable=False),
        sa.Column("code_hash", sa.String, nullable=False),
        sa.Column("components", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("node", sa.String, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
    )
    op.create_index("ix_cache_entries_op_created", "cache_entries", ["op", "created"])

    op.create_table(
        "artifacts",
        sa.Column("digest", sa.String, primary_key=True),
        sa.Column("size", BigInt, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )

    op.create_table(
        "artifact_refs",
        sa.Column("kind", sa.String, primary_key=True),
        sa.Column("run_id", sa.String, primary_key=True),
        sa.Column("node", sa.String, primary_key=True),
        sa.Column("digest", sa.String, primary_key=True),
    )
    op.create_index("ix_artifact_refs_digest", "artifact_refs", ["digest"])

    op.create_table(
        "logs",
        sa.Column("id", BigInt, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("node", sa.String, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("stream", sa.String, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_index("ix_logs_run_node_ts", "logs", ["run_id", "node", "ts"])

    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and _has_fts5(bind):
        op.execute(RUNS_FTS_DDL)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS runs_fts")
    for table in (
        "logs",
        "artifact_refs",
        "artifacts",
        "cache_entries",
        "nodes",
        "run_tags",
        "runs",
        "workflows",
    ):
        op.drop_table(table)


def _has_fts5(bind: sa.Connection) -> bool:
    """Whether this SQLite build has FTS5; without it, text search falls back to LIKE."""
    used = bind.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar()
    return bool(used)
