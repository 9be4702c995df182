"""The event log over HTTP (history; the ``events`` WebSocket channel pushes what follows)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import AdminDep, PlatformDep, PrincipalDep
from quantdesk.api.params import Offset
from quantdesk.api.schemas import ERROR_RESPONSES, Envelope
from quantdesk.core.limits import MAX_ID, MAX_POSITION
from quantdesk.services.events import EventPage
from quantdesk.services.events.processes import ProcessList

router = APIRouter(
    prefix="/api", tags=["events"], route_class=CheckedRoute, responses=ERROR_RESPONSES
)

EventLimit = Annotated[int, Query(ge=1, le=1000, description="events per page")]


@router.get("/events", response_model=Envelope[EventPage])
def list_events(
    platform: PlatformDep,
    principal: PrincipalDep,
    kind: Annotated[
        str | None,
        Query(description="comma-separated kinds; a kind ending in '.' is a prefix (job.)"),
    ] = None,
    subject: Annotated[str | None, Query(max_length=128, description="a job id...")] = None,
    user: Annotated[int | None, Query(ge=1, le=MAX_ID, description="admins: one user")] = None,
    since: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO 8601, exclusive")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_POSITION, description="only ids above (resume)")
    ] = None,
    limit: EventLimit = 100,
    offset: Offset = 0,
) -> Envelope[EventPage]:
    """Platform events the caller may see, newest first (admins see every user's)."""
    page = platform.events.list(
        principal, kind=kind, subject=subject, user=user, since=since, until=until,
        after_id=after, limit=limit, offset=offset,
    )  # fmt: skip
    return Envelope(data=page)


@router.get("/processes", response_model=Envelope[ProcessList])
def list_processes(platform: PlatformDep, _admin: AdminDep) -> Envelope[ProcessList]:
    """The platform's processes on this host (admins): role, state, memory, current job."""
    return Envelope(data=platform.processes.sample())
