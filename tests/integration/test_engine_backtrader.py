"""The backtrader engine adapter on real backtrader and the demo data, cross-checked with the
native engine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantdesk.backtest.engines import detect_engine, run_engine
from quantdesk.backtest.result import BacktestResult
from quantdesk.backtest.run import prepare_backtest, run_backtest
from quantdesk.core.errors import (
    EngineUnavailable,
    InvalidArgument,
    StrategyError,
    StrategySyntaxError,
)
from quantdesk.core.version import package_version
from quantdesk.data import Catalog
from quantdesk.data.bar_source import CatalogBarSource
from quantdesk.data.catalog import Adjust

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BT_SMA = EXAMPLES / "bt_sma_crossover.py"
NATIVE_SMA = EXAMPLES / "sma_crossover.py"
#: A multi-year window on AAPL in which both engines start flat (see the cross-check test).
WINDOW: dict[str, Any] = {
    "start": "2006-01-31",
    "end": "2012-12-31",
    "universe": "AAPL",
    "benchmark": "SPX",
}
SHORT: dict[str, Any] = {
    "start": "2006-01-03",
    "end": "2006-03-31",
    "universe": "AAPL",
    "benchmark": "SPX",
}


def trade_keys(result: BacktestResult) -> list[tuple[dt.date, str, str, int]]:
    t = result.trades
    return list(
        zip(t["datetime"].dt.date, t["order_book_id"], t["side"], t["quantity"], strict=True)
    )


@pytest.fixture(scope="module")
def next_bar_runs(demo_catalog: Catalog) -> tuple[BacktestResult, BacktestResult]:
    """(backtrader, native) SMA(10, 30) crossover runs with ``matching=next_bar``."""
    kw: dict[str, Any] = {**WINDOW, "matching": "next_bar", "catalog": demo_catalog}
    return run_backtest(BT_SMA, **kw), run_backtest(NATIVE_SMA, **kw)


def test_sma_crossover_trades_and_values_equal_native(
    demo_catalog: Catalog, next_bar_runs: tuple[BacktestResult, BacktestResult]
) -> None:
    bt_run, native = next_bar_runs
    # The rule behind the window: backtrader's feeds start at ``start`` so SMA(30) warms up
    # for 30 sessions and CrossOver acts on a cross, while the native example reads earlier
    # bars and buys whenever fast > slow. Both agree when fast < slow on each of the first 31
    # sessions (no native order there; the first entry is a cross in both).
    bars = CatalogBarSource(demo_catalog, Adjust.PRE).bars("AAPL", dt.date(2012, 12, 31))
    closes = bars.close[: int(np.searchsorted(bars.dates, np.datetime64(WINDOW["start"])) + 31)]
    fast = [closes[: k + 1][-10:].mean() for k in range(len(closes) - 31, len(closes))]
    slow = [closes[: k + 1][-30:].mean() for k in range(len(closes) - 31, len(closes))]
    assert all(f < s for f, s in zip(fast, slow, strict=True))

    assert trade_keys(bt_run) == trade_keys(native)
    assert len(bt_run.trades) == 56
    assert bt_run.summary["total_value"] == pytest.approx(native.summary["total_value"], rel=1e-6)
    assert bt_run.summary["total_value"] == pytest.approx(493329.16, abs=0.01)
    # Sizing is identical (all the value at the signal close), so next-open gaps reject the
    # same buys for cash in both engines, and the example retries them while fast > slow.
    rejected = bt_run.orders[bt_run.orders["status"] == "REJECTED"]
    assert set(rejected["reject_reason"]) == {"cash"}
    assert len(rejected) == native.summary["rejected_orders"] == 29
    np.testing.assert_allclose(
        bt_run.portfolio["total_value"], native.portfolio["total_value"], rtol=1e-9
    )
    assert bt_run.positions.shape == native.positions.shape


def test_warm_up_rule_when_the_window_starts_above(demo_catalog: Catalog) -> None:
    # From AAPL's first bar neither engine has history. SMA(30) exists on session 30, where
    # fast > slow already: the native state rule buys there, backtrader's CrossOver (one bar
    # longer warm-up) waits for the first cross up.
    kw: dict[str, Any] = {
        **WINDOW,
        "start": "2000-03-01",
        "end": "2001-06-29",
        "catalog": demo_catalog,
    }
    bt_run = run_backtest(BT_SMA, **kw, matching="next_bar")
    native = run_backtest(NATIVE_SMA, **kw, matching="next_bar")
    bars = CatalogBarSource(demo_catalog, Adjust.PRE).bars("AAPL", dt.date(2001, 6, 29))
    assert str(bars.dates[0]) == "2000-03-01"
    days = bars.dates.astype(dt.date)
    fast = np.convolve(bars.close, np.ones(10) / 10, "valid")[20:]  # fast[i]: session 30 + i
    slow = np.convolve(bars.close, np.ones(30) / 30, "valid")
    assert fast[0] > slow[0]
    up = next(i for i in range(1, len(slow)) if fast[i - 1] < slow[i - 1] and fast[i] > slow[i])
    assert native.orders["datetime"].iloc[0].date() == days[29]
    assert bt_run.orders["datetime"].iloc[0].date() == days[29 + up]


def test_result_shape_equals_native(next_bar_runs: tuple[BacktestResult, BacktestResult]) -> None:
    bt_run, native = next_bar_runs
    assert bt_run.summary["engine"] == "backtrader" and native.summary["engine"] == "native"
    assert bt_run.summary["engine_version"] == package_version("backtrader") != "0+unknown"
    assert list(bt_run.summary) == list(native.summary)
    for name in ("portfolio", "trades", "positions", "orders", "plots"):
        assert list(getattr(bt_run, name).columns) == list(getattr(native, name).columns)
    assert list(bt_run.portfolio.index) == list(native.portfolio.index)  # every session
    assert set(bt_run.to_dict()) == set(native.to_dict())
    assert bt_run.trades["reason"].iloc[0] == "next_bar open"


def test_current_bar_is_cheat_on_close_like_native(demo_catalog: Catalog) -> None:
    kw: dict[str, Any] = {
        **WINDOW,
        "end": "2008-12-31",
        "matching": "current_bar",
        "catalog": demo_catalog,
    }
    bt_run = run_backtest(BT_SMA, **kw)
    native = run_backtest(NATIVE_SMA, **kw)
    assert trade_keys(bt_run) == trade_keys(native) and len(bt_run.trades) > 10
    assert list(bt_run.trades["price"]) == pytest.approx(list(native.trades["price"]))
    assert bt_run.trades["reason"].iloc[0] == "current_bar close"
    assert bt_run.summary["total_value"] == pytest.approx(native.summary["total_value"], rel=1e-9)


COSTS_BT = """import backtrader as bt


class Costs(bt.Strategy):
    def next(self):
        n = len(self)
        if n == 2:
            self.buy(size=10)
        elif n == 3:
            self.buy(size=1000)
        elif n == 5:
            self.sell(size=1010)
"""
COSTS_NATIVE = """from rqalpha.api import *


def init(context):
    context.n = 0


def handle_bar(context, bar_dict):
    context.n += 1
    amount = {2: 10, 3: 1000, 5: -1010}.get(context.n)
    if amount:
        order_shares("AAPL", amount)
"""


@pytest.mark.parametrize("matching", ["next_bar", "current_bar"])
def test_costs_are_charged_like_native(demo_catalog: Catalog, matching: str) -> None:
    kw: dict[str, Any] = {**SHORT, "matching": matching, "catalog": demo_catalog,
                          "commission": 0.001, "min_commission": 5.0, "tax": 0.002}  # fmt: skip
    bt_run = run_backtest(COSTS_BT, **kw)
    native = run_backtest(COSTS_NATIVE, **kw)
    t = bt_run.trades
    assert list(t["quantity"]) == [10, 1000, 1010] and list(t["side"]) == ["BUY", "BUY", "SELL"]
    value = t["quantity"] * t["price"]
    # By hand: 10 shares * ~$70 * 0.1% = $0.7 -> the $5 minimum; then 0.1% of the value;
    # the sell also pays 0.2% tax.
    assert t["commission"].iloc[0] == 5.0 and value.iloc[0] * 0.001 < 5.0
    assert t["commission"].iloc[1] == pytest.approx(value.iloc[1] * 0.001)
    assert t["commission"].iloc[2] == pytest.approx(value.iloc[2] * 0.001)
    assert list(t["tax"]) == pytest.approx([0.0, 0.0, value.iloc[2] * 0.002])
    cost = value.iloc[0] + value.iloc[1] + 5.0 + value.iloc[1] * 0.001
    pnl = value.iloc[2] * (1 - 0.003) - cost
    assert t["realized_pnl"].iloc[2] == pytest.approx(pnl)
    assert bt_run.summary["total_value"] == pytest.approx(100_000 + pnl)
    for col in ("price", "commission", "tax", "realized_pnl"):
        assert list(t[col]) == pytest.approx(list(native.trades[col]), rel=1e-12), col
    assert bt_run.summary["total_commission"] == pytest.approx(native.summary["total_commission"])
    assert bt_run.summary["total_value"] == pytest.approx(native.summary["total_value"], rel=1e-9)
    np.testing.assert_allclose(
        bt_run.portfolio["total_value"], native.portfolio["total_value"], rtol=1e-12
    )


BIG_BT = """import backtrader as bt


class Big(bt.Strategy):
    def next(self):
        if len(self) == 2:
            self.buy(size=40_000_000)
"""
BIG_NATIVE = """from rqalpha.api import *


def init(context):
    context.n = 0


def handle_bar(context, bar_dict):
    context.n += 1
    if context.n == 2:
        order_shares("AAPL", 40_000_000)
"""


def test_slippage_like_native_and_the_volume_cap_rule(demo_catalog: Catalog) -> None:
    kw: dict[str, Any] = {**SHORT, "matching": "next_bar", "catalog": demo_catalog, "cash": 1e12}
    bt_run = run_backtest(BIG_BT, **kw, slippage=0.002)
    native = run_backtest(BIG_NATIVE, **kw, slippage=0.002)
    bars = CatalogBarSource(demo_catalog, Adjust.PRE).bars("AAPL", dt.date(2006, 3, 31))
    volume = dict(zip(bars.dates.astype(dt.date), bars.volume, strict=True))
    t, n = bt_run.trades, native.trades
    # Both fill at the next open + 0.2% (clipped to the high), capped at 25% of the volume.
    assert t["price"].iloc[0] == n["price"].iloc[0]
    assert t["reason"].iloc[0] == "next_bar open + slippage 0.002"
    caps = [int(volume[d.date()] * 0.25) for d in t["datetime"]]
    assert list(t["quantity"])[:-1] == caps[:-1] and t["quantity"].iloc[-1] <= caps[-1]
    # The rule that differs: backtrader's filler keeps the rest open for the next bars,
    # the native broker cancels it after the first bar.
    assert len(t) > 1 and t["quantity"].sum() == 40_000_000
    assert bt_run.orders["status"].tolist() == ["FILLED"]
    assert len(n) == 1 and n["quantity"].iloc[0] == t["quantity"].iloc[0]
    assert native.orders[["status", "reject_reason"]].values.tolist() == [["CANCELLED", "volume"]]


PARAMS_BT = """import backtrader as bt


class Show(bt.Strategy):
    params = (("fast", 10), ("label", "x"))

    def __init__(self):
        print(f"fast={self.p.fast!r} label={self.p.label!r}")
"""


def test_params_reach_the_strategy_and_unknown_names_are_refused(demo_catalog: Catalog) -> None:
    lines: list[str] = []
    result = run_backtest(
        PARAMS_BT, **SHORT, catalog=demo_catalog, params={"fast": "5"}, log_sink=lines.append
    )
    assert lines == result.logs == ["2006-01-03 INFO fast=5 label='x'"]
    with pytest.raises(InvalidArgument, match=r"unknown parameter 'slow'.*params are: fast, label"):
        run_backtest(PARAMS_BT, **SHORT, catalog=demo_catalog, params={"slow": 3})


RAISES_BT = """import backtrader as bt


class Boom(bt.Strategy):
    def next(self):
        if len(self) == 3:
            print("about to fail")
            raise RuntimeError("boom on bar 3")
"""


def test_a_strategy_exception_is_a_strategy_error_with_the_user_line(
    demo_catalog: Catalog,
) -> None:
    lines: list[str] = []
    with pytest.raises(StrategyError) as info:
        run_backtest(RAISES_BT, **SHORT, catalog=demo_catalog, log_sink=lines.append)
    err = info.value
    assert "RuntimeError: boom on bar 3 at strategy.py line 8, in next" in err.message
    assert 'raise RuntimeError("boom on bar 3")' in err.user_traceback
    assert "site-packages" not in err.user_traceback
    assert lines == ["2006-01-05 INFO about to fail"]


def test_syntax_errors_and_strategy_choice(demo_catalog: Catalog) -> None:
    prepared = prepare_backtest(PARAMS_BT, **SHORT, catalog=demo_catalog)
    broken = dataclasses.replace(prepared, source=PARAMS_BT + "\n    def x(:\n")
    with pytest.raises(StrategySyntaxError, match=r"syntax error in strategy\.py line 10"):
        run_engine(broken)
    two = PARAMS_BT + "\n\nclass Other(Show):\n    pass\n"
    with pytest.raises(InvalidArgument, match=r"several backtrader strategies \(Other, Show\)"):
        run_engine(dataclasses.replace(prepared, source=two))
    chosen = run_engine(dataclasses.replace(prepared, source=two + "\nSTRATEGY = Other\n"))
    assert chosen.raw.logs == ["2006-01-03 INFO fast=10 label='x'"]


def test_auto_detection_picks_backtrader(demo_catalog: Catalog) -> None:
    assert detect_engine(BT_SMA.read_text()) == "backtrader"
    assert detect_engine(NATIVE_SMA.read_text()) == "native"
    prepared = prepare_backtest(BT_SMA, **SHORT, catalog=demo_catalog)
    assert prepared.engine == "backtrader"


def test_progress_logs_and_missing_backtrader(
    demo_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    result = run_backtest(
        BT_SMA, **SHORT, catalog=demo_catalog, progress=lambda d, t: calls.append((d, t))
    )
    total = len(result.portfolio)
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert result.summary["trade_count"] == 0  # 61 sessions: SMA(30) + CrossOver, no cross yet
    monkeypatch.setitem(sys.modules, "backtrader", None)
    with pytest.raises(EngineUnavailable, match=r"pip install quantdesk\[backtrader\]"):
        run_backtest(BT_SMA, **SHORT, catalog=demo_catalog)


def test_cn_stock_rules_are_reported_as_not_applied(demo_catalog: Catalog) -> None:
    result = run_backtest(
        BT_SMA, start="2010-01-04", end="2010-06-30", market="cn_stock",
        universe="000300.XSHG", catalog=demo_catalog,
    )  # fmt: skip
    assert result.logs[0] == (
        "2010-01-04 WARNING backtrader does not apply cn_stock rules (T+1, round lots, "
        "price limits); orders fill without them"
    )
    assert result.summary["benchmark"] == "000300.XSHG" and result.summary["trade_count"] > 0
    assert (result.trades["tax"] == 0).all()  # an index is not a stock: no stamp duty
    assert (result.trades["commission"] >= 5.0).all()


EACH_BT = """import backtrader as bt


class Each(bt.Strategy):
    def __init__(self):
        print("feeds: " + ",".join(d._name for d in self.datas))

    def next(self):
        if len(self) == 2:
            for data in self.datas:
                self.buy(data=data, size=1)
"""


@pytest.mark.parametrize(
    ("universe", "feeds"), [("AAPL,MSFT", ["AAPL", "MSFT"]), ("AAPL,SPX", ["AAPL", "SPX"])]
)
def test_the_benchmark_is_not_a_feed(
    demo_catalog: Catalog, universe: str, feeds: list[str]
) -> None:
    result = run_backtest(EACH_BT, **{**SHORT, "universe": universe}, catalog=demo_catalog)
    assert result.summary["benchmark"] == "SPX"
    # self.datas is the universe: a loop over it buys each universe symbol once, never SPX
    # unless the universe names it.
    assert result.logs == [f"2006-01-03 INFO feeds: {','.join(feeds)}"]
    assert list(result.trades["order_book_id"]) == feeds
    assert list(result.trades["quantity"]) == [1, 1]
    # The benchmark columns still come from SPX's catalog bars, session by session.
    spx = CatalogBarSource(demo_catalog, Adjust.PRE).bars("SPX", dt.date(2006, 3, 31))
    closes = dict(zip(spx.dates.astype(dt.date), spx.close, strict=True))
    sessions = [d.date() for d in result.portfolio.index]
    assert list(result.portfolio["benchmark_close"]) == [closes[d] for d in sessions]


def test_a_library_strategy_runs_and_trades_on_its_crosses(demo_catalog: Catalog) -> None:
    source = "import backtrader as bt\n\nSTRATEGY = bt.strategies.SMA_CrossOver\n"
    window: dict[str, Any] = {**WINDOW, "end": "2008-12-31", "matching": "next_bar"}
    assert detect_engine(source) == "backtrader"  # picked without engine=backtrader
    result = run_backtest(source, **window, catalog=demo_catalog)
    assert result.summary["engine"] == "backtrader"
    # By hand: SMA(10) and SMA(30) over the window's closes; SMA_CrossOver buys one share
    # (backtrader's default sizer) on a cross up when flat and sells it on a cross down.
    bars = CatalogBarSource(demo_catalog, Adjust.PRE).bars("AAPL", dt.date(2008, 12, 31))
    keep = bars.dates >= np.datetime64(window["start"])
    closes, days = bars.close[keep], bars.dates[keep].astype(dt.date)
    fast = np.convolve(closes, np.ones(10) / 10, "valid")[20:]  # fast[i], slow[i]: session 29+i
    slow = np.convolve(closes, np.ones(30) / 30, "valid")
    diff = fast - slow
    expected, holding = [], False
    for i in range(1, len(diff)):
        if not holding and diff[i - 1] < 0 < diff[i]:
            expected.append((days[29 + i], "BUY"))
            holding = True
        elif holding and diff[i - 1] > 0 > diff[i]:
            expected.append((days[29 + i], "SELL"))
            holding = False
    o = result.orders
    assert list(zip(o["datetime"].dt.date, o["side"], strict=True)) == expected
    assert len(expected) > 10 and set(o["status"]) == {"FILLED"}
    assert len(result.trades) == len(expected) and set(result.trades["quantity"]) == {1}


TWO_BT = """import backtrader as bt


class A(bt.Strategy):
    def next(self):
        if len(self) == 2:
            self.buy(size=3)


class B(bt.Strategy):
    def next(self):
        if len(self) == 2:
            self.buy(size=5)
"""


def test_strategy_picks_one_of_several_classes(demo_catalog: Catalog) -> None:
    kw: dict[str, Any] = {**SHORT, "catalog": demo_catalog}
    assert list(run_backtest(TWO_BT + '\nSTRATEGY = "B"\n', **kw).trades["quantity"]) == [5]
    assert list(run_backtest(TWO_BT + "\nSTRATEGY = A\n", **kw).trades["quantity"]) == [3]
    with pytest.raises(
        InvalidArgument,
        match=r'several backtrader strategies \(A, B\); pick the one to run with STRATEGY = "A"',
    ):
        run_backtest(TWO_BT, **kw)
    with pytest.raises(InvalidArgument, match=r"got 'C' \(strategy classes in the file: A, B\)"):
        run_backtest(TWO_BT + '\nSTRATEGY = "C"\n', **kw)


CONFIGURE_BT = """import backtrader as bt


class RoundTrip(bt.Strategy):
    def next(self):
        if len(self) in (2, 3):
            self.buy()
        elif len(self) == 6:
            self.close()


def configure(cerebro):
    cerebro.addsizer(bt.sizers.FixedSize, stake=7)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    cerebro.addanalyzer(bt.analyzers.TimeReturn)
    cerebro.broker.setcommission(commission=0.01)
"""


def test_configure_applies_sizers_analyzers_and_commission(demo_catalog: Catalog) -> None:
    result = run_backtest(CONFIGURE_BT, **SHORT, matching="next_bar", catalog=demo_catalog)
    t = result.trades
    assert list(t["side"]) == ["BUY", "BUY", "SELL"]
    assert list(t["quantity"]) == [7, 7, 14]  # the sizer's stake; close() sells the position
    # The user's 1% scheme replaces ours (us_stock's default) on every fill, with no tax.
    assert list(t["commission"]) == pytest.approx(list(t["quantity"] * t["price"] * 0.01))
    assert (t["tax"] == 0).all()
    assert result.reference is not None
    analyzers = result.reference["analyzers"]
    assert list(analyzers) == ["trades", "timereturn"]
    trades = analyzers["trades"]
    assert trades["total"] == {"total": 1, "open": 0, "closed": 1}
    # backtrader's net P/L of the round trip (both legs' commission) is our realized P/L.
    assert trades["pnl"]["net"]["total"] == pytest.approx(t["realized_pnl"].sum())
    assert trades["pnl"]["net"]["total"] == pytest.approx(result.summary["total_value"] - 100_000)
    daily = analyzers["timereturn"]
    assert list(daily) == [f"{d.date().isoformat()}T00:00:00" for d in result.portfolio.index]
    assert list(daily.values()) == pytest.approx(list(result.portfolio["returns"]), abs=1e-12)
    last = result.portfolio.index[-1].date().isoformat()
    lines = [line for line in result.logs if " INFO analyzer " in line]
    assert [line.split(":", 1)[0] for line in lines] == [
        f"{last} INFO analyzer trades",
        f"{last} INFO analyzer timereturn",
    ]
    assert json.loads(lines[0].split(": ", 1)[1]) == trades
    assert result.to_dict()["engine_summary"] == {"analyzers": analyzers}
    result.to_json()  # JSON-safe (allow_nan=False)
    plain = run_backtest(COSTS_BT, **SHORT, catalog=demo_catalog)
    assert plain.reference is None and not any(" analyzer " in line for line in plain.logs)


CONFIGURE_RAISES_BT = """import backtrader as bt


class Idle(bt.Strategy):
    pass


def configure(cerebro):
    cerebro.addsizer(bt.sizers.FixedSize, stake=7)
    raise ValueError("no such sizer")
"""


def test_configure_errors_are_the_users(demo_catalog: Catalog) -> None:
    kw: dict[str, Any] = {**SHORT, "catalog": demo_catalog}
    with pytest.raises(StrategyError) as info:
        run_backtest(CONFIGURE_RAISES_BT, **kw)
    err = info.value
    assert err.message == (
        "ValueError: no such sizer at strategy.py line 10, in configure (in configure(cerebro))"
    )
    assert 'raise ValueError("no such sizer")' in err.user_traceback
    assert "site-packages" not in err.user_traceback
    idle = CONFIGURE_RAISES_BT.split("\ndef configure", maxsplit=1)[0]
    adds_feed = idle + "\ndef configure(cerebro):\n    cerebro.adddata(cerebro.datas[0].clone())\n"
    with pytest.raises(InvalidArgument, match=r"must not add or remove feeds"):
        run_backtest(adds_feed, **kw)
    sets_cash = idle + "\ndef configure(cerebro):\n    cerebro.broker.setcash(1e6)\n"
    with pytest.raises(InvalidArgument, match=r"must not change the starting cash \(100000\)"):
        run_backtest(sets_cash, **kw)
