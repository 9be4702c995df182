"""job idempotency key.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``jobs.idempotency_key``, indexed with the owner."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=128), nullable=True))
        batch_op.create_index(
            "ix_jobs_owner_idempotency_key", ["owner_id", "idempotency_key"], unique=False
        )


def downgrade() -> None:
    """Drop ``jobs.idempotency_key`` and its index."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_owner_idempotency_key")
        batch_op.drop_column("idempotency_key")
