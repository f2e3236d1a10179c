"""Accounts: ``users`` and ``tokens`` (a SHA-256 hash of each API token, never the token).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column(
            "user", sa.String, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("hash", sa.String, nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("revoked", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    op.drop_table("users")
