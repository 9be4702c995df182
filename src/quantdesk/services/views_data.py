"""What ``DataService`` answers: the catalog, run options, last runs and a job's tables."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from quantdesk.backtest.spec import EngineName, Frequency
from quantdesk.core.instruments import Market
from quantdesk.core.jobs import JobStatus
from quantdesk.data.catalog import Adjust
from quantdesk.engine import MarketName, Matching


class StPeriodView(BaseModel):
    """A period under special treatment (``end`` null while it lasts)."""

    start: str
    end: str | None


class InstrumentStats(BaseModel):
    """One instrument of ``GET /api/data/instruments`` with its bar range."""

    order_book_id: str
    symbol: str
    name: str
    market: Market
    type: str
    exchange: str
    lot_size: int
    listed_date: str | None
    delisted_date: str | None
    currency: str
    board_type: str = Field("MainBoard", description="A-shares: MainBoard, GEM, KSH or BJS")
    st_periods: list[StPeriodView] = Field(
        default_factory=list, description="special-treatment (ST) periods of an A-share"
    )
    first_bar: str | None = Field(description="YYYY-MM-DD of the first stored bar")
    last_bar: str | None
    bar_count: int | None


class InstrumentList(BaseModel):
    """``data`` of ``GET /api/data/instruments``."""

    instruments: list[InstrumentStats]
    total: int


class Bars(BaseModel):
    """``data`` of ``GET /api/data/instruments/{order_book_id}/bars``: columns of one length."""

    order_book_id: str
    adjust: Adjust = Field(description="pre (forward-adjusted) or none (as traded)")
    dates: list[str]
    open: list[float | None]
    high: list[float | None]
    low: list[float | None]
    close: list[float | None]
    volume: list[float | None]
    total: int = Field(0, description="bars in [start, end] (all pages)")
    offset: int = Field(0, description="the first bar of this page within them")


class MarketOption(BaseModel):
    """A market of ``GET /api/backtest/options`` with its defaults (``tax`` null: dated)."""

    name: MarketName
    benchmark: str | None
    currency: str
    commission: float
    min_commission: float
    tax: float | None = Field(description="null: the market's dated schedule")
    slippage: float
    t_plus: int


class RunOptions(BaseModel):
    """``data`` of ``GET /api/backtest/options``: the choices of ``POST /api/backtest/run``."""

    frequencies: list[Frequency]
    markets: list[MarketOption]
    matchings: list[Matching]
    adjusts: list[Adjust]
    engines: list[EngineName] = Field(description="auto first")


class LastRun(BaseModel):
    """A strategy's newest job in ``GET /api/backtest/last-runs`` (timestamps null if unknown)."""

    job_id: str
    status: JobStatus
    created_at: str | None
    updated_at: str | None


class LastRuns(BaseModel):
    """``data`` of ``GET /api/backtest/last-runs``."""

    last_runs: dict[str, LastRun] = Field(description="strategy id → its newest job")


class RunInfo(BaseModel):
    """``data`` of ``GET /api/backtest/jobs/{job_id}/run-info`` (``config``... once FINISHED)."""

    job_id: str
    strategy_id: str
    status: JobStatus
    request: dict[str, Any]
    config: dict[str, Any] | None
    conventions: dict[str, Any] | None
    symbols: list[str]


class PositionPage(BaseModel):
    """``data`` of ``GET /api/backtest/jobs/{job_id}/positions``: a page of daily positions."""

    columns: list[str] = Field(description="the fields of the rows")
    positions: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


class TradePage(BaseModel):
    """``data`` of ``GET /api/backtest/jobs/{job_id}/trades``: a page of fills (``total``: all)."""

    trades: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


class RejectedRow(BaseModel):
    """A row an import refused, and why."""

    date: str = Field(description="the row's date as written in the file")
    reason: str


class ImportedInstrument(BaseModel):
    """One instrument of an uploaded file: what was accepted, refused and missing."""

    order_book_id: str
    rows_in: int
    rows_accepted: int
    rejected_total: int
    rejected: list[RejectedRow] = Field(description="the first 200 refused rows")
    missing_sessions_total: int = Field(description="calendar sessions without a bar")
    missing_sessions: list[str] = Field(description="the first 200 of them, YYYY-MM-DD")
    first: str | None
    last: str | None
    error: str | None = Field(description="why none of it can be used (null when usable)")
    warnings: list[str]


class UploadResult(BaseModel):
    """``data`` of ``POST /api/data/import``: the validation report of an uploaded file."""

    format: str = Field(description="csv or parquet")
    columns: list[str] = Field(description="the file's own column names")
    mapping: dict[str, str] = Field(
        default_factory=dict, description="{catalog column: file column} as applied"
    )
    dry_run: bool
    committed: bool = Field(description="true once accepted rows were written")
    refused: str | None = Field(description="why a strict upload was not written")
    rows_in: int
    rows_accepted: int
    instruments: list[ImportedInstrument]


class SourceView(BaseModel):
    """One data source of ``GET /api/data/sources``."""

    name: str
    title: str
    markets: list[str]
    provides: list[str] = Field(
        description="daily_bars, adjustment_factors, instruments, listing_dates, suspensions, "
        "st_status, limit_prices, index_constituents, files"
    )
    package: str | None = Field(description="the library it needs (null: built in)")
    extra: str | None = Field(description="the quantdesk extra that installs it")
    available: bool = Field(description="its library is installed on this server")
    updatable: bool = Field(description="POST /api/data/sources/{name}/update runs on it")
    indexes: list[str] = Field(
        default_factory=list,
        description='indexes whose membership it gives (an update\'s index_ids); ["*"]: any '
        "index of its market it has",
    )


class SourceList(BaseModel):
    """``data`` of ``GET /api/data/sources``."""

    sources: list[SourceView]


class UpdateAccepted(BaseModel):
    """``data`` of ``POST /api/data/sources/{source}/update``: the update job."""

    job_id: str


class UpdateSchedule(BaseModel):
    """``data`` of ``GET /api/data/schedule``: the scheduled updates (``DATA_UPDATE_CRON``)."""

    enabled: bool = Field(description="a cron expression is set and the settings are usable")
    cron: str | None = Field(description="DATA_UPDATE_CRON (null: no scheduled updates)")
    timezone: str = Field(description="the zone the cron expression is read in")
    source: str
    order_book_ids: list[str]
    index_ids: list[str]
    with_members: bool
    days: int = Field(description="days back from today each run re-fetches")
    next_run: str | None = Field(description="the next scheduled time (UTC, ISO 8601)")
    problem: str | None = Field(description="why the schedule is off despite a cron expression")
