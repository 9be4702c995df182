"""User rows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from quantdesk.storage.models import UserRow


def get_by_mobile(session: Session, mobile: str) -> UserRow | None:
    """The user with login ``mobile``."""
    return session.scalars(select(UserRow).where(UserRow.mobile == mobile)).first()


def get(session: Session, user_id: int) -> UserRow | None:
    """The user with id ``user_id``."""
    return session.get(UserRow, user_id)


def bump_token_version(session: Session, user_id: int) -> int:
    """Revoke every token of ``user_id`` issued so far: ``token_version += 1``.

    Atomically in the database (two concurrent bumps both count), in the caller's transaction.

    Returns:
        The new version (0 when there is no such user).
    """
    session.execute(
        update(UserRow)
        .where(UserRow.id == user_id)
        .values(token_version=UserRow.token_version + 1)
        .execution_options(synchronize_session="fetch")
    )
    version = session.scalar(select(UserRow.token_version).where(UserRow.id == user_id))
    return int(version or 0)


def upsert(
    session: Session,
    *,
    user_id: int,
    mobile: str,
    password_hash: str,
    is_admin: bool,
    role: str,
    now: dt.datetime,
) -> UserRow:
    """Create or update the user ``user_id`` (used for the local admin at start-up)."""
    row = session.get(UserRow, user_id)
    if row is None:
        row = UserRow(id=user_id, mobile=mobile, created_at=now, disabled=False)
        session.add(row)
    row.mobile = mobile
    row.password_hash = password_hash
    row.is_admin = is_admin
    row.role = role
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # An explicit id does not advance the serial sequence; keep new users from reusing it.
        session.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), "
                "GREATEST((SELECT MAX(id) FROM users), 1))"
            )
        )
    return row
