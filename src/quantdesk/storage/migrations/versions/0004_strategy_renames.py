"""strategy renames.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the ``strategy_renames`` table (an owner's old strategy id -> its new one)."""
    op.create_table(
        "strategy_renames",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("from_id", sa.String(length=64), nullable=False),
        sa.Column("to_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("owner_id", "from_id"),
    )


def downgrade() -> None:
    """Drop the ``strategy_renames`` table."""
    op.drop_table("strategy_renames")
