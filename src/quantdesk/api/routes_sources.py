"""Data sources and catalog updates: ``/api/data/sources``, ``/api/data/updates``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import AdminDep, PlatformDep, PrincipalDep, app_service
from quantdesk.api.params import JobLimit, Offset
from quantdesk.api.schemas import ERROR_RESPONSES, Envelope, JobStatusView
from quantdesk.services.data_schedule import UpdateScheduler
from quantdesk.services.data_updates import (
    DataUpdateService,
    UpdateList,
    UpdateRequest,
    UpdateStatus,
    sources,
)
from quantdesk.services.platform import Platform
from quantdesk.services.views_data import SourceList, UpdateAccepted, UpdateSchedule

router = APIRouter(
    prefix="/api/data", tags=["data"], route_class=CheckedRoute, responses=ERROR_RESPONSES
)


def update_service(request: Request, platform: Platform) -> DataUpdateService:
    """The app's ``DataUpdateService`` (made on first use)."""
    return app_service(
        request, "update_service", lambda: DataUpdateService(platform.db, platform.settings)
    )


@router.get("/sources", response_model=Envelope[SourceList])
def list_sources(principal: PrincipalDep) -> Envelope[SourceList]:  # noqa: ARG001 -- signed in
    """Every data source: what it provides and whether its library is installed."""
    return Envelope(data=sources())


@router.post("/sources/{source}/update", response_model=Envelope[UpdateAccepted])
@router.post(
    "/{source}/update", response_model=Envelope[UpdateAccepted], deprecated=True,
    operation_id="update_source_seed_path",
    summary="Update Source (seed 003 section 2.5's path; same as /sources/{source}/update)",
)  # fmt: skip
def update_source(
    source: str,
    request: Request,
    platform: PlatformDep,
    principal: AdminDep,
    body: Annotated[
        UpdateRequest,
        Body(examples=[{"order_book_ids": ["600519.XSHG"], "start_date": "2024-01-02"}]),
    ],
) -> Envelope[UpdateAccepted]:
    """Queue an update of the catalog from ``source`` (admins): a job on the worker pool."""
    job_id = update_service(request, platform).submit(principal, source, body)
    return Envelope(data=UpdateAccepted(job_id=job_id))


def scheduler(request: Request, platform: Platform) -> UpdateScheduler:
    """The app's ``UpdateScheduler`` (made on first use; the lifespan ticks it)."""
    return app_service(
        request, "update_scheduler",
        lambda: UpdateScheduler(platform.db, platform.settings, platform.catalog),
    )  # fmt: skip


@router.get("/schedule", response_model=Envelope[UpdateSchedule])
def schedule(
    request: Request,
    platform: PlatformDep,
    principal: AdminDep,  # noqa: ARG001 -- admins
) -> Envelope[UpdateSchedule]:
    """The scheduled updates (``DATA_UPDATE_CRON``): what, from where, and when next."""
    return Envelope(data=scheduler(request, platform).view())


@router.get("/updates", response_model=Envelope[UpdateList])
def list_updates(
    request: Request,
    platform: PlatformDep,
    principal: AdminDep,
    limit: JobLimit = 100,
    offset: Offset = 0,
) -> Envelope[UpdateList]:
    """Every update job (any admin's, scheduled ones included), newest first."""
    return Envelope(data=update_service(request, platform).list(principal, limit, offset))


@router.get("/updates/{job_id}", response_model=Envelope[UpdateStatus])
def get_update(
    job_id: str, request: Request, platform: PlatformDep, principal: AdminDep
) -> Envelope[UpdateStatus]:
    """An update's status and progress, and its report once FINISHED."""
    return Envelope(data=update_service(request, platform).status(principal, job_id))


@router.post("/updates/{job_id}/cancel", response_model=JobStatusView)
def cancel_update(
    job_id: str, request: Request, platform: PlatformDep, principal: AdminDep
) -> JobStatusView:
    """Cancel an update (any admin's): a queued one at once, a running one before it writes."""
    return update_service(request, platform).cancel(principal, job_id)


@router.post("/updates/{job_id}/retry", response_model=Envelope[UpdateAccepted])
def retry_update(
    job_id: str, request: Request, platform: PlatformDep, principal: AdminDep
) -> Envelope[UpdateAccepted]:
    """Queue the same update again."""
    job_id = update_service(request, platform).retry(principal, job_id)
    return Envelope(data=UpdateAccepted(job_id=job_id))
