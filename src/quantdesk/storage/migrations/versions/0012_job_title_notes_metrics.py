"""job title, notes, headline metrics and code version (the jobs list and reports).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None
#: The columns this revision adds, in the order ``downgrade`` drops them.
DROPPED = (
    "run_seconds", "max_drawdown", "sharpe", "total_returns", "strategy_version", "notes", "title",
)  # fmt: skip


def upgrade() -> None:
    """Add ``jobs.title``, ``notes``, ``strategy_version`` and the headline metrics."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("title", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("strategy_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("total_returns", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("sharpe", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_drawdown", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("run_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name in DROPPED:
            batch_op.drop_column(name)
