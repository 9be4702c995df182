"""User rows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from quantdesk.storage.models import ApiKeyRow, UserRow
from quantdesk.storage.owned import get_owned


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


def set_password(session: Session, user_id: int, password_hash: str) -> int:
    """Give ``user_id`` a new password and revoke its tokens; returns its new token version."""
    session.execute(
        update(UserRow)
        .where(UserRow.id == user_id)
        .values(password_hash=password_hash)
        .execution_options(synchronize_session="fetch")
    )
    return bump_token_version(session, user_id)


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


def list_all(session: Session) -> list[UserRow]:
    """Every user, by id."""
    return list(session.scalars(select(UserRow).order_by(UserRow.id)).all())


def first_admin(session: Session) -> UserRow | None:
    """The enabled admin with the smallest id (the first one made), or ``None``."""
    query = select(UserRow).where(UserRow.is_admin.is_(True), UserRow.disabled.is_(False))
    return session.scalars(query.order_by(UserRow.id).limit(1)).first()


def insert(
    session: Session, *, mobile: str, password_hash: str, role: str, now: dt.datetime
) -> UserRow:
    """A new enabled user (its id assigned by the database)."""
    row = UserRow(mobile=mobile, password_hash=password_hash, role=role,
                  is_admin=role == "admin", disabled=False, created_at=now)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def apply_changes(
    session: Session,
    row: UserRow,
    *,
    disabled: bool | None = None,
    role: str | None = None,
    password_hash: str | None = None,
) -> bool:
    """Set the given fields of ``row``; revoke its tokens when the change calls for it.

    A password change, a role change and disabling bump ``token_version`` (every earlier
    token is refused) in the caller's transaction.

    Returns:
        True when the user's tokens were revoked.
    """
    revoke = False
    if disabled is not None:
        revoke |= disabled and not row.disabled
        row.disabled = disabled
    if role is not None:
        revoke |= role != row.role
        row.role = role
        row.is_admin = role == "admin"
    if password_hash is not None:
        row.password_hash = password_hash
        revoke = True
    if revoke:
        bump_token_version(session, row.id)
    return revoke


# -- API keys ----------------------------------------------------------------------------------


def add_key(
    session: Session, *, key: str, owner_id: int, name: str, secret_hash: str, now: dt.datetime
) -> ApiKeyRow:
    """Store a new API key (its secret only as a hash)."""
    row = ApiKeyRow(id=key, owner_id=owner_id, name=name, secret_hash=secret_hash,
                    created_at=now)  # fmt: skip
    session.add(row)
    return row


def keys_of(session: Session, owner_id: int) -> list[ApiKeyRow]:
    """The keys of ``owner_id``, oldest first."""
    return list(
        session.scalars(
            select(ApiKeyRow).where(ApiKeyRow.owner_id == owner_id).order_by(ApiKeyRow.created_at)
        ).all()
    )


def get_key(session: Session, key: str) -> ApiKeyRow | None:
    """The API key ``key`` (whoever owns it)."""
    return session.get(ApiKeyRow, key)


def delete_key(session: Session, key: str, owner_id: int) -> bool:
    """Delete ``owner_id``'s key ``key``; False when it has no such key."""
    row = get_owned(session, ApiKeyRow, key, owner_id)
    if row is None:
        return False
    session.delete(row)
    return True


def touch_key(session: Session, key: str, now: dt.datetime) -> None:
    """Record a successful use of ``key``."""
    row = session.get(ApiKeyRow, key)
    if row is not None:
        row.last_used_at = now
