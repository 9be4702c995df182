"""Logins, JWTs and the local admin.

Passwords are hashed with argon2id (``argon2-cffi``); tokens are HS256 JWTs (``PyJWT``) that
expire after ``JWT_EXPIRES_HOURS``.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from quantdesk.core.clock import utcnow
from quantdesk.core.errors import ConfigurationError, TooManyRequests, Unauthorized
from quantdesk.core.files import atomic_write_bytes
from quantdesk.core.settings import DEVELOPMENT_PASSWORD, Settings
from quantdesk.storage import Database
from quantdesk.storage import users as user_store

#: Values of SECRET_KEY that are placeholders, never secrets.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "development"})
_ALGORITHM = "HS256"
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_SECONDS = 60.0
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    is_admin: bool
    role: str


@dataclass(frozen=True)
class LoginResult:
    """What ``POST /api/login`` returns."""

    token: str
    userid: int
    is_admin: bool
    expires_at: dt.datetime


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash`` (CPU-bound: call off the event loop)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def resolve_secret_key(settings: Settings) -> str:
    """The JWT signing key.

    A real ``SECRET_KEY`` is used as is. In development without one, a random key is generated
    once and kept in ``./var/secret_key`` (mode 0600) so tokens survive restarts.

    Raises:
        ConfigurationError: outside development with a missing or placeholder key.
    """
    key = (settings.secret_key or "").strip()
    if key and key.lower() not in PLACEHOLDER_SECRETS:
        return key
    if not settings.is_development:
        raise ConfigurationError(
            "SECRET_KEY is missing or a placeholder; set a long random SECRET_KEY "
            f"(CONFIG_ENV={settings.config_env!r} is not development)"
        )
    path = settings.secret_key_path
    if path.is_file():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return stored
    generated = secrets.token_urlsafe(48)
    atomic_write_bytes(path, generated.encode(), mode=0o600)
    return generated


class AuthService:
    """Login, token verification and the local admin account."""

    def __init__(self, db: Database, settings: Settings, secret_key: str) -> None:
        self._db = db
        self._settings = settings
        self._secret = secret_key
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def bootstrap_admin(self) -> None:
        """Create or update the local admin from ``LOCAL_AUTH_*``.

        Raises:
            ConfigurationError: outside development without a password or hash.
        """
        s = self._settings
        if s.local_auth_password_hash:
            password_hash = s.local_auth_password_hash
        else:
            password = s.local_auth_password
            if not password:
                if not s.is_development:
                    raise ConfigurationError(
                        "LOCAL_AUTH_PASSWORD or LOCAL_AUTH_PASSWORD_HASH is required outside "
                        "development"
                    )
                password = DEVELOPMENT_PASSWORD
            with self._db.read() as session:
                existing = user_store.get(session, s.local_auth_user_id)
                current = existing.password_hash if existing else None
            if current and verify_password(current, password):
                password_hash = current
            else:
                password_hash = hash_password(password)
        with self._db.write() as session:
            user_store.upsert(
                session,
                user_id=s.local_auth_user_id,
                mobile=s.local_auth_mobile,
                password_hash=password_hash,
                is_admin=s.local_auth_is_admin,
                role="admin" if s.local_auth_is_admin else "researcher",
                now=utcnow(),
            )

    def login(self, mobile: str, password: str) -> LoginResult:
        """Check credentials and issue a token.

        After ``LOGIN_MAX_FAILURES`` wrong passwords for one mobile within
        ``LOGIN_WINDOW_SECONDS``, that mobile is refused until the oldest failure ages out
        (other accounts are unaffected). Counted per API process.

        Raises:
            Unauthorized: unknown mobile, wrong password or disabled user (one message for all).
            TooManyRequests: too many recent failures for this mobile.
        """
        self._check_rate(mobile)
        try:
            return self._login(mobile, password)
        except Unauthorized:
            self._failures.setdefault(mobile, deque()).append(time.monotonic())
            raise

    def _check_rate(self, mobile: str) -> None:
        with self._lock:
            now = time.monotonic()
            recent = self._failures.get(mobile)
            while recent and now - recent[0] > LOGIN_WINDOW_SECONDS:
                recent.popleft()
            if recent is not None and len(recent) >= LOGIN_MAX_FAILURES:
                wait = max(1, math.ceil(LOGIN_WINDOW_SECONDS - (now - recent[0])))
                raise TooManyRequests(
                    f"too many failed logins for this account; try again in {wait} s", wait
                )

    def _login(self, mobile: str, password: str) -> LoginResult:
        with self._db.read() as session:
            user = user_store.get_by_mobile(session, mobile)
            found = (user.id, user.password_hash, user.is_admin, user.disabled) if user else None
        if found is None:
            verify_password(_dummy_hash(), password)  # same cost as a real check
            raise Unauthorized("invalid mobile or password")
        user_id, password_hash, is_admin, disabled = found
        if not verify_password(password_hash, password) or disabled:
            raise Unauthorized("invalid mobile or password")
        now = utcnow()
        expires = now + dt.timedelta(hours=self._settings.jwt_expires_hours)
        token = jwt.encode(
            {"sub": str(user_id), "adm": is_admin, "iat": now, "exp": expires},
            self._secret,
            algorithm=_ALGORITHM,
        )
        return LoginResult(token, user_id, is_admin, expires)

    def authenticate(self, token: str) -> Principal:
        """The caller of a token.

        Raises:
            Unauthorized: bad signature, expired, or the user is gone or disabled.
        """
        try:
            claims = jwt.decode(token, self._secret, algorithms=[_ALGORITHM])
            user_id = int(claims["sub"])
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired; log in again") from None
        except (jwt.InvalidTokenError, KeyError, ValueError):
            raise Unauthorized("invalid token") from None
        with self._db.read() as session:
            user = user_store.get(session, user_id)
            if user is None or user.disabled:
                raise Unauthorized("invalid token")
            return Principal(user.id, user.is_admin, user.role)


@functools.cache
def _dummy_hash() -> str:
    return hash_password("quantdesk-timing-equalizer")
