"""Users (admin management, ``/api/me``) and API keys.

Roles: ``admin`` (everything, user management), ``researcher`` (own strategies and jobs),
``viewer`` (read only). API keys authenticate with ``X-API-Key`` + ``X-API-Secret`` and carry
their owner's role; the secret is shown once and stored as an argon2 hash.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from quantdesk.core.clock import iso_utc, utcnow
from quantdesk.core.errors import Conflict, InvalidArgument, NotFound, Unauthorized, UserDisabled
from quantdesk.core.events import EventKind
from quantdesk.services.auth import (
    DISABLED_MESSAGE,
    Principal,
    check_new_password,
    hash_password,
    verify_password,
)
from quantdesk.services.views_users import (
    ApiKeyList,
    ApiKeyView,
    KeyDeleted,
    NewApiKey,
    Role,
    UserList,
    UserView,
)
from quantdesk.storage import Database
from quantdesk.storage import events as event_store
from quantdesk.storage import users as user_store

KEY_CACHE_SECONDS = 60.0
#: The longest ``mobile`` (login) and API key name.
MAX_MOBILE, MAX_KEY_NAME = 64, 128


class UserService:
    """Accounts and API keys."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._key_cache: dict[str, tuple[float, int, str]] = {}

    def me(self, principal: Principal) -> UserView:
        """The caller's account."""
        with self._db.read() as session:
            row = user_store.get(session, principal.user_id)
            if row is None:
                raise NotFound("user not found")
            return UserView.of(row)

    def list(self) -> UserList:
        """Every user (admin only)."""
        with self._db.read() as session:
            rows = user_store.list_all(session)
            return UserList(users=[UserView.of(r) for r in rows], total=len(rows))

    def create(self, mobile: str, password: str, role: Role = Role.RESEARCHER) -> UserView:
        """Create a user (admin only); ``mobile`` is stripped.

        Raises:
            InvalidArgument: bad mobile or short password. Conflict: mobile taken.
        """
        login = mobile.strip()
        if not login or len(mobile) > MAX_MOBILE:
            raise InvalidArgument(f"mobile is required (at most {MAX_MOBILE} characters)")
        hashed = hash_password(check_new_password(password))
        with self._db.write() as session:
            if user_store.get_by_mobile(session, login) is not None:
                raise Conflict(f"a user with mobile {login!r} exists")
            row = user_store.insert(session, mobile=login, password_hash=hashed,
                                    role=Role(role).value, now=utcnow())  # fmt: skip
            event_store.append(session, EventKind.USER_CHANGED, str(row.id), user_id=row.id,
                               data={"created": True, "role": row.role})  # fmt: skip
            return UserView.of(row)

    def update(
        self,
        user_id: int,
        *,
        disabled: bool | None = None,
        role: Role | None = None,
        password: str | None = None,
    ) -> UserView:
        """Disable/enable, change role, or reset the password of a user (admin only).

        ``None``: unchanged. A password reset, a role change and disabling revoke every token
        of the user (its ``token_version`` is bumped in the same transaction); its API keys
        stay, refused with 403 ``USER_DISABLED`` while it is disabled.

        Raises:
            NotFound: no such user. InvalidArgument: a short password.
        """
        hashed = hash_password(check_new_password(password)) if password is not None else None
        with self._db.write() as session:
            row = user_store.get(session, user_id)
            if row is None:
                raise NotFound(f"user {user_id} not found")
            user_store.apply_changes(
                session, row, disabled=disabled, role=None if role is None else Role(role).value,
                password_hash=hashed,
            )  # fmt: skip
            changes = {"disabled": disabled, "role": None if role is None else str(role),
                       "password_reset": password is not None}  # fmt: skip
            changed = {k: v for k, v in changes.items() if v not in (None, False)}
            event_store.append(session, EventKind.USER_CHANGED, str(user_id), user_id=user_id,
                               data=changed)  # fmt: skip
            return UserView.of(row)

    # -- API keys ------------------------------------------------------------------------------

    def create_key(self, principal: Principal, name: str = "") -> NewApiKey:
        """A new key for the caller: ``key`` and ``secret`` (the secret is never shown again).

        ``name`` is cut to ``MAX_KEY_NAME`` characters.
        """
        label = name[:MAX_KEY_NAME]
        key = "qdk_" + secrets.token_hex(16)
        secret = secrets.token_urlsafe(32)
        now = utcnow()
        with self._db.write() as session:
            user_store.add_key(session, key=key, owner_id=principal.user_id, name=label,
                               secret_hash=hash_password(secret), now=now)  # fmt: skip
            event_store.append(session, EventKind.KEY_CHANGED, key, user_id=principal.user_id,
                               data={"created": True, "name": label}, now=now)  # fmt: skip
        return NewApiKey(key=key, secret=secret, name=label, created_at=iso_utc(now) or "")

    def list_keys(self, principal: Principal) -> ApiKeyList:
        """The caller's keys (without secrets)."""
        with self._db.read() as session:
            rows = user_store.keys_of(session, principal.user_id)
            keys = [
                ApiKeyView(key=r.id, name=r.name, created_at=iso_utc(r.created_at),
                           last_used_at=iso_utc(r.last_used_at))
                for r in rows
            ]  # fmt: skip
        return ApiKeyList(keys=keys, total=len(keys))

    def delete_key(self, principal: Principal, key: str) -> KeyDeleted:
        """Revoke one of the caller's keys.

        Raises:
            NotFound: no such key of the caller.
        """
        with self._db.write() as session:
            if not user_store.delete_key(session, key, principal.user_id):
                raise NotFound("API key not found")
            event_store.append(session, EventKind.KEY_CHANGED, key, user_id=principal.user_id,
                               data={"deleted": True})  # fmt: skip
        self._key_cache = {d: v for d, v in self._key_cache.items() if v[2] != key}
        return KeyDeleted(key=key, deleted=True)

    def authenticate_key(self, key: str, secret: str) -> Principal:
        """The owner of an API key.

        A verified (key, secret) pair is remembered for ``KEY_CACHE_SECONDS`` so that API
        clients do not pay an argon2 verification (~50 ms of CPU) on every request; revoking a
        key drops it from this process's cache at once (other processes within that time).

        Raises:
            Unauthorized: unknown key or wrong secret. UserDisabled: a disabled owner (403).
        """
        digest = hashlib.sha256(f"{key}\0{secret}".encode()).hexdigest()
        now = time.monotonic()
        cached = self._key_cache.get(digest)
        if cached is None or cached[0] < now:
            with self._db.read() as session:
                row = user_store.get_key(session, key)
                found = (row.owner_id, row.secret_hash) if row is not None else None
            if found is None or not verify_password(found[1], secret):
                raise Unauthorized("invalid API key or secret")
            cached = (now + KEY_CACHE_SECONDS, found[0], key)
            self._key_cache[digest] = cached
            with self._db.write() as session:
                user_store.touch_key(session, key, utcnow())
        with self._db.read() as session:
            user = user_store.get(session, cached[1])
            if user is None:
                raise Unauthorized("invalid API key or secret")
            if user.disabled:
                raise UserDisabled(DISABLED_MESSAGE)
            return Principal(user.id, user.is_admin, user.role)
