"""The contract's Research API (``/api/research``): items and notebook sessions.

Errors here are the contract's research format ``{"message": "..."}`` (``api/errors.py``)
and responses may be framed by this origin (``frame-ancestors 'self'``, no
``X-Frame-Options``: ``api/middleware.py``). A session answer sets the ``/jupyter`` cookie
(``COOKIE``) that lets the browser's iframe through the notebook proxy: HttpOnly,
SameSite=Strict, scoped to the session's path and lifetime.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from quantdesk.api.deps import PlatformDep, PrincipalDep
from quantdesk.services.auth import Principal
from quantdesk.services.platform import Platform
from quantdesk.services.views_research import (
    Research,
    ResearchCreate,
    ResearchDeleted,
    ResearchList,
    ResearchUpdate,
    SessionEnvelope,
)


class ResearchError(BaseModel):
    """The contract's research error body."""

    message: str


RESEARCH_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ResearchError, "description": text}
    for status, text in ((400, "bad input"), (401, "not logged in"),
                         (403, "a viewer writing, or a disabled account"), (404, "not found"),
                         (409, "conflict"), (413, "body too large"), (429, "too many requests"),
                         (500, "internal error"))
}  # fmt: skip
router = APIRouter(prefix="/api/research", tags=["research"], responses=RESEARCH_ERRORS)

#: The notebook proxy's cookie (one per session path).
COOKIE = "quantdesk_notebook"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/items", response_model=ResearchList)
def list_items(platform: PlatformDep, principal: PrincipalDep) -> ResearchList:
    """The caller's research items, each with ``session_status`` (``null`` without one)."""
    return platform.research.list(principal)


@router.post("/items", response_model=Research, status_code=201)
def create_item(body: ResearchCreate, platform: PlatformDep, principal: PrincipalDep) -> Research:
    """Create a research item (409 if the id exists)."""
    return platform.research.create(principal, body)


@router.get("/items/{item_id}", response_model=Research)
def get_item(item_id: str, platform: PlatformDep, principal: PrincipalDep) -> Research:
    """One research item of the caller's."""
    return platform.research.get(principal, item_id)


@router.put("/items/{item_id}", response_model=Research)
def update_item(
    item_id: str, body: ResearchUpdate, platform: PlatformDep, principal: PrincipalDep
) -> Research:
    """Change an item's fields (the id stays)."""
    return platform.research.update(principal, item_id, body)


@router.delete("/items/{item_id}", response_model=ResearchDeleted)
def delete_item(item_id: str, platform: PlatformDep, principal: PrincipalDep) -> ResearchDeleted:
    """Delete an item and stop its session (its notebook file is kept)."""
    return platform.research.delete(principal, item_id)


@router.get("/items/{item_id}/notebook/session", response_model=SessionEnvelope)
def get_session(
    item_id: str, request: Request, response: Response, platform: PlatformDep,
    principal: PrincipalDep,
) -> SessionEnvelope:  # fmt: skip
    """The item's live session, ``{"session": null}`` without one."""
    answer = platform.research.session(principal, item_id, _base(request))
    _cookie(response, platform, principal, answer)
    return answer


@router.post("/items/{item_id}/notebook/session", response_model=SessionEnvelope)
async def start_session(
    item_id: str, request: Request, response: Response, platform: PlatformDep,
    principal: PrincipalDep,
) -> SessionEnvelope:  # fmt: skip
    """Start the item's JupyterLab (or return the running one); creates a missing notebook."""
    answer = await run_in_threadpool(platform.research.start, principal, item_id, _base(request))
    _cookie(response, platform, principal, answer)
    return answer


@router.post("/items/{item_id}/notebook/session/refresh", response_model=SessionEnvelope)
def refresh_session(
    item_id: str, request: Request, response: Response, platform: PlatformDep,
    principal: PrincipalDep,
) -> SessionEnvelope:  # fmt: skip
    """Extend the live session by ``RESEARCH_SESSION_TTL_SECONDS`` from now."""
    answer = platform.research.refresh(principal, item_id, _base(request))
    _cookie(response, platform, principal, answer)
    return answer


@router.delete("/items/{item_id}/notebook/session", response_model=SessionEnvelope)
async def stop_session(
    item_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep,
    session_id: Annotated[str | None, Query(max_length=40)] = None,
) -> SessionEnvelope:  # fmt: skip
    """Stop the item's session (its kernels end); answers it with status ``STOPPED``."""
    return await run_in_threadpool(
        platform.research.stop, principal, item_id, session_id, _base(request)
    )


def _cookie(
    response: Response, platform: Platform, principal: Principal, answer: SessionEnvelope
) -> None:
    session = answer.session
    if session is None or session.status != "RUNNING":
        return
    expires = dt.datetime.fromisoformat(session.expires_at)
    token = platform.auth.notebook_token(principal, session.session_id, expires)
    path = f"{platform.research.proxy_base}/{session.session_id}/"
    response.set_cookie(
        COOKIE, token, path=path, httponly=True, samesite="strict", expires=expires,
        secure=platform.settings.research_public_base_url.startswith("https:"),
    )  # fmt: skip
