"""Nodes record where they ran (``"slurm job 1234 on HOST"``, ``"HOST pid PID"``), so a user can
find the batch job or machine of any node; nodes stored before have ``""`` (unknown).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("nodes", sa.Column("ran_on", sa.String, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("ran_on")
