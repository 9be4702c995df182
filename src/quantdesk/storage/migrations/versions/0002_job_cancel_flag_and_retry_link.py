"""job cancel flag and retry link.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``jobs.cancel_requested`` (false for existing jobs) and ``jobs.retry_of``."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("retry_of", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Drop ``jobs.retry_of`` and ``jobs.cancel_requested``."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("retry_of")
        batch_op.drop_column("cancel_requested")
