"""Accounts: ``/api/me``, admin user management, API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from quantdesk.api.deps import AdminDep, PlatformDep, PrincipalDep

router = APIRouter(prefix="/api", tags=["users"])


@router.get("/me")
def me(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """The caller's account."""
    return {"ok": True, "data": platform.users.me(principal)}


@router.get("/admin/users")
def list_users(platform: PlatformDep, _admin: AdminDep) -> dict[str, Any]:
    """Every user (admins only)."""
    return {"ok": True, "data": platform.users.list()}


@router.post("/admin/users")
def create_user(
    platform: PlatformDep,
    _admin: AdminDep,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Create a user: ``mobile``, ``password`` (8+ chars), ``role`` (admin/researcher/viewer)."""
    return {
        "ok": True,
        "data": platform.users.create(body.get("mobile"), body.get("password"), body.get("role")),
    }


@router.patch("/admin/users/{userid}")
def update_user(
    userid: int,
    platform: PlatformDep,
    _admin: AdminDep,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Disable/enable (``disabled``), change ``role``, or reset ``password``."""
    return {"ok": True, "data": platform.users.update(userid, body)}


@router.post("/keys")
def create_key(
    platform: PlatformDep,
    principal: PrincipalDep,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    """A new API key for the caller; the ``secret`` is shown only in this answer."""
    return {"ok": True, "data": platform.users.create_key(principal, (body or {}).get("name"))}


@router.get("/keys")
def list_keys(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """The caller's API keys (no secrets)."""
    return {"ok": True, "data": platform.users.list_keys(principal)}


@router.delete("/keys/{key}")
def delete_key(key: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """Revoke one of the caller's API keys."""
    return {"ok": True, "data": platform.users.delete_key(principal, key)}
