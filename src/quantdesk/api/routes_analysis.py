"""Routes that read results like a professional: round trips, period tables, comparison."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import PlatformDep, PrincipalDep
from quantdesk.api.params import Page
from quantdesk.api.routes_data import data_service
from quantdesk.api.schemas import ERROR_RESPONSES, Envelope
from quantdesk.services.analysis import AnalysisService
from quantdesk.services.platform import Platform
from quantdesk.services.views_analysis import Comparison, PeriodTables, RoundTripPage

router = APIRouter(
    prefix="/api/backtest", tags=["jobs"], route_class=CheckedRoute, responses=ERROR_RESPONSES
)


def analysis_service(request: Request, platform: Platform) -> AnalysisService:
    """The app's ``AnalysisService`` (made on first use)."""
    service = getattr(request.app.state, "analysis_service", None)
    if service is None:
        service = AnalysisService(data_service(request, platform))
        request.app.state.analysis_service = service
    return service


@router.get("/jobs/{job_id}/round-trips", response_model=Envelope[RoundTripPage])
def round_trips(
    job_id: str,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
    symbol: Annotated[str | None, Query(description="only this order_book_id")] = None,
    page: Page = 1,
    page_size: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Envelope[RoundTripPage]:
    """Round-trip trades of a FINISHED job (FIFO lots), paged, in the order they closed."""
    service = analysis_service(request, platform)
    return Envelope(data=service.round_trips(principal, job_id, page, page_size, symbol))


@router.get("/jobs/{job_id}/analysis", response_model=Envelope[PeriodTables])
def period_tables(
    job_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> Envelope[PeriodTables]:
    """Monthly and yearly returns, rolling Sharpe/volatility/beta, the deepest drawdowns."""
    return Envelope(data=analysis_service(request, platform).tables(principal, job_id))


@router.get("/compare", response_model=Envelope[Comparison])
def compare(
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
    job_ids: Annotated[
        str, Query(description="2-10 FINISHED job ids, comma-separated", max_length=400)
    ],
) -> Envelope[Comparison]:
    """Runs side by side: metrics, rebased equity, drawdowns, correlation, inputs, code diff."""
    return Envelope(data=analysis_service(request, platform).compare(principal, job_ids))
