"""Index runs by (parent_id, created): the runs list (top-level runs, newest first) reads its page
straight from the index instead of sorting every top-level run on each request.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_runs_parent_created", "runs", ["parent_id", "created"])


def downgrade() -> None:
    op.drop_index("ix_runs_parent_created", table_name="runs")
