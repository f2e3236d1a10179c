"""Web UI sessions: a row per sign-in, so that signing out ends the session on the server (a
replayed cookie of an ended session signs in no more).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column(
            "user", sa.String, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "token_id", sa.String, sa.ForeignKey("tokens.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.Column("ended", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("sessions")
