"""Accounts.

``/api/me``, own password, "log out everywhere", admin user management, API keys.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import AdminDep, PlatformDep, PrincipalDep, client_ip
from quantdesk.api.params import UserIdPath
from quantdesk.api.schemas import (
    ERROR_RESPONSES,
    ApiKeyList,
    Envelope,
    KeyDeleted,
    LoginResponse,
    NewApiKey,
    NewKey,
    NewUser,
    PasswordChange,
    TokensRevoked,
    UserChanges,
    UserList,
    UserView,
)

router = APIRouter(
    prefix="/api", tags=["users"], route_class=CheckedRoute, responses=ERROR_RESPONSES
)


@router.get("/me", response_model=Envelope[UserView])
def me(platform: PlatformDep, principal: PrincipalDep) -> Envelope[UserView]:
    """The caller's account."""
    return Envelope(data=platform.users.me(principal))


@router.post("/me/password", response_model=Envelope[LoginResponse])
def change_password(
    request: Request, platform: PlatformDep, principal: PrincipalDep, body: PasswordChange
) -> Envelope[LoginResponse]:
    """Change the caller's password: ``current_password``, ``new_password`` (8+ chars).

    Every token of the caller is revoked (the one of this request too); the answer carries a
    fresh one: ``data`` = ``{token, userid, is_admin, expires_at}``. A wrong
    ``current_password`` answers 403 and counts as a failed login (429 past the limits).
    """
    result = platform.auth.change_password(
        principal, body.current_password, body.new_password, client_ip(request)
    )
    return Envelope(data=LoginResponse.of(result))


@router.post("/logout-all", response_model=Envelope[TokensRevoked])
def logout_all(platform: PlatformDep, principal: PrincipalDep) -> Envelope[TokensRevoked]:
    """Log out everywhere: revoke every token of the caller, this one included.

    API keys stay. ``data`` = ``{userid, tokens_revoked: true}``.
    """
    return Envelope(data=platform.auth.logout_all(principal))


@router.get("/admin/users", response_model=Envelope[UserList])
def list_users(platform: PlatformDep, _admin: AdminDep) -> Envelope[UserList]:
    """Every user (admins only)."""
    return Envelope(data=platform.users.list())


@router.post("/admin/users", response_model=Envelope[UserView])
def create_user(platform: PlatformDep, _admin: AdminDep, body: NewUser) -> Envelope[UserView]:
    """Create a user: ``mobile``, ``password`` (8+ chars), ``role`` (admin/researcher/viewer)."""
    return Envelope(data=platform.users.create(body.mobile, body.password, body.role))


@router.patch("/admin/users/{userid}", response_model=Envelope[UserView])
def update_user(
    userid: UserIdPath, platform: PlatformDep, _admin: AdminDep, body: UserChanges
) -> Envelope[UserView]:
    """Disable/enable (``disabled``), change ``role``, or reset ``password``.

    A password reset, a role change and disabling revoke every token of that user; a disabled
    user's tokens and API keys answer 403 ``USER_DISABLED``.
    """
    changed = platform.users.update(
        userid, disabled=body.disabled, role=body.role, password=body.password
    )
    return Envelope(data=changed)


@router.post("/keys", response_model=Envelope[NewApiKey])
def create_key(
    platform: PlatformDep,
    principal: PrincipalDep,
    body: Annotated[NewKey | None, Body()] = None,
) -> Envelope[NewApiKey]:
    """A new API key for the caller; the ``secret`` is shown only in this answer."""
    return Envelope(data=platform.users.create_key(principal, body.name if body else ""))


@router.get("/keys", response_model=Envelope[ApiKeyList])
def list_keys(platform: PlatformDep, principal: PrincipalDep) -> Envelope[ApiKeyList]:
    """The caller's API keys (no secrets)."""
    return Envelope(data=platform.users.list_keys(principal))


@router.delete("/keys/{key}", response_model=Envelope[KeyDeleted])
def delete_key(key: str, platform: PlatformDep, principal: PrincipalDep) -> Envelope[KeyDeleted]:
    """Revoke one of the caller's API keys."""
    return Envelope(data=platform.users.delete_key(principal, key))
