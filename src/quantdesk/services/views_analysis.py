"""What ``AnalysisService`` answers: round trips, period tables and run comparisons."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RoundTrip(BaseModel):
    """One round-trip trade: a quantity opened by one fill and closed by a later one (FIFO)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    order_book_id: str
    direction: str = Field(description="LONG or SHORT")
    quantity: float = Field(description="shares")
    entry_datetime: str = Field(description="the entry fill's exchange-local time, ISO 8601")
    exit_datetime: str = Field(description="the exit fill's exchange-local time, ISO 8601")
    entry_price: float
    exit_price: float
    entry_order_id: int | None = None
    exit_order_id: int | None = None
    costs: float = Field(description="both legs' commission and tax allocated to this trip")
    pnl: float = Field(description="profit and loss net of costs (currency)")
    return_: float | None = Field(
        None, alias="return", description="pnl / (quantity * entry_price)"
    )
    holding_sessions: int | None = Field(None, description="sessions from entry to exit")
    holding_days: int | None = Field(None, description="calendar days from entry to exit")
    mae: float | None = Field(
        None, description="maximum adverse excursion, fraction of the entry price (<= 0)"
    )
    mfe: float | None = Field(
        None, description="maximum favourable excursion, fraction of the entry price (>= 0)"
    )


class RoundTripPage(BaseModel):
    """``data`` of ``GET /api/backtest/jobs/{job_id}/round-trips``."""

    round_trips: list[RoundTrip]
    total: int = Field(description="round trips matching (all pages)")
    page: int
    page_size: int


class MonthlyReturn(BaseModel):
    """One month of the monthly returns table."""

    year: int
    month: int = Field(ge=1, le=12)
    returns: float | None
    benchmark_returns: float | None


class YearlyReturn(BaseModel):
    """One year of the yearly returns table."""

    year: int
    returns: float | None
    benchmark_returns: float | None


class RollingMetrics(BaseModel):
    """Rolling Sharpe, volatility and beta over the last ``window`` sessions."""

    window: int
    dates: list[str]
    sharpe: list[float | None]
    volatility: list[float | None]
    beta: list[float | None]


class DrawdownPeriod(BaseModel):
    """One drawdown period: peak, trough and recovery (``end`` null while under water)."""

    start: str
    trough: str
    end: str | None
    depth: float = Field(description="1 - trough / peak, a positive fraction")
    length: int = Field(description="sessions from the peak to the recovery (or the last)")
    days: int = Field(description="calendar days of the same span")


class PeriodTables(BaseModel):
    """``data`` of ``GET /api/backtest/jobs/{job_id}/analysis``: the run's period tables."""

    job_id: str
    monthly: list[MonthlyReturn]
    yearly: list[YearlyReturn]
    rolling: RollingMetrics
    drawdowns: list[DrawdownPeriod]
    conventions: dict[str, str] = Field(description="how each table is computed")


class PlotLine(BaseModel):
    """One ``plot()`` series: a value per session it was recorded."""

    dates: list[str]
    values: list[float | int | None]


class PlotSeries(BaseModel):
    """``data`` of ``GET /api/backtest/jobs/{job_id}/plots``: the strategy's series by name."""

    job_id: str
    series: dict[str, PlotLine]


class CompareRun(BaseModel):
    """One run of a comparison: what it is."""

    job_id: str
    strategy_id: str | None
    strategy_name: str
    title: str
    notes: str = ""
    strategy_version: int | None = Field(None, description="the saved code version it ran")
    engine: str | None
    start_date: str | None
    end_date: str | None


class MetricComparison(BaseModel):
    """One metric side by side; ``best`` is the job with the best value (null: no order)."""

    metric: str
    values: dict[str, float | int | None]
    higher_is_better: bool | None = Field(description="null when neither way is better")
    best: str | None


class CurveSet(BaseModel):
    """Series on one date axis (``null`` where a run has no value)."""

    dates: list[str]
    series: dict[str, list[float | None]]


class Correlation(BaseModel):
    """Correlation of daily returns on the sessions every run has."""

    job_ids: list[str]
    matrix: list[list[float | None]]
    sessions: int = Field(description="sessions the correlation is computed over")


class InputComparison(BaseModel):
    """One input side by side."""

    field: str
    values: dict[str, Any]
    differs: bool


class CodeDiff(BaseModel):
    """The unified diff of a run's code snapshot against the first run's."""

    job_id: str
    identical: bool
    diff: str


class Comparison(BaseModel):
    """``data`` of ``GET /api/backtest/compare``."""

    runs: list[CompareRun]
    metrics: list[MetricComparison]
    equity: CurveSet = Field(description="NAV rebased to 1 at the first common session")
    drawdowns: CurveSet = Field(description="1 - NAV / running peak of the rebased NAV")
    correlation: Correlation
    inputs: list[InputComparison]
    code: list[CodeDiff]
