"""Logins, JWTs and the local admin.

Passwords are hashed with argon2id (``argon2-cffi``). Tokens are HS256 JWTs (``PyJWT``) with
the header ``kid`` (``key_id`` of the signing key) and the claims ``sub`` (user id, a
string), ``iat``, ``exp`` (``JWT_EXPIRES_HOURS`` later), ``typ`` (``"access"``) and ``ver``
(the user's ``token_version``). Every request checks ``ver`` against the database, so bumping
a user's version (password change or reset, role change, disabling, ``POST
/api/logout-all``) revokes every token issued before. Key rotation: tokens are always issued
with ``SECRET_KEY``; ones signed with ``SECRET_KEY_PREVIOUS`` are still accepted while their
``iat`` is within ``JWT_EXPIRES_HOURS``. Failed logins are limited by ``LoginLimiter``.

Platform events: every login (``auth.login``) and refused login (``auth.login_failed``, the
rate limit's refusals too, at most one per mobile and address every ``REFUSAL_EVENT_SECONDS``),
and a password change or "log out everywhere" (``user.changed``, in the same transaction).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from quantdesk.core.clock import utcnow
from quantdesk.core.errors import (
    ConfigurationError,
    Forbidden,
    InvalidArgument,
    NotFound,
    TooManyRequests,
    Unauthorized,
    UserDisabled,
)
from quantdesk.core.events import EventKind
from quantdesk.core.files import atomic_write_bytes
from quantdesk.core.settings import DEVELOPMENT_PASSWORD, Settings
from quantdesk.services.login_limits import LoginLimiter
from quantdesk.services.views_users import TokensRevoked
from quantdesk.storage import Database
from quantdesk.storage import events as event_store
from quantdesk.storage import users as user_store

#: Values of SECRET_KEY that are placeholders, never secrets.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "development"})
#: Shortest SECRET_KEY / SECRET_KEY_PREVIOUS (UTF-8 bytes) accepted outside development.
MIN_SECRET_BYTES = 32
#: Shortest password a user may set.
MIN_PASSWORD = 8
#: The ``typ`` claim of the tokens ``POST /api/login`` issues.
#: ``typ`` of the notebook proxy's cookie tokens (one session each).
NOTEBOOK_TOKEN_TYPE = "jupyter"
TOKEN_TYPE = "access"
#: Claims a token must have.
REQUIRED_CLAIMS = ("exp", "iat", "sub", "typ")
#: The message of a login (or token use) by a disabled account (the seed's wording).
DISABLED_MESSAGE = "用户被禁用 (user disabled)"
#: A login refused by the rate limit is recorded at most this often per mobile and address
#: (a client hammering the login must not fill the event log).
REFUSAL_EVENT_SECONDS = 60.0
#: (mobile, address) pairs whose last recorded refusal is remembered.
REFUSALS_KEPT = 4096
_ALGORITHM = "HS256"
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


def check_new_password(value: object) -> str:
    """``value`` as a new password.

    Raises:
        InvalidArgument: not a string of at least ``MIN_PASSWORD`` characters.
    """
    if not isinstance(value, str) or len(value) < MIN_PASSWORD:
        raise InvalidArgument(f"password must be a string of at least {MIN_PASSWORD} characters")
    return value


def key_id(key: str) -> str:
    """The ``kid`` of a signing key: the first 8 hex digits of its SHA-256.

    It names the key without revealing it.
    """
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def _check_secret(name: str, key: str, settings: Settings) -> None:
    if key.lower() in PLACEHOLDER_SECRETS:
        raise ConfigurationError(
            f"{name} is missing or a placeholder; set a long random {name} "
            f"(CONFIG_ENV={settings.config_env!r} is not development)"
        )
    size = len(key.encode())
    if size < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{name} is {size} bytes; at least {MIN_SECRET_BYTES} are required outside "
            f"development (CONFIG_ENV={settings.config_env!r}); e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )


def resolve_secret_key(settings: Settings) -> str:
    """The JWT signing key.

    A real ``SECRET_KEY`` is used as is. In development without one, a random key is generated
    once and kept in ``./var/secret_key`` (mode 0600) so tokens survive restarts.

    Raises:
        ConfigurationError: outside development, a missing or placeholder ``SECRET_KEY``, one
            shorter than ``MIN_SECRET_BYTES`` (32) bytes, or a ``SECRET_KEY_PREVIOUS`` that is
            a placeholder or shorter than 32 bytes.
    """
    key = (settings.secret_key or "").strip()
    if not settings.is_development:
        _check_secret("SECRET_KEY", key, settings)
        previous = (settings.secret_key_previous or "").strip()
        if previous:
            _check_secret("SECRET_KEY_PREVIOUS", previous, settings)
        return key
    if key and key.lower() not in PLACEHOLDER_SECRETS:
        return key
    path = settings.secret_key_path
    if path.is_file():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return stored
    generated = secrets.token_urlsafe(48)
    atomic_write_bytes(path, generated.encode(), mode=0o600)
    return generated


class AuthService:
    """Login, token issue and verification, revocation, and the local admin account."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        secret_key: str,
        limiter: LoginLimiter | None = None,
    ) -> None:
        """Accounts, tokens and login limits over ``db``.

        ``secret_key`` signs new tokens (from ``resolve_secret_key``); tokens signed with
        ``settings.secret_key_previous`` are accepted too. ``limiter`` defaults to one built
        from ``settings`` (in memory, or Redis with ``REDIS_URL``).

        Raises:
            ConfigurationError: malformed login limits or ``REDIS_URL``.
        """
        self._db = db
        self._settings = settings
        self._secret = secret_key
        self._kid = key_id(secret_key)
        self._keys = {self._kid: secret_key}
        previous = (settings.secret_key_previous or "").strip()
        self._previous_kid: str | None = None
        if previous and key_id(previous) != self._kid:  # (the same key, or a kid collision)
            self._previous_kid = key_id(previous)
            self._keys[self._previous_kid] = previous
        self._limiter = limiter or LoginLimiter(settings)
        self._refusals: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._refusals_lock = threading.Lock()

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
            existing = user_store.get(session, s.local_auth_user_id)
            changed = existing is not None and existing.password_hash != password_hash
            user_store.upsert(
                session,
                user_id=s.local_auth_user_id,
                mobile=s.local_auth_mobile,
                password_hash=password_hash,
                is_admin=s.local_auth_is_admin,
                role="admin" if s.local_auth_is_admin else "researcher",
                now=utcnow(),
            )
            if changed:  # a new admin password from the environment revokes old tokens
                user_store.bump_token_version(session, s.local_auth_user_id)

    def login(self, mobile: str, password: str, ip: str) -> LoginResult:
        """Check credentials and issue a token (CPU-bound: call off the event loop).

        ``ip`` is the client address. Order: the address's limit, then the account's (unless
        ``ip`` is a recent good address of the account), then the password; only a wrong
        password or unknown mobile counts as a failure, and a success makes ``ip`` a good
        address of the account (see ``quantdesk.services.login_limits``).

        Raises:
            TooManyRequests: too many recent failures from ``ip`` or for ``mobile`` (429,
                ``retry_after`` in seconds).
            Unauthorized: unknown mobile or wrong password (one message for both, also for a
                disabled account).
            UserDisabled: the right password of a disabled account (403).
        """
        try:
            self._limiter.check_address(ip)
            self._limiter.check_account(mobile, ip)
        except TooManyRequests as exc:
            if self._first_refusal(mobile, ip):
                self._record(EventKind.LOGIN_FAILED, mobile, None, ip=ip, reason=exc.code,
                             retry_after=exc.retry_after)  # fmt: skip
            raise
        try:
            result = self._login(mobile, password)
        except (Unauthorized, UserDisabled) as exc:
            if isinstance(exc, Unauthorized):
                self._limiter.failed(mobile, ip)
            self._record(EventKind.LOGIN_FAILED, mobile, None, ip=ip, reason=exc.code)
            raise
        self._limiter.succeeded(mobile, ip)
        self._record(EventKind.LOGIN_SUCCEEDED, mobile, result.userid, ip=ip)
        return result

    def _record(self, kind: EventKind, mobile: str, user_id: int | None, **data: str | int) -> None:
        """A login event (a failure is the platform's: only admins see it)."""
        with self._db.write() as session:
            event_store.append(session, kind, mobile, user_id=user_id, data=data)

    def _first_refusal(self, mobile: str, ip: str) -> bool:
        """Whether a rate-limit refusal of ``mobile`` from ``ip`` is to be recorded.

        True at most once per ``REFUSAL_EVENT_SECONDS`` per pair (this process's memory,
        bounded by ``REFUSALS_KEPT``).
        """
        now, key = time.monotonic(), (mobile[:128], ip)
        with self._refusals_lock:
            last = self._refusals.get(key)
            if last is not None and now - last < REFUSAL_EVENT_SECONDS:
                return False
            self._refusals[key] = now
            self._refusals.move_to_end(key)
            while len(self._refusals) > REFUSALS_KEPT:
                self._refusals.popitem(last=False)
            return True

    def _login(self, mobile: str, password: str) -> LoginResult:
        with self._db.read() as session:
            user = user_store.get_by_mobile(session, mobile)
            found = (
                (user.id, user.password_hash, user.is_admin, user.disabled, user.token_version)
                if user
                else None
            )
        if found is None:
            verify_password(_dummy_hash(), password)  # same cost as a real check
            raise Unauthorized("invalid mobile or password")
        user_id, password_hash, is_admin, disabled, version = found
        if not verify_password(password_hash, password):
            raise Unauthorized("invalid mobile or password")
        if disabled:
            raise UserDisabled(DISABLED_MESSAGE)
        return self._issue(user_id, is_admin, version)

    def _issue(self, user_id: int, is_admin: bool, version: int) -> LoginResult:
        """A token for ``user_id`` at ``token_version`` ``version``.

        Signed with the current key (never the previous one).
        """
        now = utcnow()
        expires = now + dt.timedelta(hours=self._settings.jwt_expires_hours)
        claims = {
            "sub": str(user_id),
            "iat": now,
            "exp": expires,
            "typ": TOKEN_TYPE,
            "ver": version,
            "adm": is_admin,
        }
        token = jwt.encode(claims, self._secret, algorithm=_ALGORITHM, headers={"kid": self._kid})
        return LoginResult(token, user_id, is_admin, expires)

    def authenticate(self, token: str) -> Principal:
        """The caller of a token.

        Raises:
            Unauthorized: malformed, unknown or missing ``kid``, bad signature, a missing
                ``exp``/``iat``/``sub``/``typ``, not an access token, expired (or signed with
                the previous key more than ``JWT_EXPIRES_HOURS`` ago), an unknown user, or
                revoked (``ver`` is not the user's ``token_version``).
            UserDisabled: the user is disabled (403).
        """
        claims = self._decode(token)
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError):
            raise Unauthorized("invalid token") from None
        version = claims.get("ver")
        if type(version) is not int:
            raise Unauthorized("invalid token")
        with self._db.read() as session:
            user = user_store.get(session, user_id)
            if user is None:
                raise Unauthorized("invalid token")
            if user.disabled:
                raise UserDisabled(DISABLED_MESSAGE)
            if version != user.token_version:
                raise Unauthorized("token revoked; log in again")
            return Principal(user.id, user.is_admin, user.role)

    def notebook_token(self, principal: Principal, session_id: str, expires: dt.datetime) -> str:
        """A token for the notebook proxy: user, session, expiry (the ``/jupyter`` cookie).

        It opens that one session only, until ``expires`` or a "log out everywhere".
        """
        with self._db.read() as session:
            user = user_store.get(session, principal.user_id)
            version = user.token_version if user is not None else -1
        claims = {"sub": str(principal.user_id), "iat": utcnow(), "exp": expires,
                  "typ": NOTEBOOK_TOKEN_TYPE, "ver": version, "sid": session_id}  # fmt: skip
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM, headers={"kid": self._kid})

    def authenticate_notebook(self, token: str, session_id: str) -> Principal:
        """The caller of a ``notebook_token`` for ``session_id``.

        Raises:
            Unauthorized: invalid, expired, revoked, or for another session.
            UserDisabled: the user is disabled (403).
        """
        claims = self._decode(token, NOTEBOOK_TOKEN_TYPE)
        if claims.get("sid") != session_id:
            raise Unauthorized("this notebook session was not opened with this login")
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError):
            raise Unauthorized("invalid token") from None
        with self._db.read() as session:
            user = user_store.get(session, user_id)
            if user is None or claims.get("ver") != user.token_version:
                raise Unauthorized("token revoked; log in again")
            if user.disabled:
                raise UserDisabled(DISABLED_MESSAGE)
            return Principal(user.id, user.is_admin, user.role)

    def _decode(self, token: str, typ: str = "") -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid token") from None
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthorized("invalid token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[_ALGORITHM], options={"require": list(REQUIRED_CLAIMS)}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired; log in again") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid token") from None
        if claims.get("typ") != (typ or TOKEN_TYPE):
            raise Unauthorized("invalid token")
        if kid == self._previous_kid:
            age = time.time() - float(claims["iat"])
            if age > self._settings.jwt_expires_hours * 3600:
                raise Unauthorized("token expired; log in again")
        return claims

    def logout_all(self, principal: Principal) -> TokensRevoked:
        """Revoke every token of the caller, the one of this request included.

        API keys are not affected: delete them with ``DELETE /api/keys/{key}``.
        """
        with self._db.write() as session:
            user_store.bump_token_version(session, principal.user_id)
            event_store.append(session, EventKind.USER_CHANGED, str(principal.user_id),
                               user_id=principal.user_id,
                               data={"logout_all": True, "tokens_revoked": True})  # fmt: skip
        return TokensRevoked(userid=principal.user_id, tokens_revoked=True)

    def change_password(
        self, principal: Principal, current_password: str, new_password: str, ip: str
    ) -> LoginResult:
        """Change the caller's own password, revoke all their tokens, return a fresh token.

        The token is for this client. CPU-bound: call off the event loop.

        A wrong ``current_password`` counts as a failed login of the account (same limits as
        ``login``, with ``ip`` the client address).

        Raises:
            InvalidArgument: ``current_password`` missing, or ``new_password`` shorter than
                ``MIN_PASSWORD``.
            TooManyRequests: the account's or address's failed-login limit is full (429).
            Forbidden: ``current_password`` is wrong (403).
            NotFound: the caller's account is gone.
        """
        if not current_password:
            raise InvalidArgument("current_password is required")
        new = check_new_password(new_password)
        with self._db.read() as session:
            user = user_store.get(session, principal.user_id)
            if user is None:
                raise NotFound("user not found")
            mobile, password_hash = user.mobile, user.password_hash
        self._limiter.check_address(ip)
        self._limiter.check_account(mobile, ip)
        if not verify_password(password_hash, current_password):
            self._limiter.failed(mobile, ip)
            raise Forbidden("current_password is wrong")
        hashed = hash_password(new)
        with self._db.write() as session:
            row = user_store.get(session, principal.user_id)
            if row is None:
                raise NotFound("user not found")
            version = user_store.set_password(session, row.id, hashed)
            event_store.append(session, EventKind.USER_CHANGED, str(row.id), user_id=row.id,
                               data={"password_changed": True, "tokens_revoked": True,
                                     "ip": ip})  # fmt: skip
            return self._issue(row.id, row.is_admin, version)


@functools.cache
def _dummy_hash() -> str:
    return hash_password("quantdesk-timing-equalizer")
