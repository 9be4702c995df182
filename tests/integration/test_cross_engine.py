"""The RQAlpha API the native engine re-implements, checked against real RQAlpha 6.4.

Each strategy runs on both engines over real bars imported as A-share ids
(``tests.fixtures.ashares``) under ``cn_stock`` rules; fills must agree (date, id, side,
quantity, price), and so must the final value. Covered: the scheduler, order styles and
``order_target_portfolio``, price limits (clamped fills, slippage stopped at the limits),
board rules (STAR: 20% limits, 200-share minimum, steps of 1; ST: 5%), and a file's
``__config__``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from quantdesk.backtest import BacktestResult
from quantdesk.backtest.run import prepare_backtest
from quantdesk.core.errors import InvalidArgument
from quantdesk.data import Catalog
from tests.fixtures.ashares import fills, run_on


def run(catalog: Catalog, code: str, engine: str, **kw: Any) -> BacktestResult:
    args: dict[str, Any] = {"cash": 1_000_000, "benchmark": "000300.XSHG", "market": "cn_stock",
                            **kw}  # fmt: skip
    return run_on(catalog, code, engine, **args)


def both(catalog: Catalog, code: str, **kw: Any) -> tuple[BacktestResult, BacktestResult]:
    """Run on both engines; assert same fills and final value; return (native, rqalpha)."""
    native = run(catalog, code, "native", **kw)
    rq = run(catalog, code, "rqalpha", **kw)
    assert fills(native), "the strategy traded nothing"
    assert fills(native) == fills(rq)
    end_native = float(native.portfolio["total_value"].iloc[-1])
    end_rq = float(rq.portfolio["total_value"].iloc[-1])
    assert math.isclose(end_native, end_rq, rel_tol=1e-8), (end_native, end_rq)
    return native, rq


SCHEDULER = """
from rqalpha.apis import *

def init(context):
    context.s = ["000001.XSHE", "601988.XSHG", "000068.XSHE"]
    scheduler.run_weekly(rebalance, tradingday=1, time_rule=market_open(minute=10))
    scheduler.run_monthly(trim, tradingday=-1)
    scheduler.run_weekly(fridays, weekday=5, time_rule=market_close(minute=5))
    scheduler.run_daily(count, time_rule="before_trading")
    context.days = 0

def count(context, bar_dict):
    assert bar_dict is None
    context.days += 1

def rebalance(context, bar_dict):
    oid = context.s[context.days % 3]
    order_target_percent(oid, 0.3)

def trim(context, bar_dict):
    for p in get_positions():
        order_target_percent(p.order_book_id, 0.1)

def fridays(context, bar_dict):
    order_shares("000001.XSHE", 100)
"""


def test_scheduler_matches_rqalpha(a_share_catalog: Catalog) -> None:
    native, _ = both(a_share_catalog, SCHEDULER, universe="000001.XSHE,601988.XSHG,000068.XSHE",
                     start="2011-03-02", end="2011-09-30")  # fmt: skip
    days = {d.date() for d in native.trades["datetime"]}
    assert any(d.weekday() == 4 for d in days)  # the Friday rule ran


TARGET_PORTFOLIO = """
from rqalpha.apis import *

def init(context):
    context.i = 0
    scheduler.run_monthly(rebalance, tradingday=1)

def rebalance(context, bar_dict):
    weights = [
        {"000001.XSHE": 0.5, "601988.XSHG": 0.3, "000068.XSHE": 0.2},
        {"601988.XSHG": 0.6, "000068.XSHE": 0.4},
        {"000001.XSHE": 0.25, "000068.XSHE": 0.25},
    ][context.i % 3]
    context.i += 1
    order_target_portfolio(weights)
"""


def test_order_target_portfolio_matches_rqalpha(a_share_catalog: Catalog) -> None:
    native, _ = both(a_share_catalog, TARGET_PORTFOLIO,
                     universe="000001.XSHE,601988.XSHG,000068.XSHE",
                     start="2010-01-04", end="2011-12-30")  # fmt: skip
    assert set(native.trades["side"]) == {"BUY", "SELL"}


ORDERS = """
from rqalpha.apis import *

def init(context):
    context.n = 0

def handle_bar(context, bar_dict):
    context.n += 1
    oid = "000001.XSHE"
    close = bar_dict[oid].close
    if close != close:  # suspended: no price to set a limit from
        return
    if context.n % 7 == 1:
        order(oid, 300)
    elif context.n % 7 == 3:
        order_to(oid, 100)
    elif context.n % 7 == 4:
        submit_order(oid, 200, SIDE.BUY, price=close * 1.01)
    elif context.n % 7 == 5:
        order_shares(oid, 100, MarketOrder())
    elif context.n % 7 == 6:
        order_shares(oid, -100, LimitOrder(close * 0.99))
    elif context.n % 7 == 0:
        order_target_value(oid, 0)
"""


def test_order_functions_and_styles_match_rqalpha(a_share_catalog: Catalog) -> None:
    both(a_share_catalog, ORDERS, universe="000001.XSHE", start="2011-01-04", end="2011-06-30")


CHURN = """
from rqalpha.apis import *

def init(context):
    context.n = 0

def handle_bar(context, bar_dict):
    context.n += 1
    for oid in ("000001.XSHE", "688001.XSHG"):
        if context.n % 2:
            order_shares(oid, 250)
        else:
            order_target_value(oid, 0)
"""


def test_price_limits_and_slippage_match_rqalpha(a_share_catalog: Catalog) -> None:
    # 2008-2009 on real AAPL bars: closes beyond +-10% of the previous close (the data is
    # not A-share data), where fills clamp to the limit and slippage stops at it.
    native, _ = both(a_share_catalog, CHURN, universe="000001.XSHE,688001.XSHG",
                     start="2008-09-02", end="2009-04-30", slippage=0.002)  # fmt: skip
    reasons = " ".join(native.trades["reason"])
    assert "clamped to limit" in reasons
    # STAR: 250 shares are a valid order (200 minimum, steps of 1); the main board buys 200
    star = native.trades[native.trades["order_book_id"] == "688001.XSHG"]
    main = native.trades[native.trades["order_book_id"] == "000001.XSHE"]
    assert 250 in set(star["quantity"]) and 200 in set(main["quantity"])


ST_BUY = """
from rqalpha.apis import *

def handle_bar(context, bar_dict):
    for oid in ("601988.XSHG", "600001.XSHG"):
        if not get_position(oid).quantity:
            order_shares(oid, 1000)
        else:
            order_target_value(oid, 0)
"""


def test_st_limits_match_rqalpha(a_share_catalog: Catalog) -> None:
    # The same MSFT bars as 601988.XSHG (10%) and as 600001.XSHG (ST: 5%) in 2009.
    native, _ = both(a_share_catalog, ST_BUY, universe="601988.XSHG,600001.XSHG",
                     start="2009-01-05", end="2009-12-31", adjust="none")  # fmt: skip
    o = native.orders
    st = o[
        (o["order_book_id"] == "600001.XSHG") & o["reject_reason"].isin(["limit_up", "limit_down"])
    ]
    normal = o[
        (o["order_book_id"] == "601988.XSHG") & o["reject_reason"].isin(["limit_up", "limit_down"])
    ]
    assert len(st) > len(normal)


CONFIGURED = """
from rqalpha.apis import *

__config__ = {
    "base": {"start_date": "2011-01-04", "end_date": "2011-06-30",
             "benchmark": "000300.XSHG", "accounts": {"stock": 50000}},
    "extra": {"log_level": "verbose"},
    "mod": {"sys_analyser": {"plot": True}},
}

def init(context):
    context.fired = False

def handle_bar(context, bar_dict):
    if not context.fired:
        order_percent("000001.XSHE", 1)
        context.fired = True
"""


def test_config_in_the_file_runs_the_same_on_both_engines(a_share_catalog: Catalog) -> None:
    # The run gives its dates (they win) but no cash or benchmark (the file's apply). Before,
    # RQAlpha ran the file's own window and cash while the summary reported the request's.
    kw: dict[str, Any] = {"universe": "000001.XSHE", "start": "2010-01-04", "end": "2010-12-31",
                          "benchmark": None}  # fmt: skip
    given = {k: v for k, v in kw.items() if v is not None}
    prepared = prepare_backtest(CONFIGURED, catalog=a_share_catalog, market="cn_stock", **given)
    assert (prepared.config.cash, prepared.config.benchmark) == (50000.0, "000300.XSHG")
    assert prepared.config.start.isoformat() == "2010-01-04"
    native, rq = both(a_share_catalog, CONFIGURED, cash=None, **kw)
    for result in (native, rq):
        assert str(result.portfolio.index[0])[:10] == "2010-01-04"
        assert float(result.portfolio["total_value"].iloc[0]) < 50000
        notes = [line for line in result.logs if "__config__" in line]
        assert any("base.start_date = '2011-01-04' is overridden" in n for n in notes)
        assert any("base.accounts.stock = 50000 applied (cash)" in n for n in notes)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"mod": {"sys_simulation": {"slippage": 0.01}}}',
         r"mod.sys_simulation.slippage would change the result .*set slippage on the run"),
        ('{"base": {"frequency": "1m"}}', r"only daily bars \(1d\)"),
        ('{"base": {"accounts": {"future": 100000}}}', r"base.accounts.future"),
        ('dict(base={"start_date": "2011-01-04"})', r"must be a literal dict"),
        ('{"base": {"start_date": "soon"}}', r"must be a YYYY-MM-DD date"),
    ],
)  # fmt: skip
def test_config_keys_that_would_differ_are_refused(
    a_share_catalog: Catalog, config: str, message: str
) -> None:
    code = f"__config__ = {config}\n\ndef handle_bar(context, bar_dict):\n    pass\n"
    with pytest.raises(InvalidArgument, match=message):
        prepare_backtest(code, catalog=a_share_catalog, universe="000001.XSHE",
                         start="2010-01-04", end="2010-12-31")  # fmt: skip
