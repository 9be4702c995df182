"""Round-trip statistics, excursions and period tables of a run.

What a tear sheet shows beyond the summary metrics (``quantdesk.engine.metrics``): trade
statistics over closed round trips (``round_trips``: FIFO lots), each round trip's maximum
adverse / favourable excursion from the bars, and period tables (monthly and yearly returns,
rolling Sharpe / volatility / beta, the deepest drawdown periods). The conventions are in
``TRADE_CONVENTIONS`` / ``PERIOD_CONVENTIONS`` and in every result's ``conventions``;
``tests/unit/test_analysis.py`` cross-checks the period tables against quantstats and
empyrical where the definitions agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.engine.metrics import daily_risk_free

#: How each round-trip statistic of the summary is computed.
TRADE_CONVENTIONS: dict[str, str] = {
    "round_trips": "closed round trips: fills paired FIFO per instrument, partial closes split",
    "win_rate": "share of round trips with pnl > 0 (pnl net of both legs' costs)",
    "profit_loss_ratio": "mean pnl of winners / |mean pnl of losers|",
    "profit_factor": "sum of winners' pnl / |sum of losers' pnl|",
    "expectancy": "mean round-trip pnl (currency); expectancy_return: mean return",
    "avg_win": "mean pnl of winners; avg_loss: mean pnl of losers (negative)",
    "best_trade": "highest round-trip pnl; worst_trade: lowest",
    "avg_holding": "mean sessions (avg_holding_sessions) / calendar days (avg_holding_days)",
    "max_consecutive": "longest run of winners / losers in closing order",
    "sqn": "sqrt(n) * mean(pnl) / std(pnl, ddof=1) (Van Tharp); n >= 2",
    "exposure_time": "share of sessions that closed holding a position",
    "mae_mfe": "from the bars of the entry to the exit session, both included: long MAE = "
    "min(low) / entry - 1, MFE = max(high) / entry - 1; short MAE = 1 - max(high) / entry, "
    "MFE = 1 - min(low) / entry",
}
#: How each period table is computed.
PERIOD_CONVENTIONS: dict[str, str] = {
    "monthly_returns": "prod(1 + r) - 1 over the sessions of each calendar month",
    "yearly_returns": "prod(1 + r) - 1 over the sessions of each calendar year",
    "rolling_sharpe": "sqrt(A) * mean(r - rf_d) / std(r - rf_d, ddof=1) over the last W sessions",
    "rolling_volatility": "std(r, ddof=1) * sqrt(A) over the last W sessions",
    "rolling_beta": "cov(r, b) / var(b) over the last W sessions",
    "drawdown_periods": "peak (last session at the high-water mark, the start at NAV 1), "
    "trough, recovery (first session back at the peak; null if not yet); length in sessions "
    "from peak to recovery or the last session; depth 1 - trough / peak",
}
#: Sessions of the rolling window (about three months).
ROLLING_WINDOW = 63
#: Drawdown periods kept, deepest first.
TOP_DRAWDOWNS = 5


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _runs(flags: list[bool]) -> int:
    """The longest run of True in ``flags``."""
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def trade_statistics(trips: pd.DataFrame, exposure: float | None) -> dict[str, Any]:
    """The summary's trade statistics over ``trips`` (see ``TRADE_CONVENTIONS``).

    Args:
        trips: ``round_trips(...)`` (``pnl``, ``return``, ``holding_sessions``,
            ``holding_days`` columns), in closing order.
        exposure: ``exposure_time`` (fraction of sessions holding a position), if known.

    Returns:
        ``round_trips`` (count), ``win_rate``, ``profit_loss_ratio``, ``profit_factor``,
        ``expectancy``, ``expectancy_return``, ``avg_win``, ``avg_loss``, ``best_trade``,
        ``worst_trade``, ``avg_holding_sessions``, ``avg_holding_days``,
        ``max_consecutive_wins``, ``max_consecutive_losses``, ``sqn``, ``exposure_time``:
        JSON numbers, ``None`` where undefined (no trips, no losers...).
    """
    pnl = trips["pnl"].to_numpy(dtype=float)
    ret = trips["return"].to_numpy(dtype=float)
    n = len(pnl)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    sd = float(np.std(pnl, ddof=1)) if n > 1 else math.nan
    sessions = pd.to_numeric(trips["holding_sessions"], errors="coerce").to_numpy(dtype=float)
    return {
        "round_trips": n,
        "win_rate": len(wins) / n if n else None,
        "profit_loss_ratio": (
            float(wins.mean() / abs(losses.mean())) if len(wins) and len(losses) else None
        ),
        "profit_factor": float(wins.sum() / -losses.sum()) if len(losses) else None,
        "expectancy": float(pnl.mean()) if n else None,
        "expectancy_return": _finite(float(np.nanmean(ret))) if n else None,
        "avg_win": float(wins.mean()) if len(wins) else None,
        "avg_loss": float(losses.mean()) if len(losses) else None,
        "best_trade": float(pnl.max()) if n else None,
        "worst_trade": float(pnl.min()) if n else None,
        "avg_holding_sessions": _finite(float(np.nanmean(sessions))) if n else None,
        "avg_holding_days": float(trips["holding_days"].mean()) if n else None,
        "max_consecutive_wins": _runs([p > 0 for p in pnl]),
        "max_consecutive_losses": _runs([p < 0 for p in pnl]),
        "sqn": float(math.sqrt(n) * pnl.mean() / sd) if n > 1 and sd > 0 else None,
        "exposure_time": exposure,
    }


def exposure_time(positions: pd.DataFrame, sessions: int) -> float | None:
    """Share of ``sessions`` that closed with a position (``positions`` by session date)."""
    if sessions <= 0:
        return None
    if len(positions) == 0 or "quantity" not in positions.columns:
        return 0.0
    held = positions.index[positions["quantity"].to_numpy(dtype=float) != 0]
    return float(pd.DatetimeIndex(held).normalize().nunique() / sessions)


#: ``(dates, highs, lows)`` of an instrument's bars (dates as ``datetime64[D]``).
BarWindow = tuple[np.ndarray, np.ndarray, np.ndarray]


def add_excursions(trips: pd.DataFrame, bars: Callable[[str], BarWindow | None]) -> pd.DataFrame:
    """``trips`` with ``mae`` and ``mfe`` columns (see ``TRADE_CONVENTIONS["mae_mfe"]``).

    Args:
        trips: ``round_trips(...)``.
        bars: ``order_book_id -> (dates, highs, lows)`` in the prices the fills used (the
            engine's bars), or ``None`` when the instrument has none (NaN excursions).

    Returns:
        A copy with ``mae`` (<= 0) and ``mfe`` (>= 0) as fractions of the entry price.
    """
    out = trips.copy()
    mae = np.full(len(out), np.nan)
    mfe = np.full(len(out), np.nan)
    cache: dict[str, BarWindow | None] = {}
    entries = pd.DatetimeIndex(out["entry_datetime"]).normalize().to_numpy("datetime64[D]")
    exits = pd.DatetimeIndex(out["exit_datetime"]).normalize().to_numpy("datetime64[D]")
    for i, (oid, direction, price) in enumerate(
        zip(out["order_book_id"], out["direction"], out["entry_price"], strict=True)
    ):
        if oid not in cache:
            cache[oid] = bars(oid)
        window = cache[oid]
        if window is None or not price > 0:
            continue
        dates, highs, lows = window
        a, b = np.searchsorted(dates, entries[i]), np.searchsorted(dates, exits[i], side="right")
        if b <= a:
            continue
        high, low = float(np.nanmax(highs[a:b])), float(np.nanmin(lows[a:b]))
        if direction == "LONG":
            mae[i], mfe[i] = min(low / price - 1.0, 0.0), max(high / price - 1.0, 0.0)
        else:
            mae[i], mfe[i] = min(1.0 - high / price, 0.0), max(1.0 - low / price, 0.0)
    out["mae"] = mae
    out["mfe"] = mfe
    return out


def _compound(returns: pd.Series, rule: str) -> pd.Series:
    """``prod(1 + r) - 1`` per calendar period (``rule``: ``ME`` months, ``YE`` years)."""
    if len(returns) == 0:
        return pd.Series(dtype="float64")
    grouped = (1.0 + returns).resample(rule).prod(min_count=1) - 1.0
    return grouped.dropna()


def drawdown_periods(nav: pd.Series, top: int = TOP_DRAWDOWNS) -> list[dict[str, Any]]:
    """The ``top`` deepest drawdown periods of ``nav`` (see ``PERIOD_CONVENTIONS``).

    Returns:
        Dicts ``start`` (peak date), ``trough``, ``end`` (recovery date or ``None``),
        ``depth`` (positive fraction), ``length`` (sessions from peak to recovery, or to the
        last session) and ``days`` (calendar days of the same span), deepest first.
    """
    if len(nav) == 0:
        return []
    index = pd.DatetimeIndex(nav.index)
    path = np.concatenate(([1.0], nav.to_numpy(dtype=float)))
    peaks = np.maximum.accumulate(path)
    dd = 1.0 - path / peaks
    under = np.concatenate(([False], dd > 0, [False]))
    starts = np.flatnonzero(~under[:-1] & under[1:])
    ends = np.flatnonzero(under[:-1] & ~under[1:])
    dates = [index[0], *index]  # path position p is session p - 1; the start sits at session 0
    periods = []
    for a, b in zip(starts, ends, strict=True):
        trough = a + int(np.argmax(dd[a:b]))
        recovered = b < len(path)
        last = b if recovered else len(path) - 1
        periods.append(
            {
                "start": dates[a - 1].date().isoformat(),
                "trough": dates[trough].date().isoformat(),
                "end": dates[b].date().isoformat() if recovered else None,
                "depth": float(dd[trough]),
                "length": int(last - (a - 1)),
                "days": int((dates[last] - dates[a - 1]).days),
            }
        )
    periods.sort(key=lambda p: -p["depth"])
    return periods[:top]


def period_tables(
    portfolio: pd.DataFrame,
    *,
    periods: int = 252,
    risk_free_rate: float = 0.0,
    window: int = ROLLING_WINDOW,
    has_benchmark: bool = True,
) -> dict[str, Any]:
    """Monthly / yearly returns, rolling metrics and the deepest drawdowns of a run.

    Args:
        portfolio: ``BacktestResult.portfolio`` (``returns``, ``nav``,
            ``benchmark_returns`` indexed by session date).
        periods: Sessions per year (``A``).
        risk_free_rate: Annual risk-free rate (fraction).
        window: Sessions of the rolling window (``W``).
        has_benchmark: False when the run had no benchmark (benchmark columns are null).

    Returns:
        ``monthly``: rows ``{year, month, returns, benchmark_returns}``; ``yearly``: rows
        ``{year, returns, benchmark_returns}``; ``rolling``: ``{window, dates, sharpe,
        volatility, beta}`` (arrays from the W-th session on); ``drawdowns``:
        ``drawdown_periods``. Numbers are JSON-ready (NaN -> ``None``).
    """
    index = pd.DatetimeIndex(portfolio.index)
    r = pd.Series(portfolio["returns"].to_numpy(dtype=float), index=index)
    b = pd.Series(portfolio["benchmark_returns"].to_numpy(dtype=float), index=index)
    bench = has_benchmark and len(b) > 0 and not b.isna().all()
    monthly, b_monthly = _compound(r, "ME"), _compound(b, "ME") if bench else None
    yearly, b_yearly = _compound(r, "YE"), _compound(b, "YE") if bench else None

    def at(series: pd.Series | None, when: pd.Timestamp) -> float | None:
        return None if series is None or when not in series.index else _finite(series[when])

    rf_d = daily_risk_free(risk_free_rate, periods)
    excess = r - rf_d
    roll = excess.rolling(window, min_periods=window)
    sharpe = roll.mean() / roll.std(ddof=1) * math.sqrt(periods)
    vol = r.rolling(window, min_periods=window).std(ddof=1) * math.sqrt(periods)
    if bench:
        beta = r.rolling(window, min_periods=window).cov(b) / b.rolling(
            window, min_periods=window
        ).var(ddof=1)
    else:
        beta = pd.Series(np.nan, index=index)
    keep = index[window - 1 :] if len(index) >= window else index[:0]
    return {
        "monthly": [
            {
                "year": d.year,
                "month": d.month,
                "returns": _finite(v),
                "benchmark_returns": at(b_monthly, d),
            }
            for d, v in zip(pd.DatetimeIndex(monthly.index), monthly.to_numpy(), strict=True)
        ],
        "yearly": [
            {"year": d.year, "returns": _finite(v), "benchmark_returns": at(b_yearly, d)}
            for d, v in zip(pd.DatetimeIndex(yearly.index), yearly.to_numpy(), strict=True)
        ],
        "rolling": {
            "window": window,
            "dates": [d.date().isoformat() for d in keep],
            "sharpe": [_finite(x) for x in sharpe[keep]],
            "volatility": [_finite(x) for x in vol[keep]],
            "beta": [_finite(x) for x in beta[keep]],
        },
        "drawdowns": drawdown_periods(pd.Series(portfolio["nav"].to_numpy(float), index=index)),
    }
