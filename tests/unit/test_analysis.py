"""Round-trip statistics, excursions and period tables, checked by hand and against
quantstats / empyrical on the same series where the definitions agree (within 1e-9)."""

from __future__ import annotations

import math
import warnings

import empyrical  # type: ignore[import-untyped]  # ships no type hints
import numpy as np
import pandas as pd
import pytest

from quantdesk.backtest.analysis import (
    add_excursions,
    drawdown_periods,
    exposure_time,
    period_tables,
    trade_statistics,
)
from quantdesk.backtest.round_trips import FILL_COLUMNS, round_trips

with warnings.catch_warnings():  # quantstats' import-time deprecation noise
    warnings.simplefilter("ignore")
    import quantstats as qs

SESSIONS = pd.bdate_range("2024-01-01", "2024-03-29")


def _fills(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(
        [
            (SESSIONS[day] + pd.Timedelta(hours=16), i + 1, oid, side, qty, price, 0.0, 0.0)
            for i, (day, oid, side, qty, price) in enumerate(rows)
        ],
        columns=FILL_COLUMNS,
    )


def test_trade_statistics_count_round_trips_not_sell_fills() -> None:
    # One position trimmed twice at a profit, then closed at a big loss: 3 sells, 1 entry.
    trips = round_trips(
        _fills(
            (0, "A", "BUY", 300, 10.0),
            (1, "A", "SELL", 100, 11.0),  # +100
            (2, "A", "SELL", 100, 11.0),  # +100
            (3, "A", "SELL", 100, 5.0),  # -500
            (4, "B", "BUY", 10, 20.0),
            (6, "B", "SELL", 10, 30.0),  # +100
        ),
        SESSIONS,
    )
    stats = trade_statistics(trips, exposure=0.5)
    assert stats["round_trips"] == 4
    assert stats["win_rate"] == pytest.approx(0.75)
    assert stats["avg_win"] == pytest.approx(100.0) and stats["avg_loss"] == pytest.approx(-500.0)
    assert stats["profit_loss_ratio"] == pytest.approx(0.2)
    assert stats["profit_factor"] == pytest.approx(300 / 500)
    assert stats["expectancy"] == pytest.approx(-200 / 4)
    assert (stats["best_trade"], stats["worst_trade"]) == (100.0, -500.0)
    assert stats["max_consecutive_wins"] == 2 and stats["max_consecutive_losses"] == 1
    pnl = np.array([100.0, 100.0, -500.0, 100.0])
    assert stats["sqn"] == pytest.approx(2 * pnl.mean() / pnl.std(ddof=1))
    assert stats["avg_holding_sessions"] == pytest.approx((1 + 2 + 3 + 2) / 4)
    assert stats["exposure_time"] == 0.5


def test_trade_statistics_without_trips_or_losers_are_none_not_errors() -> None:
    empty = trade_statistics(round_trips(_fills(), SESSIONS), exposure=None)
    assert empty["round_trips"] == 0 and empty["win_rate"] is None and empty["sqn"] is None
    one = trade_statistics(
        round_trips(_fills((0, "A", "BUY", 1, 1.0), (1, "A", "SELL", 1, 2.0)), SESSIONS), 1.0
    )
    assert one["win_rate"] == 1.0 and one["profit_factor"] is None and one["sqn"] is None


def test_excursions_come_from_the_bars_between_entry_and_exit() -> None:
    trips = round_trips(
        _fills(
            (1, "A", "BUY", 10, 100.0),
            (3, "A", "SELL", 10, 104.0),
            (5, "A", "SELL", 10, 100.0),  # a short ...
            (7, "A", "BUY", 10, 98.0),  # ... covered
        ),
        SESSIONS,
    )
    dates = SESSIONS.to_numpy("datetime64[D]")
    highs = np.full(len(dates), 101.0)
    lows = np.full(len(dates), 99.0)
    highs[2], lows[2] = 110.0, 90.0  # inside the long
    highs[0], lows[0] = 500.0, 1.0  # before any trade: ignored
    highs[6], lows[6] = 103.0, 95.0  # inside the short
    out = add_excursions(trips, lambda oid: (dates, highs, lows) if oid == "A" else None)
    assert out["mae"].tolist() == pytest.approx([-0.10, -0.03])
    assert out["mfe"].tolist() == pytest.approx([0.10, 0.05])
    missing = add_excursions(trips, lambda _oid: None)
    assert missing["mae"].isna().all() and missing["mfe"].isna().all()


def test_exposure_time_counts_sessions_that_closed_holding_something() -> None:
    positions = pd.DataFrame(
        {"order_book_id": ["A", "B", "A"], "quantity": [10, 5, 0]},
        index=pd.DatetimeIndex(["2024-01-01", "2024-01-01", "2024-01-02"], name="date"),
    )
    assert exposure_time(positions, 4) == 0.25
    assert exposure_time(positions.iloc[:0], 4) == 0.0
    assert exposure_time(positions, 0) is None


def _portfolio(seed: int = 7, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2019-01-01", periods=n, name="date")
    r = rng.normal(0.001, 0.012, n)
    b = 0.6 * r + rng.normal(0.0002, 0.008, n)
    return pd.DataFrame(
        {"returns": r, "nav": np.cumprod(1 + r), "benchmark_returns": b}, index=index
    )


def test_period_tables_match_quantstats_and_empyrical() -> None:
    pf = _portfolio()
    r = pf["returns"]
    tables = period_tables(pf, periods=252, risk_free_rate=0.0, window=63)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q_monthly = qs.stats.monthly_returns(r, eoy=True, compounded=True)
        q_sharpe = qs.stats.rolling_sharpe(r, rolling_period=63, periods_per_year=252)
        q_vol = qs.stats.rolling_volatility(r, rolling_period=63, periods_per_year=252)
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    for row in tables["monthly"]:
        assert row["returns"] == pytest.approx(
            q_monthly.loc[str(row["year"]), months[row["month"] - 1]], abs=1e-9
        )
    for row in tables["yearly"]:
        assert row["returns"] == pytest.approx(q_monthly.loc[str(row["year"]), "EOY"], abs=1e-9)
        years = pd.DatetimeIndex(r.index).year
        in_year = r[years == row["year"]]
        assert row["returns"] == pytest.approx(empyrical.cum_returns_final(in_year), abs=1e-9)
        bench = pf["benchmark_returns"][years == row["year"]]
        assert row["benchmark_returns"] == pytest.approx(
            empyrical.cum_returns_final(bench), abs=1e-9
        )
    rolling = tables["rolling"]
    assert rolling["dates"][0] == r.index[62].date().isoformat()
    assert rolling["sharpe"] == pytest.approx(q_sharpe.iloc[62:].tolist(), abs=1e-9)
    assert rolling["volatility"] == pytest.approx(q_vol.iloc[62:].tolist(), abs=1e-9)
    e_beta = empyrical.roll_beta(r, pf["benchmark_returns"], window=63)
    assert rolling["beta"] == pytest.approx(
        np.asarray(e_beta, dtype=float)[-len(rolling["beta"]) :].tolist(), abs=1e-9
    )
    deepest = tables["drawdowns"][0]
    assert deepest["depth"] == pytest.approx(-empyrical.max_drawdown(r), abs=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        details = qs.stats.drawdown_details(qs.stats.to_drawdown_series(r))
    assert deepest["depth"] == pytest.approx(-details["max drawdown"].min() / 100, abs=1e-9)
    depths = [p["depth"] for p in tables["drawdowns"]]
    q_depths = sorted((-details["max drawdown"] / 100).tolist(), reverse=True)[:5]
    assert depths == pytest.approx(q_depths, abs=1e-9)


def test_drawdown_periods_by_hand() -> None:
    index = pd.bdate_range("2024-01-01", periods=8, name="date")
    nav = pd.Series([1.0, 1.1, 0.99, 0.88, 1.1, 1.2, 1.08, 1.14], index=index)
    periods = drawdown_periods(nav)
    assert periods[0] == {
        "start": "2024-01-02", "trough": "2024-01-04", "end": "2024-01-05",
        "depth": pytest.approx(0.2), "length": 3, "days": 3,
    }  # fmt: skip
    assert periods[1] == {
        "start": "2024-01-08", "trough": "2024-01-09", "end": None,
        "depth": pytest.approx(0.1), "length": 2, "days": 2,
    }  # fmt: skip
    assert drawdown_periods(nav.iloc[:0]) == []


def test_without_a_benchmark_its_columns_are_null() -> None:
    pf = _portfolio(n=80).assign(benchmark_returns=math.nan)
    tables = period_tables(pf, has_benchmark=False, window=63)
    assert all(row["benchmark_returns"] is None for row in tables["monthly"])
    assert all(b is None for b in tables["rolling"]["beta"])
    assert len(tables["rolling"]["dates"]) == 80 - 62
