"""Routes that read results like a professional: round trips, period tables, comparison."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import PlatformDep, PrincipalDep, app_service
from quantdesk.api.params import Page
from quantdesk.api.routes_data import data_service
from quantdesk.api.schemas import ERROR_RESPONSES, Envelope
from quantdesk.services.analysis import AnalysisService
from quantdesk.services.platform import Platform
from quantdesk.services.views_analysis import (
    Comparison,
    PeriodTables,
    PlotSeries,
    RoundTripPage,
)

#: The report is a document of its own: inline scripts (checked by hash in the report's own
#: policy), inline styles, data: images; nothing fetched, never framed.
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

router = APIRouter(
    prefix="/api/backtest", tags=["jobs"], route_class=CheckedRoute, responses=ERROR_RESPONSES
)


def analysis_service(request: Request, platform: Platform) -> AnalysisService:
    """The app's ``AnalysisService`` (made on first use)."""
    return app_service(
        request, "analysis_service", lambda: AnalysisService(data_service(request, platform))
    )


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


@router.get("/jobs/{job_id}/plots", response_model=Envelope[PlotSeries])
def plots(
    job_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> Envelope[PlotSeries]:
    """The series the strategy recorded with ``plot()``, by name."""
    return Envelope(data=analysis_service(request, platform).plots(principal, job_id))


@router.get(
    "/jobs/{job_id}/report",
    response_class=Response,  # not HTMLResponse: the error answers stay documented as JSON
    responses={200: {"description": "a self-contained HTML tear sheet, as an attachment",
                     "content": {"text/html": {"schema": {"type": "string"}}}}},
)  # fmt: skip
async def report(
    job_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> HTMLResponse:
    """Download the run's HTML report (works offline; 413 past a 64 MiB result)."""
    service = analysis_service(request, platform)
    html = await run_in_threadpool(service.report, principal, job_id)
    return HTMLResponse(
        html,
        headers={
            "Content-Disposition": f'attachment; filename="{job_id}-report.html"',
            # the report's own CSP (a <meta>) allows its two inline scripts; this one frames it
            "Content-Security-Policy": REPORT_CSP,
        },
    )


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
