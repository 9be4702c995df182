"""Routes the web UI reads, with the same conventions as the contract's routes.

The catalog, run options, last runs, and a job's positions, trades, inputs and downloadable
files.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import PlatformDep, PrincipalDep
from quantdesk.api.params import Page
from quantdesk.api.schemas import ERROR_RESPONSES
from quantdesk.core.jobs import JobStatus
from quantdesk.services.data import DataService
from quantdesk.services.platform import Platform

router = APIRouter(prefix="/api", route_class=CheckedRoute, responses=ERROR_RESPONSES)


def _service(request: Request, platform: Platform) -> DataService:
    service = getattr(request.app.state, "data_service", None)
    if service is None:
        service = DataService(platform.db, platform.settings, platform.catalog)
        request.app.state.data_service = service
    return service


class InstrumentStats(BaseModel):
    """One instrument of the catalog with its bar range."""

    order_book_id: str
    symbol: str
    name: str
    market: str
    type: str
    exchange: str
    lot_size: int
    listed_date: str | None
    delisted_date: str | None
    currency: str
    first_bar: str | None = Field(description="YYYY-MM-DD of the first stored bar")
    last_bar: str | None
    bar_count: int | None


class InstrumentList(BaseModel):
    """``data`` of ``GET /api/data/instruments``."""

    instruments: list[InstrumentStats]
    total: int


class InstrumentsResponse(BaseModel):
    """The answer of ``GET /api/data/instruments``."""

    ok: bool = True
    data: InstrumentList


class Bars(BaseModel):
    """Daily bars as columns (all the same length)."""

    order_book_id: str
    adjust: str = Field(description="pre (forward-adjusted) or none (as traded)")
    dates: list[str]
    open: list[float | None]
    high: list[float | None]
    low: list[float | None]
    close: list[float | None]
    volume: list[float | None]


class BarsResponse(BaseModel):
    """The answer of ``GET /api/data/instruments/{order_book_id}/bars``."""

    ok: bool = True
    data: Bars


class MarketOption(BaseModel):
    """A market a run may use, with its defaults (``tax`` null: dated schedule)."""

    name: str
    benchmark: str | None
    currency: str
    commission: float
    min_commission: float
    tax: float | None = Field(description="null: the market's dated schedule")
    slippage: float
    t_plus: int


class RunOptions(BaseModel):
    """The choices of ``POST /api/backtest/run``."""

    frequencies: list[str]
    markets: list[MarketOption]
    matchings: list[str]
    adjusts: list[str]
    engines: list[str]


class RunOptionsResponse(BaseModel):
    """The answer of ``GET /api/backtest/options``."""

    ok: bool = True
    data: RunOptions


class LastRun(BaseModel):
    """A strategy's newest job: its id, status and ISO timestamps (null if unknown)."""

    job_id: str
    status: JobStatus
    created_at: str | None
    updated_at: str | None


class LastRuns(BaseModel):
    """``data`` of ``GET /api/backtest/last-runs``."""

    last_runs: dict[str, LastRun] = Field(description="strategy id → its newest job")


class LastRunsResponse(BaseModel):
    """The answer of ``GET /api/backtest/last-runs``."""

    ok: bool = True
    data: LastRuns


class RunInfo(BaseModel):
    """A job's inputs; ``config``, ``conventions`` and ``symbols`` once FINISHED."""

    job_id: str
    strategy_id: str
    status: JobStatus
    request: dict[str, Any]
    config: dict[str, Any] | None
    conventions: dict[str, Any] | None
    symbols: list[str]


class RunInfoResponse(BaseModel):
    """The answer of ``GET /api/backtest/jobs/{job_id}/run-info``."""

    ok: bool = True
    data: RunInfo


class PositionPage(BaseModel):
    """One page of a job's daily positions (``columns`` names their fields)."""

    columns: list[str]
    positions: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


class PositionsResponse(BaseModel):
    """The answer of ``GET /api/backtest/jobs/{job_id}/positions``."""

    ok: bool = True
    data: PositionPage


class TradePage(BaseModel):
    """One page of a job's fills; ``total`` counts them all."""

    trades: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


class TradesResponse(BaseModel):
    """The answer of ``GET /api/backtest/jobs/{job_id}/trades``."""

    ok: bool = True
    data: TradePage


PageDep = Page
PageSizeDep = Annotated[int, Query(ge=1, le=10_000)]


@router.get("/data/instruments", response_model=InstrumentsResponse, tags=["data"])
def instruments(request: Request, platform: PlatformDep, _principal: PrincipalDep) -> Any:
    """The catalog: every instrument with its first/last bar and bar count."""
    return {"ok": True, "data": _service(request, platform).instruments()}


@router.get("/data/instruments/{order_book_id}/bars", response_model=BarsResponse, tags=["data"])
def bars(
    order_book_id: str,
    request: Request,
    platform: PlatformDep,
    _principal: PrincipalDep,
    start: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
    end: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
    adjust: Annotated[str, Query(description="pre or none")] = "none",
) -> Any:
    """One instrument's daily bars in ``[start, end]``."""
    data = _service(request, platform).bars(order_book_id, start, end, adjust)
    return {"ok": True, "data": data}


@router.get("/backtest/options", response_model=RunOptionsResponse, tags=["jobs"])
def run_options(request: Request, platform: PlatformDep, _principal: PrincipalDep) -> Any:
    """The choices a run accepts (frequencies, markets with their defaults, engines...)."""
    return {"ok": True, "data": _service(request, platform).run_options()}


@router.get("/backtest/last-runs", response_model=LastRunsResponse, tags=["strategies"])
def last_runs(request: Request, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """The newest job of each of the caller's strategies."""
    return {"ok": True, "data": _service(request, platform).last_runs(principal)}


@router.get("/backtest/jobs/{job_id}/run-info", response_model=RunInfoResponse, tags=["jobs"])
def run_info(job_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """A job's request, and once FINISHED the run's config, conventions and traded symbols."""
    return {"ok": True, "data": _service(request, platform).run_info(principal, job_id)}


@router.get("/backtest/jobs/{job_id}/positions", response_model=PositionsResponse, tags=["jobs"])
def positions(
    job_id: str,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
    page: PageDep = 1,
    page_size: PageSizeDep = 100,
    date: Annotated[str | None, Query(description="only this YYYY-MM-DD")] = None,
) -> Any:
    """Daily positions of a FINISHED job, newest first (409 ``RESULT_NOT_READY`` before)."""
    data = _service(request, platform).positions(principal, job_id, page, page_size, date)
    return {"ok": True, "data": data}


@router.get("/backtest/jobs/{job_id}/trades", response_model=TradesResponse, tags=["jobs"])
def trades(
    job_id: str,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
    symbol: Annotated[str | None, Query(description="only fills of this order_book_id")] = None,
    page: PageDep = 1,
    page_size: PageSizeDep = 100,
) -> Any:
    """Fills of a FINISHED job, optionally of one symbol."""
    data = _service(request, platform).trades(principal, job_id, symbol, page, page_size)
    return {"ok": True, "data": data}


@router.get(
    "/backtest/jobs/{job_id}/files/result.json",
    tags=["jobs"],
    responses={200: {"content": {"application/json": {}}}},
)
def result_file(
    job_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    """Download the full result JSON (summary, conventions, config, daily series, fills...)."""
    body = _service(request, platform).result_file(principal, job_id)
    return StreamingResponse(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{job_id}-result.json"'},
    )


@router.get(
    "/backtest/jobs/{job_id}/files/trades.csv",
    tags=["jobs"],
    responses={200: {"content": {"text/csv": {}}}},
)
def trades_csv(
    job_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    """Download the fills as CSV."""
    body = _service(request, platform).trades_csv(principal, job_id)
    return StreamingResponse(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{job_id}-trades.csv"'},
    )
