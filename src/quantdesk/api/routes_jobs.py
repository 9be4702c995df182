"""Task management routes: job listing, cancel, retry, delete; strategy history and delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import PlatformDep, PrincipalDep
from quantdesk.api.params import JobLimit, Offset
from quantdesk.api.schemas import (
    ERROR_RESPONSES,
    Envelope,
    JobDeleted,
    JobList,
    JobStatusView,
    RunResponse,
    StrategyDeleted,
    StrategyJobs,
)
from quantdesk.core.jobs import JobStatus
from quantdesk.services.bodies import JobAnnotation

#: The closed values of the listing's query (declared as enums in the schema; the service
#: keeps its messages: an unknown status is a 400 naming the values, an unknown order_by
#: falls back to created_at descending, as the contract's listing did).
STATUSES = [s.value for s in JobStatus]
ORDER_BY = [
    "id", "strategy_id", "name", "status", "created_at", "updated_at", "total_returns",
    "sharpe", "max_drawdown", "duration",
]  # fmt: skip
ORDERS = ["asc", "desc"]
StatusQuery = Annotated[
    str | None,
    Query(description=" | ".join(STATUSES), json_schema_extra={"enum": [*STATUSES, ""]}),
]

router = APIRouter(
    prefix="/api/backtest", tags=["jobs"], route_class=CheckedRoute, responses=ERROR_RESPONSES
)


@router.get("/jobs", response_model=Envelope[JobList])
def list_jobs(
    platform: PlatformDep,
    principal: PrincipalDep,
    status: StatusQuery = None,
    strategy_id: Annotated[str | None, Query(description="exactly this strategy")] = None,
    strategy: Annotated[
        str | None,
        Query(max_length=200, description="a substring of the strategy id, name or title"),
    ] = None,
    date_from: Annotated[str | None, Query(description="created on/after, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, Query(description="created on/before, YYYY-MM-DD")] = None,
    order_by: Annotated[
        str,
        Query(
            description="id, strategy_id, name (the strategy's name, then its id), status, "
            "created_at, updated_at, total_returns, sharpe, max_drawdown or duration (the "
            "metrics put unfinished jobs last)",
            json_schema_extra={"enum": ORDER_BY},
        ),
    ] = "created_at",
    order: Annotated[str, Query(description="asc or desc", json_schema_extra={"enum": ORDERS})] = (
        "desc"
    ),
    limit: JobLimit = 100,
    offset: Offset = 0,
) -> Envelope[JobList]:
    """The caller's jobs across strategies: ``{"ok": true, "data": {"jobs", "total"}}``."""
    data = platform.jobs.list(
        principal, status=status, strategy_id=strategy_id, date_from=date_from,
        date_to=date_to, order_by=order_by, order=order, limit=limit, offset=offset,
        strategy=strategy,
    )  # fmt: skip
    return Envelope(data=data)


@router.post("/jobs/{job_id}/cancel", response_model=JobStatusView)
def cancel_job(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> JobStatusView:
    """Cancel: a queued job at once, a running one within about a second (idempotent)."""
    return platform.jobs.cancel(principal, job_id)


@router.post("/jobs/{job_id}/retry", response_model=RunResponse)
def retry_job(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> RunResponse:
    """A new job with the same code snapshot and inputs (the code as it was, not as it is)."""
    return RunResponse(job_id=platform.jobs.retry(principal, job_id))


@router.post("/jobs/{job_id}/rerun", response_model=RunResponse)
def rerun_job(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> RunResponse:
    """A new job with the same inputs and the strategy's current code (409 for inline runs)."""
    return RunResponse(job_id=platform.jobs.rerun(principal, job_id))


@router.patch("/jobs/{job_id}", response_model=JobStatusView)
def annotate_job(
    job_id: str,
    body: Annotated[JobAnnotation, Body(examples=[{"title": "baseline", "notes": "..."}])],
    platform: PlatformDep,
    principal: PrincipalDep,
) -> JobStatusView:
    """Set the run's ``title`` and/or ``notes`` (shown in lists, comparisons and reports)."""
    return platform.jobs.annotate(principal, job_id, body.title, body.notes)


@router.delete("/jobs/{job_id}", response_model=Envelope[JobDeleted])
def delete_job(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> Envelope[JobDeleted]:
    """Delete a job (§4.1): ``{"ok": true, "data": {"job_id", "deleted": true}}``."""
    return Envelope(data=platform.jobs.delete(principal, job_id))


@router.get(
    "/strategies/{strategy_id}/jobs", response_model=Envelope[StrategyJobs], tags=["strategies"]
)
def strategy_jobs(
    strategy_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    status: StatusQuery = None,
    limit: JobLimit = 100,
    offset: Offset = 0,
) -> Envelope[StrategyJobs]:
    """A strategy's job history (§4)."""
    return Envelope(data=platform.jobs.history(principal, strategy_id, status, limit, offset))


@router.delete(
    "/strategies/{strategy_id}", response_model=Envelope[StrategyDeleted], tags=["strategies"]
)
def delete_strategy(
    strategy_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    cascade: Annotated[bool, Query(description="also delete the strategy's jobs")] = False,
) -> Envelope[StrategyDeleted]:
    """Delete a strategy (§4.2); 409 with ``data.job_ids`` while it has jobs, unless cascade."""
    return Envelope(data=platform.jobs.delete_strategy(principal, strategy_id, cascade))
