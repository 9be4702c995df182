"""``BacktestResult.stats()``: performance and trade statistics as one pandas Series.

The entries and their names follow backtesting.py's ``Backtest.run()`` statistics (its
``_stats.compute_stats``) so a notebook reads the same; the risk and return figures reuse
``quantdesk.engine.metrics`` (the run summary's definitions: annualization ``A`` = the run's
trading days per year, 252 by default, CAGR on sessions, sample standard deviations), and
the trade figures are over closed round trips (``round_trips``), not fills.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quantdesk.engine.metrics import (
    annual_return,
    daily_risk_free,
    max_drawdown,
    sharpe,
    sortino_empyrical,
    total_return,
    volatility,
)

if TYPE_CHECKING:
    from pandas._libs.tslibs.nattype import NaTType

#: The entries of ``compute_stats``, in order.
STATS_INDEX = [
    "Start", "End", "Duration", "Exposure Time [%]", "Equity Final", "Equity Peak",
    "Return [%]", "Buy & Hold Return [%]", "Return (Ann.) [%]", "Volatility (Ann.) [%]",
    "Sharpe Ratio", "Sortino Ratio", "Calmar Ratio", "Max. Drawdown [%]",
    "Avg. Drawdown [%]", "Max. Drawdown Duration", "Avg. Drawdown Duration", "# Trades",
    "Win Rate [%]", "Best Trade [%]", "Worst Trade [%]", "Avg. Trade [%]",
    "Max. Trade Duration", "Avg. Trade Duration", "Profit Factor", "Expectancy [%]", "SQN",
]  # fmt: skip


def compute_stats(
    portfolio: pd.DataFrame,
    trips: pd.DataFrame,
    positions: pd.DataFrame,
    *,
    starting_cash: float,
    periods: int = 252,
    risk_free_rate: float = 0.0,
) -> pd.Series:
    """The statistics of one run, as backtesting.py names them (``STATS_INDEX`` order).

    With ``r`` the daily returns, ``b`` the benchmark's, ``A = periods`` and
    ``rf_d = (1 + risk_free_rate) ** (1 / A) - 1`` (see ``quantdesk.engine.metrics``):

    * Start / End / Duration: first and last session (Timestamps) and the calendar span.
    * Exposure Time [%]: sessions that closed with a position / all sessions.
    * Equity Final / Equity Peak: last and highest total value, the starting cash included
      (currency units of the market).
    * Return [%]: ``prod(1 + r) - 1``; Buy & Hold Return [%]: the same of ``b`` (the
      benchmark, not the traded instrument as in backtesting.py; NaN without one).
    * Return (Ann.) [%]: ``(1 + total) ** (A / n) - 1`` over ``n`` sessions;
      Volatility (Ann.) [%]: ``std(r, ddof=1) * sqrt(A)`` (empyrical's ``annual_return`` and
      ``annual_volatility``; backtesting.py compounds a geometric daily mean instead).
    * Sharpe Ratio: ``sqrt(A) * mean(r - rf_d) / std(r - rf_d, ddof=1)`` (empyrical).
    * Sortino Ratio: ``A * mean(r - rf_d) / (sqrt(A) * sqrt(mean(min(r - rf_d, 0) ** 2)))``,
      the textbook form (Sortino & Price 1994, empyrical ``sortino_ratio``); the summary's
      ``sortino`` is RQAlpha's semi-deviation-below-the-mean variant.
    * Calmar Ratio: annualized return / max drawdown (NaN without a drawdown).
    * Max. / Avg. Drawdown [%]: the deepest / mean depth of the drawdown periods of the NAV
      (starting at 1 before the first session), as negative percentages (backtesting.py's
      sign; the summary's ``max_drawdown`` is the same depth as a positive fraction).
    * Max. / Avg. Drawdown Duration: calendar time from a period's peak to its recovery (or
      to the last session when it has not recovered); the mean rounded up to whole days.
    * # Trades: closed round trips. Win Rate [%]: share with ``pnl > 0``. Best / Worst Trade
      [%]: highest / lowest return. Avg. Trade [%]: geometric mean return
      ``prod(1 + ret) ** (1 / n) - 1`` (backtesting.py). Expectancy [%]: arithmetic mean
      return.
    * Max. / Avg. Trade Duration: calendar days from entry to exit (``holding_days``); the
      mean rounded up to whole days.
    * Profit Factor: gross profit / gross loss, ``sum(pnl > 0) / |sum(pnl < 0)|`` in currency
      (backtesting.py sums returns instead); NaN without a losing trade.
    * SQN: ``sqrt(n) * mean(pnl) / std(pnl, ddof=1)`` (Van Tharp's System Quality Number);
      NaN for fewer than two trades.

    Args:
        portfolio: ``BacktestResult.portfolio`` (``nav``, ``returns``, ``total_value``,
            ``benchmark_returns`` indexed by session date).
        trips: ``round_trips(trades, sessions)``.
        positions: ``BacktestResult.positions`` (``quantity`` indexed by session date).
        starting_cash: Cash at the start (currency units).
        periods: Sessions per year (annualization).
        risk_free_rate: Annual risk-free rate (fraction).

    Returns:
        A Series indexed by ``STATS_INDEX`` (object dtype: Timestamps, Timedeltas, numbers);
        NaN / NaT where a figure is undefined.
    """
    index = pd.DatetimeIndex(portfolio.index)
    r = portfolio["returns"].to_numpy(dtype=float)
    nav = portfolio["nav"].to_numpy(dtype=float)
    value = portfolio["total_value"].to_numpy(dtype=float)
    bench = portfolio["benchmark_returns"].to_numpy(dtype=float)
    rf_d = daily_risk_free(risk_free_rate, periods)
    n = len(r)
    ar = annual_return(r, periods)
    mdd, _, _ = max_drawdown(nav)
    depths, durations = _drawdowns(nav, index)
    held = positions.index[positions["quantity"].to_numpy(dtype=float) > 0]
    s: dict[str, object] = {
        "Start": index[0] if n else pd.NaT,
        "End": index[-1] if n else pd.NaT,
        "Duration": index[-1] - index[0] if n else pd.NaT,
        "Exposure Time [%]": 100.0 * held.nunique() / n if n else math.nan,
        "Equity Final": float(value[-1]) if n else float(starting_cash),
        "Equity Peak": max(float(starting_cash), float(value.max())) if n else float(starting_cash),
        "Return [%]": 100.0 * total_return(r),
        "Buy & Hold Return [%]": (
            100.0 * total_return(bench) if n and not np.isnan(bench).any() else math.nan
        ),
        "Return (Ann.) [%]": 100.0 * ar,
        "Volatility (Ann.) [%]": 100.0 * volatility(r, periods),
        "Sharpe Ratio": sharpe(r, rf_d, periods),
        "Sortino Ratio": sortino_empyrical(r, rf_d, periods),
        "Calmar Ratio": ar / mdd if mdd > 0 else math.nan,
        "Max. Drawdown [%]": -100.0 * mdd,
        "Avg. Drawdown [%]": -100.0 * float(np.mean(depths)) if len(depths) else math.nan,
        "Max. Drawdown Duration": durations.max() if len(durations) else pd.NaT,
        "Avg. Drawdown Duration": _mean_days(durations),
    }
    s.update(_trade_stats(trips))
    return pd.Series(s, index=STATS_INDEX, dtype=object)


def _drawdowns(nav: np.ndarray, index: pd.DatetimeIndex) -> tuple[np.ndarray, pd.TimedeltaIndex]:
    """Depth (positive fraction) and duration of each drawdown period of ``nav``.

    A period runs from the last session at the high-water mark to the first session back at
    it, or to the last session; the starting value 1 sits at the first session's date.
    """
    if len(nav) == 0:
        return np.array([]), pd.TimedeltaIndex([])
    path = np.concatenate(([1.0], nav))
    dates = index[:1].append(index)
    dd = 1.0 - path / np.maximum.accumulate(path)
    under = np.concatenate(([False], dd > 0, [False]))
    starts = np.flatnonzero(~under[:-1] & under[1:])  # first session under water
    ends = np.flatnonzero(under[:-1] & ~under[1:])  # one past the last under water
    depths = np.array([dd[a:b].max() for a, b in zip(starts, ends, strict=True)])
    recovered = np.minimum(ends, len(path) - 1)
    peaks = dates[starts - 1].to_numpy()
    return depths, pd.TimedeltaIndex(dates[recovered].to_numpy() - peaks)


def _mean_days(durations: pd.TimedeltaIndex) -> pd.Timedelta | NaTType:
    """The mean duration rounded up to whole days (backtesting.py's rounding), NaT if none."""
    if len(durations) == 0:
        return pd.NaT
    return pd.Timedelta(durations.mean()).ceil("D")


def _trade_stats(trips: pd.DataFrame) -> dict[str, object]:
    pnl = trips["pnl"].to_numpy(dtype=float)
    ret = trips["return"].to_numpy(dtype=float)
    n = len(pnl)
    days = pd.to_timedelta(trips["holding_days"].to_numpy(dtype="int64"), unit="D")
    gains, losses = pnl[pnl > 0].sum(), pnl[pnl < 0].sum()
    growth = 1.0 + ret
    sd = float(np.std(pnl, ddof=1)) if n > 1 else math.nan
    return {
        "# Trades": n,
        "Win Rate [%]": 100.0 * float(np.mean(pnl > 0)) if n else math.nan,
        "Best Trade [%]": 100.0 * float(ret.max()) if n else math.nan,
        "Worst Trade [%]": 100.0 * float(ret.min()) if n else math.nan,
        "Avg. Trade [%]": (
            100.0 * (float(np.exp(np.mean(np.log(growth)))) - 1.0)
            if n and (growth > 0).all()
            else math.nan
        ),
        "Max. Trade Duration": days.max() if n else pd.NaT,
        "Avg. Trade Duration": _mean_days(days),
        "Profit Factor": float(gains / -losses) if losses < 0 else math.nan,
        "Expectancy [%]": 100.0 * float(np.mean(ret)) if n else math.nan,
        "SQN": math.sqrt(n) * float(np.mean(pnl)) / sd if sd > 0 else math.nan,
    }
