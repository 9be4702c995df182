"""job strategy name (inline runs, sorting by name).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``jobs.strategy_name`` ('' for existing jobs: they sort by their strategy id)."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("strategy_name", sa.String(length=200), nullable=False, server_default="")
        )


def downgrade() -> None:
    """Drop ``jobs.strategy_name``."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("strategy_name")
