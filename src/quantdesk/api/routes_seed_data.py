"""Seed 003 section 2.5's data paths, beside quantdesk's own (registered last).

``GET /api/data/{source}/symbols`` and ``GET /api/data/{source}/{symbol}`` answer from the
catalog, the one cache every source writes into: a source's symbols are the catalog's
instruments it covers (the bundled ids for ``demo``; the instruments of its markets for a
library source or ``upload``), and a symbol's history is its stored bars, as
``GET /api/data/instruments/{order_book_id}/bars``. (``POST /api/data/{source}/update`` is in
``routes_sources``.) An unknown source is a 404 naming the known ones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import PlatformDep, PrincipalDep
from quantdesk.api.routes_data import BarsResponse, BarWindowDep, InstrumentsResponse, data_service
from quantdesk.api.schemas import ERROR_RESPONSES
from quantdesk.core.errors import NotFound
from quantdesk.data.demo import DEMO_INSTRUMENTS
from quantdesk.data.sources import SOURCES

router = APIRouter(
    prefix="/api/data", tags=["data"], route_class=CheckedRoute, responses=ERROR_RESPONSES
)


def _source(source: str) -> None:
    if source not in SOURCES:
        raise NotFound(f"data source {source!r} not found; sources: {', '.join(SOURCES)}")


@router.get("/{source}/symbols", response_model=InstrumentsResponse)
def source_symbols(
    source: str,
    request: Request,
    platform: PlatformDep,
    _principal: PrincipalDep,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> InstrumentsResponse:
    """The catalog's instruments from ``source`` (seed 003's symbol list), paged."""
    _source(source)
    service = data_service(request, platform)
    only = set(DEMO_INSTRUMENTS) if source == "demo" else None
    markets = None if source in ("demo", "upload") else set(SOURCES[source].markets)
    return InstrumentsResponse(
        data=service.instruments(limit=limit, offset=offset, markets=markets, only=only)
    )


@router.get("/{source}/{symbol}", response_model=BarsResponse)
def source_history(
    source: str,
    symbol: str,
    request: Request,
    platform: PlatformDep,
    _principal: PrincipalDep,
    window: BarWindowDep,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> BarsResponse:
    """``symbol``'s stored daily bars (seed 003's history query).

    ``start``, ``end``, ``adjust``, ``limit`` and ``offset`` as
    ``/api/data/instruments/{id}/bars``.
    """
    _source(source)
    service = data_service(request, platform)
    start, end, adjust = window.start, window.end, window.adjust
    return BarsResponse(data=service.bars(symbol, start, end, adjust, limit, offset))
