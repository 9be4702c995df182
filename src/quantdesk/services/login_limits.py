"""Limits on failed logins, per account and per client address (the ``limits`` library).

Two moving-window limits count *failed* logins (wrong password or unknown mobile):

* per account (``LOGIN_ACCOUNT_LIMITS``, default ``5/minute;20/hour``): once any tier is
  full, the account is refused with 429 until the oldest failure of that tier ages out. The
  tiers are the back-off: five quick failures cost at most a minute, twenty within an hour
  lock the account for up to an hour. A correct password from one of the account's *recent
  good addresses* (a successful login from there within ``LOGIN_TRUSTED_IP_DAYS``) is still
  accepted, so an attacker elsewhere cannot lock the owner out;
* per client address (``LOGIN_IP_LIMITS``, default ``20/minute``), across all accounts: once
  full, every login from that address is refused with 429 (password spraying over many
  mobiles from one address).

The counters and the good addresses live in memory (one API process), or in Redis when
``REDIS_URL`` is set, so that every API process shares them; while Redis is down each process
counts on its own (never unlimited, never a 500).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import TypeVar

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from quantdesk.core.errors import ConfigurationError, TooManyRequests
from quantdesk.core.settings import Settings

#: Prefix of every key quantdesk writes in Redis.
REDIS_KEY_PREFIX = "quantdesk-login"
log = logging.getLogger("quantdesk.auth")
_T = TypeVar("_T")
#: Seconds to wait for Redis before a login counts in this process instead of hanging.
REDIS_TIMEOUT_SECONDS = 2.0


def _parse(value: str, name: str) -> list[RateLimitItem]:
    try:
        items = parse_many(value)
    except ValueError as exc:
        raise ConfigurationError(
            f"{name}={value!r} is not a list of limits such as '5/minute;20/hour': {exc}"
        ) from None
    if not items:
        raise ConfigurationError(f"{name} is empty")
    return items


def _account_id(mobile: str) -> str:
    # Mobiles are user input of any length and content: key them by a digest.
    return hashlib.sha256(mobile.encode()).hexdigest()[:32]


class LoginLimiter:
    """Failed-login limits and recent good addresses (see the module docstring).

    When Redis does not answer within ``REDIS_TIMEOUT_SECONDS``, the counts go to this
    process's memory until it does: logins stay limited (per process) and answered.
    """

    def __init__(self, settings: Settings) -> None:
        """Read the limits from ``settings``; count in Redis with ``REDIS_URL``, else in memory.

        Raises:
            ConfigurationError: a malformed ``LOGIN_*_LIMITS``, or ``REDIS_URL`` not a Redis URL.
        """
        self._account_limits = _parse(settings.login_account_limits, "LOGIN_ACCOUNT_LIMITS")
        self._ip_limits = _parse(settings.login_ip_limits, "LOGIN_IP_LIMITS")
        self._trusted_seconds = max(1, round(settings.login_trusted_ip_days * 86400))
        storage: Storage
        if settings.redis_url:
            try:
                storage = RedisStorage(
                    settings.redis_url,
                    key_prefix=REDIS_KEY_PREFIX,
                    wrap_exceptions=True,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                )
            except ValueError as exc:
                raise ConfigurationError(f"REDIS_URL is not a Redis URL: {exc}") from None
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        #: Where counts go while Redis does not answer (this process only, never unlimited).
        self._local = MemoryStorage()
        self._local_limiter = MovingWindowRateLimiter(self._local)
        self._warned_at = 0.0

    def _run(self, op: Callable[[MovingWindowRateLimiter, Storage], _T]) -> _T:
        """``op`` on the shared store, or on this process's own while Redis is down.

        Logins stay limited (per process) and answered when Redis fails, instead of a 500;
        a warning says so at most once a minute.
        """
        try:
            return op(self._limiter, self._storage)
        except StorageError as exc:
            now = time.monotonic()
            if now - self._warned_at >= 60:
                self._warned_at = now
                log.warning("login limits: Redis unavailable (%s); counting in this process", exc)
            return op(self._local_limiter, self._local)

    def check_address(self, ip: str) -> None:
        """Refuse any login from ``ip`` while its failures fill ``LOGIN_IP_LIMITS``.

        Raises:
            TooManyRequests: with ``retry_after`` in seconds.
        """
        wait = self._blocked_for(self._ip_limits, "ip", ip)
        if wait:
            raise TooManyRequests(
                f"too many failed logins from this address; try again in {wait} s", wait
            )

    def check_account(self, mobile: str, ip: str) -> None:
        """Refuse a login of ``mobile`` while its failures fill a tier of ``LOGIN_ACCOUNT_LIMITS``.

        A login from one of its recent good addresses (``ip``) is let through.

        Raises:
            TooManyRequests: with ``retry_after`` in seconds.
        """
        wait = self._blocked_for(self._account_limits, "account", _account_id(mobile))
        if wait and not self.is_trusted(mobile, ip):
            raise TooManyRequests(
                f"too many failed logins for this account; try again in {wait} s", wait
            )

    def failed(self, mobile: str, ip: str) -> None:
        """Count a wrong password (or unknown mobile) against ``mobile`` and ``ip``."""

        def hit(limiter: MovingWindowRateLimiter, _storage: Storage) -> None:
            for item in self._ip_limits:
                limiter.hit(item, "ip", ip)
            for item in self._account_limits:
                limiter.hit(item, "account", _account_id(mobile))

        self._run(hit)

    def succeeded(self, mobile: str, ip: str) -> None:
        """Remember ``ip`` as a good address of ``mobile`` for ``LOGIN_TRUSTED_IP_DAYS``.

        Counted from now: each success renews it. Earlier failures are kept, so a lock still
        holds for other addresses.
        """
        key = self._trusted_key(mobile, ip)

        def remember(_limiter: MovingWindowRateLimiter, storage: Storage) -> None:
            storage.clear(key)
            storage.incr(key, self._trusted_seconds)

        self._run(remember)

    def is_trusted(self, mobile: str, ip: str) -> bool:
        """True when ``mobile`` logged in successfully from ``ip`` recently."""
        key = self._trusted_key(mobile, ip)
        return self._run(lambda _limiter, storage: storage.get(key) > 0)

    def _trusted_key(self, mobile: str, ip: str) -> str:
        return f"trusted/{_account_id(mobile)}/{ip}"

    def _blocked_for(self, items: list[RateLimitItem], *identifiers: str) -> int:
        """0 when another failure is allowed, else whole seconds until one is."""

        def wait_for(limiter: MovingWindowRateLimiter, _storage: Storage) -> float:
            wait = 0.0
            for item in items:
                if not limiter.test(item, *identifiers):
                    reset = limiter.get_window_stats(item, *identifiers).reset_time
                    wait = max(wait, reset - time.time(), 1.0)
            return wait

        return math.ceil(self._run(wait_for))
