"""job sandbox level.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``jobs.sandbox_level`` (null for existing jobs)."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sandbox_level", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Drop ``jobs.sandbox_level``."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("sandbox_level")
