"""What ``BacktestService`` and ``JobService`` answer: job states, results and job management."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from quantdesk.core.clock import iso_utc, utcnow
from quantdesk.core.jobs import JobStatus
from quantdesk.storage.models import JobRow


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _duration(started: dt.datetime | None, finished: dt.datetime | None) -> float | None:
    """Seconds from ``started`` to ``finished`` (or to now while it runs)."""
    if started is None:
        return None
    end = finished if finished is not None else utcnow()
    return round(max((end - started).total_seconds(), 0.0), 3)


class JobError(BaseModel):
    """``error`` of a FAILED job, in ``GET /api/backtest/jobs/{job_id}`` and the listings."""

    code: str
    message: str | None


class JobStatusView(BaseModel):
    """``GET /api/backtest/jobs/{job_id}`` (and ``POST .../cancel``)."""

    job_id: str
    status: JobStatus
    error: JobError | None
    error_message: str | None
    strategy_id: str | None = Field(description="the strategy run; null for an inline run")
    strategy_name: str = Field(
        "", description="the strategy's name when the job was created (an inline run's own)"
    )
    inline: bool = Field(
        False, description="true when the code came with the request (strategy_code)"
    )
    created_at: str | None
    updated_at: str | None
    started_at: str | None
    finished_at: str | None
    attempts: int
    progress: float = Field(description="0-100")
    current_bar: int
    total_bars: int
    sandbox_level: str | None = Field(
        None, description="strong | standard | weak | off: the sandbox the job last ran in"
    )
    kind: str = Field("backtest", description="backtest or data_update")
    title: str = Field("", description="the user's title of the run")
    notes: str = Field("", description="the user's notes on the run")
    strategy_version: int | None = Field(None, description="the saved code version it ran")
    start_date: str | None = Field(None, description="the run's first date (YYYY-MM-DD)")
    end_date: str | None = Field(None, description="the run's last date (YYYY-MM-DD)")
    universe: list[str] = Field(default_factory=list, description="the instruments it traded")
    engine: str | None = Field(None, description="native, backtrader or rqalpha")
    total_returns: float | None = Field(None, description="FINISHED: total return (fraction)")
    sharpe: float | None = Field(None, description="FINISHED: annualized Sharpe ratio")
    max_drawdown: float | None = Field(None, description="FINISHED: max drawdown (fraction)")
    duration_seconds: float | None = Field(
        None, description="from start to finish (so far, while it runs)"
    )

    @classmethod
    def of(cls, row: JobRow) -> JobStatusView:
        """The status of the job ``row`` (``error`` only when it carries an error code)."""
        error = JobError(code=row.error_code, message=row.error_message) if row.error_code else None
        request = row.request if isinstance(row.request, dict) else {}
        universe = request.get("universe")
        return cls(
            job_id=row.id,
            status=JobStatus(row.status),
            error=error,
            error_message=row.error_message if row.error_code else None,
            strategy_id=row.strategy_id or None,
            strategy_name=row.strategy_name,
            inline=not row.strategy_id and (row.kind or "backtest") == "backtest",
            created_at=iso_utc(row.created_at),
            updated_at=iso_utc(row.updated_at),
            started_at=iso_utc(row.started_at),
            finished_at=iso_utc(row.finished_at),
            attempts=row.attempts,
            progress=row.progress,
            current_bar=row.current_bar,
            total_bars=row.total_bars,
            sandbox_level=row.sandbox_level,
            kind=row.kind or "backtest",
            title=row.title or "",
            notes=row.notes or "",
            strategy_version=row.strategy_version,
            start_date=_text(request.get("start_date")),
            end_date=_text(request.get("end_date")),
            universe=[str(u) for u in universe] if isinstance(universe, list) else [],
            engine=_text(request.get("engine")),
            total_returns=row.total_returns,
            sharpe=row.sharpe,
            max_drawdown=row.max_drawdown,
            duration_seconds=_duration(row.started_at, row.finished_at),
        )


class Equity(BaseModel):
    """Daily equity arrays of ``GET /api/backtest/jobs/{job_id}/result``."""

    dates: list[str]
    nav: list[float | None]
    returns: list[float | None]
    benchmark_nav: list[float | None]


class ResultView(BaseModel):
    """``GET /api/backtest/jobs/{job_id}/result``."""

    job_id: str
    summary: dict[str, Any]
    equity: Equity
    trades: list[dict[str, Any]]
    trade_columns: list[str]
    trades_total: int
    raw_keys: list[str]
    page: int | None = None
    page_size: int | None = None


class Performance(BaseModel):
    """``GET /api/backtest/jobs/{job_id}/performance`` (not enveloped: the seed's shape)."""

    job_id: str
    metrics: dict[str, float | int | None] = Field(
        description="total_return, annual_return, max_drawdown, sharpe_ratio, win_rate, "
        "profit_loss_ratio, alpha, beta"
    )
    summary: dict[str, Any] = Field(description="the whole summary of the result")
    trades: list[dict[str, Any]] = Field(description="every fill")
    portfolio: list[dict[str, Any]] = Field(description="daily positions, one row each")
    daily: dict[str, Any] = Field(description="daily portfolio columns")


class JobList(BaseModel):
    """``GET /api/backtest/jobs``."""

    jobs: list[JobStatusView]
    total: int


class HistoryItem(BaseModel):
    """One job of ``GET /api/backtest/strategies/{strategy_id}/jobs`` (the contract's §4)."""

    job_id: str
    strategy_id: str
    status: JobStatus
    error: JobError | None
    created_at: str | None
    updated_at: str | None
    params: dict[str, Any] = Field(description="start_date, end_date, cash, benchmark, frequency")


class StrategyJobs(BaseModel):
    """``GET /api/backtest/strategies/{strategy_id}/jobs``."""

    strategy_id: str
    jobs: list[HistoryItem]
    total: int


class JobDeleted(BaseModel):
    """``DELETE /api/backtest/jobs/{job_id}``."""

    job_id: str
    deleted: bool


class StrategyDeleted(BaseModel):
    """``DELETE /api/backtest/strategies/{strategy_id}``."""

    strategy_id: str
    deleted_jobs: int
