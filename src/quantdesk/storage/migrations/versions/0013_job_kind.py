"""job kind (backtests and data updates share the jobs table).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``jobs.kind`` (``backtest`` for every existing job)."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="backtest")
        )


def downgrade() -> None:
    """Drop ``jobs.kind``."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("kind")
