"""The RQAlpha functions of the native engine, on in-memory bars: what each returns and when.

Cross-engine agreement with real RQAlpha is in ``tests/integration/test_cross_engine.py`` and
``test_rqalpha_examples.py``; these pin the behaviour itself (order of calls, no look-ahead,
shapes) quickly and without RQAlpha.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import textwrap

import pytest

from quantdesk.core.errors import StrategyError
from quantdesk.core.instruments import BoardType, Instrument, InstrumentType, Market
from quantdesk.engine import Engine, EngineConfig, EngineResult, Matching, market_profile
from tests.fixtures.bars import MemoryBarSource, series, stock, weekdays

D0 = dt.date(2021, 3, 3)  # a Wednesday


def run(
    code: str,
    closes: dict[str, list[float]],
    *,
    market: str = "cn_stock",
    instruments: dict[str, Instrument] | None = None,
    matching: Matching = Matching.CURRENT_BAR,
    start: dt.date = D0,
) -> EngineResult:
    n = max(len(c) for c in closes.values())
    dates = weekdays(start, n)
    # the market's calendar reaches two weeks beyond the run on both sides
    calendar = weekdays(start - dt.timedelta(days=14), n + 20)
    mkt = Market.CN if market == "cn_stock" else Market.US
    given = instruments or {}
    data = {
        oid: (given.get(oid) or stock(oid, mkt), series(oid, dates[: len(c)], c))
        for oid, c in closes.items()
    }
    config = EngineConfig(
        start=dates[0], end=dates[-1], cash=1_000_000.0, universe=tuple(closes),
        benchmark=None, profile=market_profile(market), matching=matching,
    )  # fmt: skip
    return Engine(MemoryBarSource(calendar, data), config).run(textwrap.dedent(code))


def logged(result: EngineResult) -> list[str]:
    """The messages of the strategy's INFO lines, without their dates."""
    return [line.split(" INFO ", 1)[1] for line in result.logs if " INFO " in line]


FLAT = {"A": [10.0] * 12}


def test_scheduled_functions_run_in_rqalphas_order() -> None:
    code = """
    def init(context):
        scheduler.run_daily(early, time_rule="before_trading")
        scheduler.run_daily(at_open, time_rule=market_open(minute=10))
        scheduler.run_daily(never, time_rule=physical_time(20, 0))
        context.n = 0

    def early(context, bar_dict):
        logger.info(f"early {bar_dict}")

    def at_open(context, bar_dict):
        logger.info(f"at_open {bar_dict['A'].close}")

    def never(context, bar_dict):
        logger.info("never")

    def before_trading(context):
        logger.info("before_trading")

    def handle_bar(context, bar_dict):
        logger.info("handle_bar")
    """
    lines = logged(run(code, {"A": [10.0, 11.0]}))
    assert lines == [
        "early None", "before_trading", "at_open 10.0", "handle_bar",
        "early None", "before_trading", "at_open 11.0", "handle_bar",
    ]  # fmt: skip


def test_weekly_and_monthly_rules_use_the_calendar_not_the_run() -> None:
    code = """
    def init(context):
        scheduler.run_weekly(first, tradingday=1)
        scheduler.run_weekly(last, tradingday=-1)
        scheduler.run_weekly(tuesday, weekday=2)
        scheduler.run_monthly(month_end, tradingday=-1)

    def first(context, bar_dict):
        logger.info(f"first {context.now:%a %d}")

    def last(context, bar_dict):
        logger.info(f"last {context.now:%a %d}")

    def tuesday(context, bar_dict):
        logger.info(f"tuesday {context.now:%a %d}")

    def month_end(context, bar_dict):
        logger.info(f"month_end {context.now:%a %d}")
    """
    # Wed 2021-03-03 .. Thu 2021-03-18: the first week's Monday is before the run.
    lines = logged(run(code, {"A": [10.0] * 12}))
    assert lines == [
        "last Fri 05", "first Mon 08", "tuesday Tue 09", "last Fri 12",
        "first Mon 15", "tuesday Tue 16",
    ]  # fmt: skip
    lines = logged(run(code, {"A": [10.0] * 25}))
    assert "month_end Wed 31" in lines


def test_scheduling_outside_init_is_a_strategy_error() -> None:
    code = """
    def handle_bar(context, bar_dict):
        scheduler.run_daily(handle_bar)
    """
    with pytest.raises(StrategyError, match="can only be called in init"):
        run(code, FLAT)


def test_events_arrive_in_order_with_their_objects() -> None:
    code = """
    def init(context):
        for name in ("PRE_BEFORE_TRADING", "BEFORE_TRADING", "POST_BAR", "ORDER_CREATION_PASS",
                     "TRADE", "POST_SETTLEMENT"):
            subscribe_event(getattr(EVENT, name), on_event)
        context.done = False

    def on_event(context, event):
        extra = ""
        if event.event_type == EVENT.TRADE:
            extra = f" {event.trade.last_quantity}@{event.trade.last_price} {event.order.status}"
        logger.info(f"{event.event_type.name}{extra}")

    def handle_bar(context, bar_dict):
        if not context.done:
            order_shares("A", 200)
            context.done = True
    """
    lines = logged(run(code, {"A": [10.0, 11.0]}))
    assert lines[:6] == [
        "PRE_BEFORE_TRADING", "BEFORE_TRADING", "ORDER_CREATION_PASS", "TRADE 200@10.0 FILLED",
        "POST_BAR", "POST_SETTLEMENT",
    ]  # fmt: skip
    assert lines[6:] == ["PRE_BEFORE_TRADING", "BEFORE_TRADING", "POST_BAR", "POST_SETTLEMENT"]


def test_a_failing_event_handler_is_the_strategys_error() -> None:
    code = """
    def init(context):
        subscribe_event(EVENT.POST_SETTLEMENT, lambda context, event: 1 / 0)
    """
    with pytest.raises(StrategyError, match=r"ZeroDivisionError.*POST_SETTLEMENT event handler"):
        run(code, FLAT)


def test_data_functions_never_look_ahead() -> None:
    code = """
    def before_trading(context):
        p = get_price("A", "2021-03-01", "2030-01-01", fields="close", expect_df=False)
        s = current_snapshot("A")
        logger.info(f"before {list(p)} {s.last if s else None}")

    def handle_bar(context, bar_dict):
        p = get_price("A", "2021-03-01", "2030-01-01", expect_df=True)
        until_yesterday = get_price("A", "2021-03-01", fields="close")  # RQAlpha's default end
        s = current_snapshot("A")
        logger.info(f"bar {list(p['close'])} {list(until_yesterday)} {s.last} {s.prev_close}")
    """
    lines = logged(run(code, {"A": [10.0, 11.0]}))
    assert lines == [
        "before [] None", "bar [10.0] [] 10.0 nan",
        "before [10.0] 10.0", "bar [10.0, 11.0] [10.0] 11.0 10.0",
    ]  # fmt: skip


def test_weekly_history_bars_aggregate_calendar_weeks() -> None:
    code = """
    def handle_bar(context, bar_dict):
        if context.now.day == 16:  # Tue of the third week
            w = history_bars("A", 3, "1w", ["datetime", "open", "high", "close", "volume"])
            logger.info(str([(int(r[0]) // 1000000, *map(float, list(r)[1:])) for r in w]))
    """
    closes = [float(i) for i in range(1, 11)]  # Wed 03 .. Tue 16
    lines = logged(run(code, {"A": closes}))
    # weeks: Wed03-Fri05 (1..3), Mon08-Fri12 (4..8), Mon15-Tue16 (9..10); volume 1e9 a day
    assert lines == [str([
        (20210305, 1.0, 3.0, 3.0, 3e9), (20210312, 4.0, 8.0, 8.0, 5e9),
        (20210316, 9.0, 10.0, 10.0, 2e9),
    ])]  # fmt: skip


def test_history_bars_extra_fields() -> None:
    code = """
    def handle_bar(context, bar_dict):
        if context.now.day == 4:
            fields = ["prev_close", "limit_up", "limit_down", "total_turnover"]
            r = history_bars("A", 1, "1d", fields)[0]
            logger.info(str(tuple(float(x) for x in r)))
    """
    lines = logged(run(code, {"A": [10.0, 10.5]}))
    assert lines == [str((10.0, 11.0, 9.0, 10.5e9))]


def test_instruments_and_trading_dates() -> None:
    star = dataclasses.replace(stock("688001.XSHG", Market.CN), board_type=BoardType.KSH,
                               listed_date=dt.date(2019, 7, 22))  # fmt: skip
    index = stock("000300.XSHG", Market.CN, kind=InstrumentType.INDEX)
    code = """
    def handle_bar(context, bar_dict):
        if context.now.day != 3:
            return
        i = instruments("688001.XSHG")
        logger.info(f"{i.board_type} {i.round_lot} {i.listed_date:%Y-%m-%d} "
                    f"{i.de_listed_date:%Y} {i.days_from_listed()} {i.type}")
        logger.info(str(instruments("nope")))
        logger.info(str([x.order_book_id for x in instruments(["000300.XSHG", "nope"])]))
        logger.info(str(list(all_instruments(type="CS")["order_book_id"])))
        before = get_previous_trading_date("2021-03-08")
        logger.info(f"{before} {get_next_trading_date('2021-03-05', 2)}")
        logger.info(str(len(get_trading_dates("2021-03-01", "2021-03-12"))))
    """
    lines = logged(run(code, {"688001.XSHG": [10.0] * 3, "000300.XSHG": [1.0] * 3},
                       instruments={"688001.XSHG": star, "000300.XSHG": index}))  # fmt: skip
    assert lines == [
        "KSH 1 2019-07-22 2999 590 CS", "None", "['000300.XSHG']", "['688001.XSHG']",
        "2021-03-05 2021-03-09", "10",
    ]  # fmt: skip


def test_star_shares_buy_200_minimum_in_steps_of_one_with_20_percent_limits() -> None:
    star = dataclasses.replace(stock("S", Market.CN), board_type=BoardType.KSH,
                               listed_date=dt.date(2019, 7, 22))  # fmt: skip
    code = """
    def handle_bar(context, bar_dict):
        order_shares("S", 150)   # below the minimum
        order_shares("S", 250)   # a valid STAR order
    """
    res = run(code, {"S": [10.0, 11.5, 14.0]}, instruments={"S": star})
    assert [f.quantity for f in res.fills] == [250, 250]  # day 3: +21.7% is at the 20% limit
    reasons = [o.reject_reason for o in res.orders if o.reject_reason]
    assert reasons == ["lot", "lot", "lot", "limit_up"]


def test_deposits_and_withdrawals_are_not_returns() -> None:
    code = """
    def init(context):
        context.n = 0

    def handle_bar(context, bar_dict):
        context.n += 1
        if context.n == 2:
            deposit("STOCK", 500_000)
        if context.n == 3:
            withdraw(DEFAULT_ACCOUNT_TYPE.STOCK, 250_000)
        p = context.portfolio
        logger.info(f"{p.total_value:.0f} {p.unit_net_value:.4f} {p.daily_pnl:.0f}")
    """
    res = run(code, {"A": [10.0] * 3})
    assert logged(res) == ["1000000 1.0000 0", "1500000 1.0000 0", "1250000 1.0000 0"]
    assert res.portfolio["returns"] == [0.0, 0.0, 0.0]
    assert res.portfolio["nav"] == [1.0, 1.0, 1.0]


def test_order_target_portfolio_sells_what_is_missing_and_checks_weights() -> None:
    code = """
    def init(context):
        context.n = 0

    def handle_bar(context, bar_dict):
        context.n += 1
        if context.n == 1:
            order_target_portfolio({"A": 0.5, "B": 0.5})
        elif context.n == 3:
            order_target_portfolio({"B": 0.3})
        elif context.n == 4:
            order_target_portfolio({"A": 0.7, "B": 0.7})
    """
    with pytest.raises(StrategyError, match="total percent should be lower than 1"):
        run(code, {"A": [10.0] * 4, "B": [20.0] * 4})
    res = run(code, {"A": [10.0] * 3, "B": [20.0] * 3})
    sides = [(f.datetime.day, f.order_book_id, str(f.side)) for f in res.fills]
    assert sides == [(3, "A", "BUY"), (3, "B", "BUY"), (5, "A", "SELL"), (5, "B", "SELL")]


def test_context_run_info_config_and_accounts() -> None:
    code = """
    def init(context):
        r = context.run_info
        logger.info(f"{r.start_date} {r.end_date} {r.frequency} {r.run_type} "
                    f"{r.stock_starting_cash:.0f}")
        c = context.config
        logger.info(f"{c.base.accounts.stock:.0f} {c.mod.sys_simulation.matching_type}")
        acc = context.portfolio.accounts[DEFAULT_ACCOUNT_TYPE.STOCK]
        logger.info(f"{acc is context.portfolio} {acc.frozen_cash} {get_positions()}")
        context.limit = None

    def handle_bar(context, bar_dict):
        if context.limit is None:
            context.limit = order_shares("A", 1000, LimitOrder(9.0))
            o = context.limit
            logger.info(f"{context.portfolio.frozen_cash:.0f} {o.type} {o.is_final()}")
    """
    res = run(code, {"A": [10.0, 10.0]}, matching=Matching.NEXT_BAR)
    assert logged(res) == [
        "2021-03-03 2021-03-04 1d BACKTEST 1000000", "1000000 next_bar", "True 0.0 []",
        "9000 LIMIT False",
    ]  # fmt: skip


def test_short_positions_are_always_empty() -> None:
    code = """
    def handle_bar(context, bar_dict):
        order_shares("A", 100)
        long, short = get_position("A"), get_position("A", POSITION_DIRECTION.SHORT)
        logger.info(f"{long.quantity} {short.quantity}")
    """
    assert logged(run(code, {"A": [10.0]})) == ["100 0"]


def test_st_shares_have_5_percent_limits() -> None:
    st = dataclasses.replace(stock("T", Market.CN),
                             st_periods=((dt.date(2021, 3, 4), None),))  # fmt: skip
    code = """
    def handle_bar(context, bar_dict):
        logger.info(f"{is_st_stock('T')} {is_st_stock('T', 2)}")
        order_shares("T", 100)
    """
    res = run(code, {"T": [10.0, 10.5, 10.9]}, instruments={"T": st})
    assert logged(res) == ["False [False, False]", "True [False, True]", "True [True, True]"]
    assert [o.reject_reason for o in res.orders] == [None, "limit_up", None]
