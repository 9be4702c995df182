"""Request dependencies: the platform and the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request

from quantdesk.core.errors import Forbidden, Unauthorized
from quantdesk.services.auth import Principal
from quantdesk.services.platform import Platform

#: Paths a viewer may write to (its own API keys, password and sessions).
VIEWER_WRITABLE = ("/api/keys", "/api/me/password", "/api/logout-all")


_S = TypeVar("_S")


def app_service(request: Request, name: str, make: Callable[[], _S]) -> _S:
    """The app's service ``name``, made by ``make()`` on first use and kept in the app state.

    For services a route group needs beyond the ``Platform``'s (the data readers, uploads,
    updates and analysis): one instance per app, like the platform's own.
    """
    service = getattr(request.app.state, name, None)
    if service is None:
        service = make()
        setattr(request.app.state, name, service)
    return service


def platform(request: Request) -> Platform:
    """The app's ``Platform``."""
    return request.app.state.platform  # type: ignore[no-any-return]


def principal(
    request: Request,
    authorization: Annotated[
        str | None, Header(description="`<token>` or `Bearer <token>`")
    ] = None,
    x_api_key: Annotated[str | None, Header(description="API key (with X-API-Secret)")] = None,
    x_api_secret: Annotated[str | None, Header(description="API key secret")] = None,
) -> Principal:
    """The caller, from ``Authorization: [Bearer] <token>`` or ``X-API-Key`` + ``X-API-Secret``.

    Viewers are refused (403) on every write except ``VIEWER_WRITABLE`` (their own API keys,
    password and sessions).

    Raises:
        Unauthorized: missing, bad, expired or revoked credentials. UserDisabled: the caller's
        account is disabled (403 ``USER_DISABLED``). Forbidden: a viewer writing.
    """
    caller = _authenticate(request, authorization, x_api_key, x_api_secret)
    if (
        caller.role == "viewer"
        and request.method not in ("GET", "HEAD", "OPTIONS")
        and not request.url.path.startswith(VIEWER_WRITABLE)
    ):
        raise Forbidden("viewers have read-only access")
    return caller


def _authenticate(
    request: Request, authorization: str | None, key: str | None, secret: str | None
) -> Principal:
    if key:
        if not secret:
            raise Unauthorized("X-API-Secret is required with X-API-Key")
        return platform(request).users.authenticate_key(key.strip(), secret.strip())
    if not authorization or not authorization.strip():
        raise Unauthorized("missing Authorization header; log in with POST /api/login")
    token = authorization.strip()
    scheme, _, rest = token.partition(" ")
    if rest and scheme.lower() == "bearer":
        token = rest.strip()
    return platform(request).auth.authenticate(token)


def client_ip(request: Request) -> str:
    """The caller's address for login limits: the socket's peer, never ``X-Forwarded-For``."""
    return request.client.host if request.client else "unknown"


def admin(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    """The caller, who must be an admin (403 otherwise)."""
    if not caller.is_admin:
        raise Forbidden("this endpoint is for admins")
    return caller


PlatformDep = Annotated[Platform, Depends(platform)]
PrincipalDep = Annotated[Principal, Depends(principal)]
AdminDep = Annotated[Principal, Depends(admin)]
