"""Routes the web UI reads, with the same conventions as the contract's routes.

The catalog, run options, last runs, and a job's positions, trades, inputs and downloadable
files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import AdminDep, PlatformDep, PrincipalDep, app_service
from quantdesk.api.params import Page
from quantdesk.api.schemas import (
    ERROR_RESPONSES,
    Bars,
    Envelope,
    InstrumentList,
    LastRuns,
    PositionPage,
    RunInfo,
    RunOptions,
    TradePage,
)
from quantdesk.data import Adjust
from quantdesk.services.data import DataService
from quantdesk.services.data_import import DataImportService, upload_spec
from quantdesk.services.platform import Platform
from quantdesk.services.views_data import UploadResult
from quantdesk.services.views_results import ResultDocument

router = APIRouter(prefix="/api", route_class=CheckedRoute, responses=ERROR_RESPONSES)


def data_service(request: Request, platform: Platform) -> DataService:
    """The app's ``DataService`` (made on first use)."""
    return app_service(
        request, "data_service",
        lambda: DataService(platform.db, platform.settings, platform.catalog),
    )  # fmt: skip


class InstrumentsResponse(BaseModel):
    """The answer of ``GET /api/data/instruments``."""

    ok: bool = True
    data: InstrumentList


class BarsResponse(BaseModel):
    """The answer of ``GET /api/data/instruments/{order_book_id}/bars``."""

    ok: bool = True
    data: Bars


class RunOptionsResponse(BaseModel):
    """The answer of ``GET /api/backtest/options``."""

    ok: bool = True
    data: RunOptions


class LastRunsResponse(BaseModel):
    """The answer of ``GET /api/backtest/last-runs``."""

    ok: bool = True
    data: LastRuns


class RunInfoResponse(BaseModel):
    """The answer of ``GET /api/backtest/jobs/{job_id}/run-info``."""

    ok: bool = True
    data: RunInfo


class PositionsResponse(BaseModel):
    """The answer of ``GET /api/backtest/jobs/{job_id}/positions``."""

    ok: bool = True
    data: PositionPage


class TradesResponse(BaseModel):
    """The answer of ``GET /api/backtest/jobs/{job_id}/trades``."""

    ok: bool = True
    data: TradePage


PageDep = Page
PageSizeDep = Annotated[int, Query(ge=1, le=10_000)]


@router.get("/data/instruments", response_model=InstrumentsResponse, tags=["data"])
def instruments(
    request: Request,
    platform: PlatformDep,
    _principal: PrincipalDep,
    q: Annotated[
        str | None, Query(max_length=100, description="a substring of the id, symbol or name")
    ] = None,
    market: Annotated[str | None, Query(description="us or cn", max_length=8)] = None,
    type: Annotated[str | None, Query(description="CS, INDX or ETF", max_length=8)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> InstrumentsResponse:
    """The catalog: instruments with their first/last bar and bar count, searched and paged."""
    service = data_service(request, platform)
    return InstrumentsResponse(data=service.instruments(q, market, type, limit, offset))


@dataclass(frozen=True)
class BarWindow:
    """The bars asked for: ``[start, end]`` (``YYYY-MM-DD``, open ends) and the adjustment."""

    start: str | None
    end: str | None
    adjust: Adjust


def bar_window(
    start: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
    end: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
    adjust: Annotated[Adjust, Query(description="none: as traded; pre: forward-adjusted")] = (
        Adjust.NONE
    ),
) -> BarWindow:
    """The ``start``/``end``/``adjust`` query of the bar routes."""
    return BarWindow(start, end, adjust)


BarWindowDep = Annotated[BarWindow, Depends(bar_window)]


@router.get("/data/instruments/{order_book_id}/bars", response_model=BarsResponse, tags=["data"])
def bars(
    order_book_id: str,
    request: Request,
    platform: PlatformDep,
    _principal: PrincipalDep,
    window: BarWindowDep,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> BarsResponse:
    """One instrument's daily bars in ``[start, end]`` (paged with ``limit``/``offset``)."""
    service = data_service(request, platform)
    start, end, adjust = window.start, window.end, window.adjust
    return BarsResponse(data=service.bars(order_book_id, start, end, adjust, limit, offset))


@router.get(
    "/data/instruments/{order_book_id}/bars/download",
    tags=["data"],
    response_class=Response,
    responses={200: {"description": "the bars as a CSV or Parquet attachment", "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}}},
)  # fmt: skip
def download_bars(
    order_book_id: str,
    request: Request,
    platform: PlatformDep,
    _principal: PrincipalDep,
    window: BarWindowDep,
    format: Annotated[str, Query(pattern="^(csv|parquet)$", description="csv or parquet")] = (
        "csv"
    ),
) -> Response:
    """Download one instrument's daily bars in ``[start, end]`` as CSV or Parquet."""
    service = data_service(request, platform)
    frame = service.bars_table(order_book_id, window.start, window.end, window.adjust)
    table = frame.reset_index()
    table["date"] = table["date"].dt.date.astype(str)
    name = f"{order_book_id}-{window.adjust}"
    if format == "parquet":
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        return Response(
            buffer.getvalue(), media_type="application/vnd.apache.parquet",
            headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'},
        )  # fmt: skip
    return Response(
        table.to_csv(index=False), media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )  # fmt: skip


@router.get("/backtest/options", response_model=RunOptionsResponse, tags=["jobs"])
def run_options(
    request: Request, platform: PlatformDep, _principal: PrincipalDep
) -> RunOptionsResponse:
    """The choices a run accepts (frequencies, markets with their defaults, engines...)."""
    return RunOptionsResponse(data=data_service(request, platform).run_options())


@router.get("/backtest/last-runs", response_model=LastRunsResponse, tags=["strategies"])
def last_runs(request: Request, platform: PlatformDep, principal: PrincipalDep) -> LastRunsResponse:
    """The newest job of each of the caller's strategies."""
    return LastRunsResponse(data=data_service(request, platform).last_runs(principal))


@router.get("/backtest/jobs/{job_id}/run-info", response_model=RunInfoResponse, tags=["jobs"])
def run_info(
    job_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> RunInfoResponse:
    """A job's request, and once FINISHED the run's config, conventions and traded symbols."""
    return RunInfoResponse(data=data_service(request, platform).run_info(principal, job_id))


@router.get("/backtest/jobs/{job_id}/positions", response_model=PositionsResponse, tags=["jobs"])
def positions(
    job_id: str,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
    page: PageDep = 1,
    page_size: PageSizeDep = 100,
    date: Annotated[str | None, Query(description="only this YYYY-MM-DD")] = None,
) -> PositionsResponse:
    """Daily positions of a FINISHED job, newest first (409 ``RESULT_NOT_READY`` before)."""
    data = data_service(request, platform).positions(principal, job_id, page, page_size, date)
    return PositionsResponse(data=data)


@router.get("/backtest/jobs/{job_id}/trades", response_model=TradesResponse, tags=["jobs"])
def trades(
    job_id: str,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
    symbol: Annotated[str | None, Query(description="only fills of this order_book_id")] = None,
    page: PageDep = 1,
    page_size: PageSizeDep = 100,
) -> TradesResponse:
    """Fills of a FINISHED job, optionally of one symbol."""
    data = data_service(request, platform).trades(principal, job_id, symbol, page, page_size)
    return TradesResponse(data=data)


@router.get(
    "/backtest/jobs/{job_id}/files/result.json",
    tags=["jobs"],
    response_class=StreamingResponse,
    responses={200: {"description": "the job's result.json, as an attachment",
                     "model": ResultDocument}},
)  # fmt: skip
def result_file(
    job_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    """Download the full result JSON (summary, conventions, config, daily series, fills...)."""
    body = data_service(request, platform).result_file(principal, job_id)
    return StreamingResponse(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{job_id}-result.json"'},
    )


@router.get(
    "/backtest/jobs/{job_id}/files/trades.csv",
    tags=["jobs"],
    response_class=StreamingResponse,
    responses={200: {"description": "the fills as CSV (a header row), as an attachment",
                     "content": {"text/csv": {"schema": {"type": "string"}}}}},
)  # fmt: skip
def trades_csv(
    job_id: str, request: Request, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    """Download the fills as CSV."""
    body = data_service(request, platform).trades_csv(principal, job_id)
    return StreamingResponse(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{job_id}-trades.csv"'},
    )


def import_service(request: Request, platform: Platform) -> DataImportService:
    """The app's ``DataImportService`` (made on first use)."""
    return app_service(
        request, "import_service", lambda: DataImportService(platform.catalog, platform.events)
    )


@router.post(
    "/data/import",
    response_model=Envelope[UploadResult],
    tags=["data"],
    responses={400: {"description": "unreadable file, bad field, or refused (the report is "
                                    "the error's ``data``); nothing changed"}},
)  # fmt: skip
async def import_data(
    request: Request,
    platform: PlatformDep,
    principal: AdminDep,
    file: Annotated[UploadFile, File(description="CSV or Parquet: one instrument or many")],
    order_book_id: Annotated[
        str | None, Form(description="the id of a single-instrument file", max_length=32)
    ] = None,
    market: Annotated[str | None, Form(description="us or cn (new instruments)")] = None,
    type: Annotated[str | None, Form(description="CS, INDX or ETF (new instruments)")] = None,
    lot_size: Annotated[int | None, Form(ge=1, le=1_000_000)] = None,
    board: Annotated[str | None, Form(description="MainBoard, GEM, KSH or BJS")] = None,
    name: Annotated[str | None, Form(max_length=200)] = None,
    mapping: Annotated[
        str | None,
        Form(
            description='JSON {catalog column: file column}, e.g. {"date": "Day"}', max_length=4000
        ),
    ] = None,
    strict: Annotated[bool, Form(description="refuse the file if any row is invalid")] = True,
    dry_run: Annotated[bool, Form(description="validate and report only")] = False,
) -> Envelope[UploadResult]:
    """Validate and import a file of daily bars (admins): a report per instrument.

    ``dry_run`` previews without writing; ``strict`` (the default) refuses the whole file
    when anything is invalid. At most ``DATA_UPLOAD_MB`` (100 MiB).
    """
    spec = upload_spec(
        order_book_id=order_book_id, market=market, type_=type, lot_size=lot_size,
        board=board, name=name, mapping=mapping, strict=strict, dry_run=dry_run,
    )  # fmt: skip
    data = await file.read()
    service = import_service(request, platform)
    result = await run_in_threadpool(
        service.upload, principal, file.filename or "upload", data, spec
    )
    return Envelope(data=result)
