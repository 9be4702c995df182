"""The numbers behind the HTML tear sheet (``report``): chart series and derived tables.

Everything here is computed from a ``BacktestResult``'s frames and period tables, and is
JSON-ready: dates ``YYYY-MM-DD``, NaN / inf as ``None``. Chart series are rounded to
``CHART_DIGITS`` significant digits (the tables show the exact figures); the same inputs give
the same numbers, so the report is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.backtest.result_frames import iso_dates
from quantdesk.engine.metrics import summarize

#: Significant digits of the numbers in the chart data (the tables are exact).
CHART_DIGITS = 6
#: Bins of the daily-return histogram.
HISTOGRAM_BINS = 50
#: Instruments drawn separately in the exposure chart (the rest are summed as "Other").
EXPOSURE_TOP = 10


def chart_value(value: Any) -> float | None:
    """``value`` rounded to ``CHART_DIGITS`` significant digits; ``None`` when not finite."""
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return float(f"{x:.{CHART_DIGITS}g}") if math.isfinite(x) else None


def chart_list(values: Sequence[Any] | np.ndarray) -> list[float | None]:
    """``chart_value`` of each element."""
    return [chart_value(v) for v in values]


def has_benchmark(config: dict[str, Any], portfolio: pd.DataFrame) -> bool:
    """Whether the run had a benchmark with at least one known value."""
    return bool(config.get("benchmark")) and bool(portfolio["benchmark_nav"].notna().any())


def underwater(nav: np.ndarray) -> np.ndarray:
    """Drawdown per session, ``nav / running peak - 1`` (<= 0; the start counts as NAV 1)."""
    if len(nav) == 0:
        return nav
    clean = np.where(np.isfinite(nav), nav, np.nan)
    peaks = np.fmax.accumulate(np.concatenate(([1.0], clean)))[1:]
    return clean / peaks - 1.0


def benchmark_metrics(
    portfolio: pd.DataFrame, *, periods: int, risk_free_rate: float
) -> dict[str, float | None]:
    """The benchmark's own return and risk metrics, with the strategy's conventions.

    Returns ``summarize``'s keys (``total_returns``, ``sharpe``, ``max_drawdown``...) for the
    benchmark's daily returns, or ``{}`` when some benchmark value is missing.
    """
    r = portfolio["benchmark_returns"].to_numpy(dtype=float)
    nav = portfolio["benchmark_nav"].to_numpy(dtype=float)
    if len(r) == 0 or not (np.isfinite(r).all() and np.isfinite(nav).all()):
        return {}
    out = summarize(r, nav, None, periods=periods, risk_free_rate=risk_free_rate)
    return {k: None if v is None or not math.isfinite(v) else float(v) for k, v in out.items()}


def return_stats(returns: np.ndarray) -> dict[str, float | None]:
    """Moments and tails of daily returns: mean, std, skew, excess kurtosis, VaR/CVaR 95%.

    ``skew`` and ``kurtosis`` are the population (biased) moments; ``var_95`` is the 5th
    percentile (linear interpolation) and ``cvar_95`` the mean of the returns at or below it.
    """
    r = returns[np.isfinite(returns)]
    keys = ("mean", "std", "skew", "kurtosis", "best", "worst", "positive", "var_95", "cvar_95")
    if len(r) == 0:
        return dict.fromkeys(keys)
    mean = float(r.mean())
    dev = r - mean
    m2 = float((dev**2).mean())
    var95 = float(np.quantile(r, 0.05))
    return {
        "mean": mean,
        "std": float(r.std(ddof=1)) if len(r) > 1 else None,
        "skew": float((dev**3).mean() / m2**1.5) if m2 > 0 else None,
        "kurtosis": float((dev**4).mean() / m2**2 - 3.0) if m2 > 0 else None,
        "best": float(r.max()),
        "worst": float(r.min()),
        "positive": float((r > 0).mean()),
        "var_95": var95,
        "cvar_95": float(r[r <= var95].mean()),
    }


def histogram(strategy: np.ndarray, benchmark: np.ndarray | None) -> dict[str, Any] | None:
    """Daily-return histogram on shared bins: ``edges`` and ``counts`` (and the benchmark's)."""
    s = strategy[np.isfinite(strategy)]
    b = benchmark[np.isfinite(benchmark)] if benchmark is not None else None
    both = s if b is None else np.concatenate((s, b))
    if len(both) == 0:
        return None
    lo, hi = float(both.min()), float(both.max())
    if hi <= lo:
        lo, hi = lo - 0.005, hi + 0.005
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    return {
        "edges": chart_list(edges),
        "counts": [int(c) for c in np.histogram(s, edges)[0]],
        "benchmark_counts": None if b is None else [int(c) for c in np.histogram(b, edges)[0]],
    }


def exposure(
    portfolio: pd.DataFrame, positions: pd.DataFrame, trips: pd.DataFrame, trades: pd.DataFrame
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Exposure per instrument: a table (one dict per instrument) and the weights chart data.

    Weight = the position's market value at the close / the portfolio's total value (0 on
    sessions without the position). The table has ``order_book_id``, ``avg_weight`` (mean
    over every session), ``max_weight`` (largest absolute weight, signed), ``held`` (share of
    sessions held), ``fills``, ``round_trips``, ``pnl`` (sum of the round trips' pnl) and
    ``win_rate``, by average absolute weight (largest first). The chart has ``dates`` and
    ``series`` (``name``, ``weights``): the ``EXPOSURE_TOP`` largest instruments, the rest as
    ``Other``, and ``Cash``.
    """
    index = pd.DatetimeIndex(portfolio.index)
    total = portfolio["total_value"].to_numpy(dtype=float)
    ids = sorted(
        {str(x) for x in positions.get("order_book_id", [])}
        | {str(x) for x in trips.get("order_book_id", [])}
        | {str(x) for x in trades.get("order_book_id", [])}
    )
    if not ids or len(index) == 0:
        return [], None
    if len(positions):
        frame = positions.reset_index()
        frame["date"] = pd.DatetimeIndex(frame[frame.columns[0]])
        values = frame.pivot_table(
            index="date", columns="order_book_id", values="market_value", aggfunc="sum"
        )
        held = frame[frame["quantity"] != 0].pivot_table(
            index="date", columns="order_book_id", values="quantity", aggfunc="count"
        )
    else:
        values = held = pd.DataFrame(index=index[:0])
    values = values.reindex(index=index, columns=ids).fillna(0.0)
    held = held.reindex(index=index, columns=ids).fillna(0).gt(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = values.to_numpy(dtype=float) / total[:, None]
    weights = np.where(np.isfinite(weights), weights, 0.0)
    rows = []
    for j, oid in enumerate(ids):
        w = weights[:, j]
        mine = trips[trips["order_book_id"] == oid] if len(trips) else trips
        pnl = mine["pnl"].to_numpy(dtype=float) if len(mine) else np.array([])
        rows.append(
            {
                "order_book_id": oid,
                "avg_weight": float(w.mean()),
                "max_weight": float(w[np.argmax(np.abs(w))]),
                "held": float(held[oid].mean()),
                "fills": int((trades["order_book_id"] == oid).sum()) if len(trades) else 0,
                "round_trips": len(mine),
                "pnl": float(pnl.sum()) if len(pnl) else None,
                "win_rate": float((pnl > 0).mean()) if len(pnl) else None,
            }
        )
    size = np.abs(weights).mean(axis=0)
    order = sorted(range(len(ids)), key=lambda j: (-float(size[j]), ids[j]))
    rows = [rows[j] for j in order]
    top, rest = order[:EXPOSURE_TOP], order[EXPOSURE_TOP:]
    series = [{"name": ids[j], "weights": chart_list(weights[:, j])} for j in top]
    if rest:
        series.append({"name": "Other", "weights": chart_list(weights[:, rest].sum(axis=1))})
    with np.errstate(divide="ignore", invalid="ignore"):
        cash = portfolio["cash"].to_numpy(dtype=float) / total
    series.append({"name": "Cash", "weights": chart_list(cash)})
    return rows, {"dates": iso_dates(index), "series": series}


def plot_series(plots: pd.DataFrame) -> dict[str, Any] | None:
    """The strategy's ``plot()`` series on their common dates, or ``None`` when there are none.

    Returns ``dates`` and ``series`` (``name``, ``values``; ``None`` where a series has no
    value that session), series by name.
    """
    if len(plots) == 0:
        return None
    frame = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(plots.index),
            "name": plots["name"].astype(str).to_numpy(),
            "value": plots["value"].to_numpy(dtype=float),
        }
    )
    table = frame.pivot_table(index="date", columns="name", values="value", aggfunc="last")
    table = table.sort_index()
    names = sorted(str(c) for c in table.columns)
    return {
        "dates": iso_dates(table.index),
        "series": [{"name": n, "values": chart_list(table[n].to_numpy())} for n in names],
    }


def chart_data(
    portfolio: pd.DataFrame,
    tables: dict[str, Any],
    *,
    bench: bool,
    exposure_chart: dict[str, Any] | None,
    plots: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON blob the report's script draws from.

    Args:
        portfolio: The result's portfolio.
        tables: The result's ``period_tables()``.
        bench: Whether the run had a benchmark (``has_benchmark``).
        exposure_chart: ``exposure``'s chart data.
        plots: ``plot_series``.

    Returns:
        ``dates``, ``nav``, ``drawdown``, ``benchmark_nav`` / ``benchmark_drawdown``
        (``None`` without a benchmark), ``drawdown_periods``, ``monthly`` (``years``,
        ``cells`` as ``[month 0-11 or 12 for the year, year index, return, benchmark]``),
        ``yearly``, ``rolling``, ``histogram``, ``exposure`` and ``plots``.
    """
    nav = portfolio["nav"].to_numpy(dtype=float)
    bnav = portfolio["benchmark_nav"].to_numpy(dtype=float) if bench else None
    years = sorted({int(row["year"]) for row in tables["yearly"]})
    at = {y: i for i, y in enumerate(years)}
    cells = [
        [int(m["month"]) - 1, at[int(m["year"])], chart_value(m["returns"]),
         chart_value(m["benchmark_returns"])]
        for m in tables["monthly"] if int(m["year"]) in at
    ] + [
        [12, at[int(y["year"])], chart_value(y["returns"]), chart_value(y["benchmark_returns"])]
        for y in tables["yearly"]
    ]  # fmt: skip
    rolling = tables["rolling"]
    returns = portfolio["returns"].to_numpy(dtype=float)
    bench_returns = portfolio["benchmark_returns"].to_numpy(dtype=float) if bench else None
    return {
        "dates": iso_dates(portfolio.index),
        "nav": chart_list(nav),
        "drawdown": chart_list(underwater(nav)),
        "benchmark_nav": None if bnav is None else chart_list(bnav),
        "benchmark_drawdown": None if bnav is None else chart_list(underwater(bnav)),
        "drawdown_periods": [
            {"start": d["start"], "end": d["end"], "depth": chart_value(d["depth"])}
            for d in tables["drawdowns"]
        ],
        "monthly": {"years": years, "cells": cells},
        "yearly": {
            "years": [int(y["year"]) for y in tables["yearly"]],
            "returns": chart_list([y["returns"] for y in tables["yearly"]]),
            "benchmark_returns": chart_list([y["benchmark_returns"] for y in tables["yearly"]])
            if bench
            else None,
        },
        "rolling": {
            "window": int(rolling["window"]),
            "dates": list(rolling["dates"]),
            "sharpe": chart_list(rolling["sharpe"]),
            "volatility": chart_list(rolling["volatility"]),
            "beta": chart_list(rolling["beta"]) if bench else None,
        },
        "histogram": histogram(returns, bench_returns),
        "exposure": exposure_chart,
        "plots": plots,
    }
