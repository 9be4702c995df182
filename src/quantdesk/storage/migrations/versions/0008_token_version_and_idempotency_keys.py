"""user token version, idempotency keys.

Revision ID: 0008
Revises: 0007

Keys already on jobs are copied with no fingerprint (their first body was not recorded):
they keep returning their job for the usual 24 hours.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``users.token_version`` (0); create ``idempotency_keys``, filled from the jobs' keys."""
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "idempotency_keys",
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "key"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.execute(
        "INSERT INTO idempotency_keys (owner_id, key, fingerprint, job_id, created_at) "
        "SELECT owner_id, idempotency_key, NULL, MIN(id), MIN(created_at) FROM jobs "
        "WHERE idempotency_key IS NOT NULL GROUP BY owner_id, idempotency_key"
    )


def downgrade() -> None:
    """Drop the ``idempotency_keys`` table and ``users.token_version``."""
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_version")
