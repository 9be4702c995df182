"""The shape of a job's ``result.json`` (``BacktestResult.to_dict``), for the API's schema.

The file is streamed as the job wrote it (``GET .../files/result.json``), never parsed whole;
these models document it field by field in the OpenAPI schema (and so in the web client's
generated types). Numbers are JSON numbers, dates ``YYYY-MM-DD``, times ISO 8601 local to the
exchange; NaN is ``null``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quantdesk.services.views_jobs import Equity

#: A value of the summary, the conventions or the run's config.
Scalar = float | int | str | bool | None


class FillRecord(BaseModel):
    """One fill (``trades`` of a result): the execution of (part of) an order."""

    model_config = ConfigDict(extra="allow")

    datetime: str = Field(description="the bar's exchange-local time, ISO 8601")
    order_id: int
    order_book_id: str
    side: str = Field(description="BUY or SELL")
    quantity: float = Field(description="shares")
    price: float = Field(description="fill price after slippage")
    commission: float
    tax: float
    reason: str = Field(description="the fill rule applied")
    realized_pnl: float | None = Field(description="P/L a sell realized (average cost)")


class OrderRecord(BaseModel):
    """One order of a result with its final status."""

    model_config = ConfigDict(extra="allow")

    order_id: int
    datetime: str
    order_book_id: str
    side: str
    quantity: float
    filled_quantity: float
    avg_price: float | None
    limit_price: float | None
    status: str = Field(description="FILLED, REJECTED, CANCELLED...")
    reject_reason: str | None
    message: str | None


class ResultDocument(BaseModel):
    """``result.json``: everything a run produced (see ``BacktestResult.to_dict``)."""

    model_config = ConfigDict(extra="allow")

    summary: dict[str, Scalar] = Field(description="run info and metrics (RQAlpha's names)")
    conventions: dict[str, Scalar] = Field(description="how each metric is computed")
    config: dict[str, Any] = Field(description="the run's parameters")
    equity: Equity
    portfolio: dict[str, list[float | str | None]] = Field(
        description="daily columns: date, cash, market_value, total_value, nav, returns, "
        "benchmark_close, benchmark_nav, benchmark_returns"
    )
    trades: list[FillRecord]
    trade_columns: list[str]
    trades_total: int
    positions: dict[str, list[Scalar]] = Field(
        description="per (session, holding): date, order_book_id, quantity, sellable, "
        "avg_price, last_price, market_value"
    )
    orders: list[OrderRecord]
    plots: dict[str, list[Scalar]] = Field(description="plot() series: date, name, value")
    logs: list[str]
    engine_summary: dict[str, Any] | None = Field(
        description="the engine's own summary (RQAlpha's), else null"
    )
