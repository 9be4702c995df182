"""Performance metrics of a daily return series, as pure functions.

Conventions (stated in every result under ``conventions``; see ``CONVENTIONS``):

* ``r_t`` are daily simple returns of total value (day 1 against the starting cash), ``b_t``
  the benchmark's (day 1 against its close before the start). ``A`` = trading days per year
  (252), ``rf`` the annual risk-free rate and ``rf_d = (1 + rf) ** (1 / A) - 1``.
* total return = ``prod(1 + r) - 1``; annualized = ``(1 + total) ** (A / n) - 1`` with ``n``
  trading days (CAGR on trading days, as RQAlpha and empyrical).
* volatility = ``std(r, ddof=1) * sqrt(A)`` (empyrical ``annual_volatility``).
* Sharpe = ``sqrt(A) * mean(r - rf_d) / std(r - rf_d, ddof=1)`` (empyrical / RQAlpha).
* Sortino = ``A * mean(r - rf_d) / downside_risk`` with downside_risk =
  ``sqrt(A) * sqrt(sum(min(r - mean(r), 0) ** 2) / (n - 1))``: RQAlpha's (rqrisk 1.0
  ``Risk.sortino`` / ``annual_downside_risk``, semi-deviation below the mean). The textbook
  form (Sortino & Price 1994, empyrical: deviation below the MAR ``rf_d`` over all
  observations) is ``sortino_empyrical``.
* beta = ``cov(r, b) / var(b)``; alpha = Jensen's annual alpha
  ``AR - rf - beta * (AR_b - rf)`` with geometric annual returns (RQAlpha, LEAN).
* tracking error = ``std(r - b, ddof=1) * sqrt(A)``; excess Sharpe =
  ``sqrt(A) * mean(r - b) / std(r - b, ddof=1)`` (the active-return ratio, RQAlpha's
  ``excess_sharpe``); information ratio = ``(AR - beta * AR_b) / (std(r - beta * b, ddof=1)
  * sqrt(A))`` (RQAlpha's residual-return ratio, rqrisk ``Risk.information_ratio``).

The names and formulas are RQAlpha's so a strategy's summary reads the same on both
engines; ``tests/integration/test_engine_rqalpha.py`` checks them against real RQAlpha.
* max drawdown = ``max(1 - NAV / running peak)`` with the NAV starting at 1 (a positive
  fraction); Calmar = annualized return / max drawdown.
* win rate, profit/loss ratio and the other trade statistics are over closed round trips
  (``quantdesk.backtest.analysis``), no longer over sell fills: a partial trim of a winning
  position is part of one trade, not a win of its own.
* turnover = traded value (buys + sells) / (2 * mean daily total value).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

CONVENTIONS: dict[str, Any] = {
    "returns": "daily simple returns of total value; day 1 against starting cash",
    "benchmark_returns": "daily close-to-close; day 1 against the close before the start",
    "annualization": "CAGR on trading days: (1 + total) ** (A / n) - 1",
    "volatility": "std(r, ddof=1) * sqrt(A)",
    "sharpe": "sqrt(A) * mean(r - rf_d) / std(r - rf_d, ddof=1)",
    "sortino": "A * mean(r - rf_d) / downside_risk (RQAlpha / rqrisk)",
    "downside_risk": "sqrt(A) * sqrt(sum(min(r - mean(r), 0)^2) / (n - 1)) (RQAlpha / rqrisk)",
    "sortino_empyrical": "sqrt(A) * mean(r - rf_d) / sqrt(mean(min(r - rf_d, 0)^2))",
    "alpha": "Jensen: AR - rf - beta * (AR_b - rf), geometric annual returns",
    "beta": "cov(r, b) / var(b)",
    "information_ratio": "(AR - beta * AR_b) / (std(r - beta * b, ddof=1) * sqrt(A)) (RQAlpha)",
    "excess_sharpe": "sqrt(A) * mean(r - b) / std(r - b, ddof=1)",
    "tracking_error": "std(r - b, ddof=1) * sqrt(A)",
    "max_drawdown": "max(1 - NAV / running max NAV), NAV starts at 1; positive fraction",
    "calmar": "annualized_returns / max_drawdown",
    "turnover": "(buy + sell value) / (2 * mean daily total value)",
    "risk_free_rate": "annual; per day rf_d = (1 + rf) ** (1 / A) - 1",
}


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def daily_risk_free(rf: float, periods: int) -> float:
    """Per-period rate equivalent to the annual ``rf``: ``(1 + rf) ** (1 / periods) - 1``."""
    return float((1.0 + rf) ** (1.0 / periods) - 1.0)


def total_return(r: Array) -> float:
    """``prod(1 + r) - 1``."""
    return float(np.prod(1.0 + r) - 1.0) if len(r) else 0.0


def annual_return(r: Array, periods: int) -> float:
    """CAGR on trading periods: ``(1 + total) ** (periods / n) - 1``."""
    if len(r) == 0:
        return math.nan
    growth = 1.0 + total_return(r)
    if growth <= 0:
        return -1.0
    return float(growth ** (periods / len(r)) - 1.0)


def volatility(r: Array, periods: int) -> float:
    """Annualized sample standard deviation."""
    return float(np.std(r, ddof=1) * math.sqrt(periods)) if len(r) > 1 else math.nan


def sharpe(r: Array, rf_d: float, periods: int) -> float:
    """Annualized Sharpe ratio (NaN when the excess returns do not vary)."""
    if len(r) < 2:
        return math.nan
    excess = r - rf_d
    sd = float(np.std(excess, ddof=1))
    return float(np.mean(excess) / sd * math.sqrt(periods)) if sd > 0 else math.nan


def downside_risk(r: Array, periods: int) -> float:
    """Annualized semi-deviation below the mean.

    ``sqrt(A * sum(min(r - mean, 0)^2) / (n-1))`` (RQAlpha's ``downside_risk``; 0 for fewer
    than 2 returns, as rqrisk).
    """
    if len(r) < 2:
        return 0.0
    below = np.minimum(r - np.mean(r), 0.0)
    return float(math.sqrt(float(np.sum(below * below)) / (len(r) - 1)) * math.sqrt(periods))


def sortino(r: Array, rf_d: float, periods: int) -> float:
    """Annualized Sortino ratio, RQAlpha's: ``A * mean(r - rf_d) / downside_risk``.

    NaN when the downside risk is 0.
    """
    dr = downside_risk(r, periods)
    if not dr > 0:
        return math.nan
    return float(np.mean(r - rf_d) * periods / dr)


def sortino_empyrical(r: Array, rf_d: float, periods: int) -> float:
    """Annualized Sortino ratio, empyrical's (``sortino_ratio``).

    The downside deviation is taken below the MAR ``rf_d`` over all observations (Sortino &
    Price 1994); NaN without any return below the MAR.
    """
    if len(r) == 0:
        return math.nan
    below = np.minimum(r - rf_d, 0.0)
    dd = math.sqrt(float(np.mean(below * below))) * math.sqrt(periods)
    if not dd > 0:
        return math.nan
    return float(np.mean(r - rf_d) * periods / dd)


def beta(r: Array, b: Array) -> float:
    """``cov(r, b) / var(b)`` (NaN when the benchmark does not vary)."""
    if len(r) < 2:
        return math.nan
    vb = float(np.var(b, ddof=1))
    if not vb > 0:
        return math.nan
    return float(np.cov(r, b, ddof=1)[0, 1] / vb)


def max_drawdown(nav: Array) -> tuple[float, int, int]:
    """Max drawdown of a NAV path that starts at 1 (the value before ``nav[0]``).

    Returns:
        ``(drawdown, peak_index, trough_index)``; indices into ``nav`` with -1 meaning the
        starting value. Drawdown is a positive fraction (0.25 = 25%).
    """
    path = np.concatenate(([1.0], nav))
    peaks = np.maximum.accumulate(path)
    dd = 1.0 - path / peaks
    trough = int(np.argmax(dd))
    if dd[trough] <= 0:
        return 0.0, -1, -1
    # The drawdown starts on the last day at the high-water mark (pyfolio convention).
    peak = trough - int(np.argmax(path[trough::-1] == peaks[trough]))
    return float(dd[trough]), peak - 1, trough - 1


def summarize(
    returns: Array,
    nav: Array,
    benchmark_returns: Array | None,
    *,
    periods: int,
    risk_free_rate: float,
) -> dict[str, float | None]:
    """The return and risk metrics of a run (see the module docstring for each formula)."""
    rf_d = daily_risk_free(risk_free_rate, periods)
    ar = annual_return(returns, periods)
    mdd, _, _ = max_drawdown(nav)
    out: dict[str, float | None] = {
        "total_returns": total_return(returns),
        "annualized_returns": _nan_to_none(ar),
        "volatility": _nan_to_none(volatility(returns, periods)),
        "sharpe": _nan_to_none(sharpe(returns, rf_d, periods)),
        "sortino": _nan_to_none(sortino(returns, rf_d, periods)),
        "sortino_empyrical": _nan_to_none(sortino_empyrical(returns, rf_d, periods)),
        "downside_risk": _nan_to_none(downside_risk(returns, periods)),
        "max_drawdown": mdd,
        "calmar": _nan_to_none(ar / mdd) if mdd > 0 else None,
    }
    keys = (
        "benchmark_total_returns", "benchmark_annualized_returns", "benchmark_volatility",
        "alpha", "beta", "information_ratio", "excess_sharpe", "tracking_error",
        "excess_returns",
    )  # fmt: skip
    out.update(dict.fromkeys(keys))
    if benchmark_returns is not None and len(benchmark_returns) == len(returns):
        b = benchmark_returns
        bar_ = annual_return(b, periods)
        bt = beta(returns, b)
        active = returns - b
        te = float(np.std(active, ddof=1)) if len(active) > 1 else math.nan
        residual = float(np.std(returns - bt * b, ddof=1)) if len(b) > 1 else math.nan
        out.update(
            benchmark_total_returns=total_return(b),
            benchmark_annualized_returns=_nan_to_none(bar_),
            benchmark_volatility=_nan_to_none(volatility(b, periods)),
            beta=_nan_to_none(bt),
            alpha=_nan_to_none(ar - risk_free_rate - bt * (bar_ - risk_free_rate)),
            tracking_error=_nan_to_none(te * math.sqrt(periods)),
            excess_sharpe=(
                _nan_to_none(float(np.mean(active)) / te * math.sqrt(periods)) if te > 0 else None
            ),
            information_ratio=(
                _nan_to_none((ar - bt * bar_) / (residual * math.sqrt(periods)))
                if residual > 0
                else None
            ),
            excess_returns=total_return(returns) - total_return(b),
        )
    return out
