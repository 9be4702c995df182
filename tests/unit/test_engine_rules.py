"""Engine rules against hand-computed expectations (fills, costs, lots, T+1, limits, cash)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

from quantdesk.core.errors import InvalidArgument, StrategyError, StrategySyntaxError
from quantdesk.core.instruments import InstrumentType, Market
from quantdesk.engine import Engine, EngineConfig, EngineResult, Matching, market_profile
from quantdesk.engine.records import OrderStatus, RejectReason, Side
from tests.fixtures.bars import MemoryBarSource, series, stock, weekdays

D0 = dt.date(2021, 3, 1)


def run(
    code: str,
    bars: dict[str, dict[str, Any]],
    *,
    market: str = "us_stock",
    matching: Matching = Matching.CURRENT_BAR,
    cash: float = 100_000.0,
    days: int | None = None,
    start: dt.date = D0,
    benchmark: str | None = None,
    params: dict[str, Any] | None = None,
    **costs: float,
) -> EngineResult:
    """Run ``code`` on instruments given as ``{id: {"close": [...], ...}}``."""
    n = days or max(len(b["close"]) for b in bars.values())
    dates = weekdays(start, n)
    mkt = Market.CN if market == "cn_stock" else Market.US
    data = {}
    for oid, given in bars.items():
        spec = dict(given)
        kind = spec.pop("kind", InstrumentType.STOCK)
        own = spec.pop("dates", dates)
        data[oid] = (stock(oid, mkt, kind=kind), series(oid, own, **spec))
    source = MemoryBarSource(dates, data)
    profile = market_profile(market).with_costs(**costs) if costs else market_profile(market)
    universe = tuple(o for o in bars if o != benchmark)
    config = EngineConfig(
        start=dates[0],
        end=dates[-1],
        cash=cash,
        universe=universe,
        benchmark=benchmark,
        profile=profile,
        matching=matching,
        params=params or {},
    )
    return Engine(source, config).run(textwrap.dedent(code))


def on_days(bodies: dict[int, str]) -> str:
    """A strategy whose handle_bar runs ``bodies[i]`` on session index ``i``."""
    branches = "".join(
        f"    if context.day == {day}:\n{textwrap.indent(textwrap.dedent(body), '        ')}\n"
        for day, body in bodies.items()
    )
    return f"""
def init(context):
    context.day = -1

def handle_bar(context, bar_dict):
    context.day += 1
{branches}"""


def on_day(day: int, body: str) -> str:
    """A strategy that runs ``body`` in handle_bar on session index ``day``."""
    return on_days({day: body})


def test_current_bar_fills_at_the_close_and_marks_to_market() -> None:
    res = run(on_day(0, "order_shares('A', 100)"), {"A": {"close": [10, 11, 12, 13, 14]}})
    (fill,) = res.fills
    assert (fill.side, fill.quantity, fill.price) == (Side.BUY, 100, 10.0)
    assert fill.reason == "current_bar close"
    assert res.portfolio["cash"] == [99_000.0] * 5
    assert res.portfolio["total_value"] == [100_000.0, 100_100.0, 100_200.0, 100_300.0, 100_400.0]
    assert res.portfolio["returns"][1] == pytest.approx(100_100 / 100_000 - 1)
    assert res.positions["quantity"] == [100] * 5


def test_next_bar_fills_at_the_next_open() -> None:
    bars = {"A": {"close": [10, 11, 12], "open_": [9.0, 10.5, 11.5]}}
    res = run(on_day(0, "order_shares('A', 100)"), bars, matching=Matching.NEXT_BAR)
    (fill,) = res.fills
    assert fill.price == 10.5
    assert fill.datetime.date() == weekdays(D0, 2)[1]
    assert fill.reason == "next_bar open"
    assert res.portfolio["total_value"] == [100_000.0, 100_000 - 1050 + 1100, 100_000 - 1050 + 1200]


def test_next_bar_order_on_the_last_day_expires() -> None:
    res = run(
        on_day(1, "order_shares('A', 100)"), {"A": {"close": [10, 11]}}, matching=Matching.NEXT_BAR
    )
    assert res.fills == []
    (order,) = res.orders
    assert (order.status, order.reject_reason) == (OrderStatus.CANCELLED, RejectReason.EXPIRED)


def test_cn_commission_has_a_five_yuan_minimum() -> None:
    code = on_day(0, "order_shares('A', 100)\norder_shares('A', 10_000)")
    res = run(code, {"A": {"close": [10, 10]}}, market="cn_stock", cash=1_000_000)
    small, big = res.fills
    assert small.commission == 5.0  # 1,000 * 0.0008 = 0.8 < 5
    assert big.commission == pytest.approx(80.0)  # 100,000 * 0.0008
    assert res.portfolio["cash"][0] == pytest.approx(1_000_000 - 1_000 - 5 - 100_000 - 80)


@pytest.mark.parametrize(
    ("start", "rate"),
    [(dt.date(2023, 8, 21), 0.001), (dt.date(2023, 8, 28), 0.0005)],
)
def test_stamp_duty_on_sells_follows_the_2023_cut(start: dt.date, rate: float) -> None:
    code = on_days({0: "order_shares('A', 1000)", 1: "order_shares('A', -1000)"})
    res = run(code, {"A": {"close": [10, 11]}}, market="cn_stock", start=start)
    buy, sell = res.fills
    assert buy.tax == 0.0
    assert sell.tax == pytest.approx(11_000 * rate)
    assert sell.commission == pytest.approx(11_000 * 0.0008)
    # realized P/L includes both legs' costs
    assert sell.realized_pnl == pytest.approx(11_000 - 10_000 - 8.0 - 8.8 - 11_000 * rate)


def test_cn_buys_round_down_to_lots_and_small_orders_are_rejected() -> None:
    code = on_day(0, "order_shares('A', 150)\norder_shares('A', 50)")
    res = run(code, {"A": {"close": [10, 10]}}, market="cn_stock")
    assert [f.quantity for f in res.fills] == [100]
    rejected = res.orders[1]
    assert (rejected.status, rejected.reject_reason) == (OrderStatus.REJECTED, RejectReason.LOT)


def test_t_plus_1_refuses_same_day_sells_and_allows_next_day() -> None:
    code = on_days(
        {
            0: """
order_shares('A', 200)
context.same_day = order_shares('A', -200)
assert context.portfolio.positions['A'].sellable == 0
""",
            1: """
assert context.portfolio.positions['A'].sellable == 200
order_shares('A', -200)
""",
        }
    )
    res = run(code, {"A": {"close": [10, 10.5, 10.2]}}, market="cn_stock")
    assert [(f.side, f.quantity) for f in res.fills] == [(Side.BUY, 200), (Side.SELL, 200)]
    assert res.orders[1].reject_reason is RejectReason.T_PLUS_1
    assert res.fills[1].datetime.date() == weekdays(D0, 2)[1]


def test_us_stock_is_t_plus_0() -> None:
    code = on_day(0, "order_shares('A', 200)\norder_shares('A', -200)")
    res = run(code, {"A": {"close": [10, 10]}})
    assert [f.side for f in res.fills] == [Side.BUY, Side.SELL]


def test_price_limits_refuse_buys_at_limit_up_and_sells_at_limit_down() -> None:
    code = on_days(
        {
            0: "order_shares('A', 100)",
            1: "order_shares('A', 100)  # 11.00 is limit_up of 10.00",
            2: "order_shares('A', -100)  # 9.90 is limit_down of 11.00",
            3: "order_shares('A', -100)  # 9.00 > 8.91: fills",
        }
    )
    res = run(code, {"A": {"close": [10.0, 11.0, 9.9, 9.0]}}, market="cn_stock")
    reasons = [o.reject_reason for o in res.orders]
    assert reasons == [None, RejectReason.LIMIT_UP, RejectReason.LIMIT_DOWN, None]
    assert [f.price for f in res.fills] == [10.0, 9.0]


def test_price_limits_do_not_apply_to_indices() -> None:
    bars = {"I": {"close": [10.0, 11.5], "kind": InstrumentType.INDEX}}
    res = run(on_day(1, "order_shares('I', 1)"), bars, market="cn_stock")
    assert [f.price for f in res.fills] == [11.5]


def test_fills_are_capped_at_a_quarter_of_the_bar_volume() -> None:
    bars = {"A": {"close": [10, 10], "volume": 1000}}
    res = run(on_day(0, "order_shares('A', 500)"), bars)
    (fill,) = res.fills
    assert fill.quantity == 250
    order = res.orders[0]
    assert (order.status, order.reject_reason, order.filled_quantity) == (
        OrderStatus.CANCELLED,
        RejectReason.VOLUME,
        250,
    )
    cn = run(on_day(0, "order_shares('A', 500)"), bars, market="cn_stock")
    assert [f.quantity for f in cn.fills] == [200]  # 250 rounded down to whole lots


def test_volume_cap_is_shared_by_orders_on_the_same_bar() -> None:
    bars = {"A": {"close": [10, 10], "volume": 1000}}
    res = run(on_day(0, "order_shares('A', 200)\norder_shares('A', 200)"), bars)
    assert [f.quantity for f in res.fills] == [200, 50]


def test_buy_without_enough_cash_is_rejected() -> None:
    res = run(on_day(0, "order_shares('A', 20_000)"), {"A": {"close": [10, 10]}})
    assert res.fills == []
    assert res.orders[0].reject_reason is RejectReason.CASH
    assert res.portfolio["cash"][-1] == 100_000.0


def test_slippage_moves_the_price_against_the_order_within_the_bar() -> None:
    bars = {"A": {"close": [10, 10], "high": [10.5, 10.05], "low": [9.5, 9.95]}}
    code = on_days({0: "order_shares('A', 100)", 1: "order_shares('A', -100)"})
    res = run(code, bars, slippage=0.01)
    buy, sell = res.fills
    assert buy.price == pytest.approx(10.1)
    assert sell.price == pytest.approx(9.95)  # 9.90 clipped to the bar's low
    assert sell.reason.endswith("clipped to low")


def test_orders_on_a_suspended_day_are_rejected_and_positions_keep_their_last_price() -> None:
    dates = weekdays(D0, 3)
    bars: dict[str, dict[str, Any]] = {
        "A": {"close": [10, 12], "dates": [dates[0], dates[2]]},
        "B": {"close": [1, 1, 1]},
    }
    code = on_days({0: "order_shares('A', 10)", 1: "order_shares('A', 10)"})
    res = run(code, bars)
    assert res.orders[1].reject_reason is RejectReason.SUSPENDED
    assert res.portfolio["market_value"] == [100.0, 100.0, 120.0]


def test_order_value_leaves_room_for_the_commission() -> None:
    res = run(on_day(0, "order_value('A', 50_000)"), {"A": {"close": [10, 10]}}, market="cn_stock")
    (fill,) = res.fills
    assert fill.quantity == 4_900  # 5,000 shares would need 50,040 with commission
    assert fill.commission == pytest.approx(39.2)


def test_order_target_percent_buys_to_the_weight_and_zero_sells_odd_lots() -> None:
    code = on_days({0: "order_target_percent('A', 0.5)", 1: "order_target_percent('A', 0)"})
    res = run(code, {"A": {"close": [3.0, 3.0]}}, commission=0.0, min_commission=0.0)
    buy, sell = res.fills
    assert buy.quantity == 16_666  # int(50,000 / 3)
    assert sell.quantity == 16_666
    res_cn = run(code, {"A": {"close": [3.0, 3.0]}}, market="cn_stock")
    assert [f.quantity for f in res_cn.fills] == [16_600, 16_600]


def test_limit_orders_fill_only_at_or_better_than_the_limit() -> None:
    code = on_day(
        0, "context.o1 = order_shares('A', 100, 9.5)\ncontext.o2 = order_shares('A', 100, 10.5)"
    )
    res = run(code, {"A": {"close": [10.0, 10.0]}})
    assert [f.price for f in res.fills] == [10.0]
    assert res.orders[0].reject_reason is RejectReason.EXPIRED
    nb = run(
        on_day(0, "order_shares('A', 100, 9.5)"),
        {"A": {"close": [10.0, 10.0], "open_": [10.0, 9.8], "low": [10.0, 9.0]}},
        matching=Matching.NEXT_BAR,
    )
    assert [(f.price, f.reason) for f in nb.fills] == [(9.5, "limit")]


def test_cancel_order_and_get_open_orders() -> None:
    code = on_day(
        0,
        """
o = order_shares('A', 100)
assert get_open_orders() == [o]
cancel_order(o)
assert get_open_orders() == []
""",
    )
    res = run(code, {"A": {"close": [10, 11]}}, matching=Matching.NEXT_BAR)
    assert res.fills == []
    assert res.orders[0].status is OrderStatus.CANCELLED


def test_history_bars_sees_today_in_handle_bar_but_not_before_trading() -> None:
    code = """
def init(context):
    context.seen = []

def before_trading(context):
    context.seen.append(list(history_bars('A', 2, '1d', 'close')))

def handle_bar(context, bar_dict):
    context.seen.append(list(history_bars('A', 2, '1d', 'close')))
    bars = history_bars('A', 1, '1d', ['datetime', 'close'])
    logger.info("%s %s", int(bars['datetime'][0]), bars['close'][0])
    if len(context.seen) == 4:
        assert context.seen == [[], [1.0], [1.0], [1.0, 2.0]], context.seen
"""
    res = run(code, {"A": {"close": [1.0, 2.0, 3.0]}, "X": {"close": [1, 1, 1]}}, days=3)
    assert res.logs[0] == "2021-03-01 INFO 20210301000000 1.0"


def test_benchmark_nav_starts_from_the_close_before_the_first_session() -> None:
    bars: dict[str, dict[str, Any]] = {
        "A": {"close": [1, 1, 1]},
        "B": {"close": [100.0, 110.0, 99.0]},
    }
    source_dates = weekdays(D0, 3)
    res = run("def handle_bar(context, bar_dict):\n    pass\n", bars, benchmark="B")
    assert res.portfolio["date"] == source_dates
    # the first session has no earlier bar in this fake, so day 1 is measured from its own close
    assert res.portfolio["benchmark_nav"] == [1.0, 1.1, 0.99]
    assert res.portfolio["benchmark_returns"][2] == pytest.approx(99 / 110 - 1)


def test_rqalpha_imports_resolve_to_quantdesk_and_are_restored() -> None:
    code = """
from rqalpha.api import *
from rqalpha.apis import order_shares as buy
import rqalpha

def handle_bar(context, bar_dict):
    buy('A', 10)
    assert rqalpha.api.history_bars is history_bars
"""
    before = sys.modules.get("rqalpha.api")
    res = run(code, {"A": {"close": [10.0]}})
    assert [f.quantity for f in res.fills] == [10]
    assert sys.modules.get("rqalpha.api") is before


def test_params_merge_over_defaults_with_types() -> None:
    code = """
PARAMS = {"n": 5, "w": 0.5, "flag": False}

def init(context):
    logger.info("%r" % (sorted(context.params.items()),))

def handle_bar(context, bar_dict):
    pass
"""
    res = run(code, {"A": {"close": [1.0]}}, params={"n": "7", "flag": "true"})
    assert res.logs == ["2021-03-01 INFO [('flag', True), ('n', 7), ('w', 0.5)]"]
    with pytest.raises(InvalidArgument, match="parameter 'n' expects int"):
        run(code, {"A": {"close": [1.0]}}, params={"n": "seven"})
    with pytest.raises(InvalidArgument, match="unknown parameter 'm'"):
        run(code, {"A": {"close": [1.0]}}, params={"m": 1})


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(StrategySyntaxError) as info:
        run("def init(context):\n    x = = 1\n", {"A": {"close": [1.0]}})
    assert info.value.lineno == 2
    assert "line 2" in info.value.message


def test_strategy_exceptions_carry_only_the_users_frames() -> None:
    code = """
def init(context):
    pass

def handle_bar(context, bar_dict):
    helper()

def helper():
    return {}['missing']
"""
    with pytest.raises(StrategyError) as info:
        run(code, {"A": {"close": [1.0]}})
    tb = info.value.user_traceback
    assert 'File "strategy.py", line 6, in handle_bar' in tb
    assert 'File "strategy.py", line 9, in helper' in tb
    assert "quantdesk" not in tb
    assert "KeyError" in info.value.message


def test_unknown_instrument_in_an_order_is_a_strategy_error() -> None:
    with pytest.raises(StrategyError, match="unknown order_book_id 'ZZZ'"):
        run(on_day(0, "order_shares('ZZZ', 1)"), {"A": {"close": [1.0]}})


def test_selling_more_than_held_is_rejected_not_shorted() -> None:
    res = run(on_day(0, "order_shares('A', 10)\norder_shares('A', -20)"), {"A": {"close": [1.0]}})
    assert res.orders[1].reject_reason is RejectReason.POSITION
    assert res.positions["quantity"] == [10]


def test_closing_positions_while_iterating_over_them() -> None:
    code = on_days(
        {
            0: "order_shares('A', 10)\norder_shares('B', 10)",
            1: "for oid in context.portfolio.positions:\n    order_target_percent(oid, 0)",
        }
    )
    res = run(code, {"A": {"close": [1.0, 1.0, 1.0]}, "B": {"close": [2.0, 2.0, 2.0]}})
    assert [(f.order_book_id, f.side) for f in res.fills][2:] == [
        ("A", Side.SELL),
        ("B", Side.SELL),
    ]
    assert res.positions["date"] == [weekdays(D0, 1)[0]] * 2  # nothing held after day 1


def test_price_limits_use_traded_prices_when_bars_are_adjusted() -> None:
    # Traded closes 10 -> 11 (limit up) -> 3.70 after a 3:1 split; forward-adjusted bars
    # read 3.333 -> 3.667 -> 3.70, where a tick-rounded limit on adjusted prices (3.67)
    # would miss the limit-up day.
    dates = weekdays(D0, 3)
    factor = np.array([1 / 3, 1 / 3, 1.0])
    adjusted = np.array([10.0, 11.0, 3.70]) * factor
    bars = dataclasses.replace(series("A", dates, adjusted), factor=factor)
    source = MemoryBarSource(dates, {"A": (stock("A", Market.CN), bars)})
    config = EngineConfig(
        start=dates[0], end=dates[-1], cash=100_000.0, universe=("A",), benchmark=None,
        profile=market_profile("cn_stock"),
    )  # fmt: skip
    res = Engine(source, config).run(on_day(1, "order_shares('A', 100)"))
    assert res.fills == []
    assert res.orders[0].reject_reason is RejectReason.LIMIT_UP
    assert "11 is at limit_up 11.0" in res.orders[0].message


def test_print_in_a_strategy_goes_to_the_log_not_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code = "def handle_bar(context, bar_dict):\n    print('close', bar_dict['A'].close, end='')\n"
    res = run(code, {"A": {"close": [1.0, 2.0]}})
    assert capsys.readouterr().out == ""
    assert res.logs == ["2021-03-02 INFO close 1.0close 2.0"]


def test_exit_in_a_strategy_is_a_strategy_error() -> None:
    code = "import sys\n\ndef handle_bar(context, bar_dict):\n    sys.exit(0)\n"
    with pytest.raises(StrategyError, match="SystemExit"):
        run(code, {"A": {"close": [1.0]}})


def test_init_does_not_see_the_first_sessions_bar() -> None:
    code = """
def init(context):
    context.seen = list(history_bars('A', 5, '1d', 'close'))
    order_value('A', 1_000)

def handle_bar(context, bar_dict):
    assert context.seen == [], context.seen
"""
    res = run(code, {"A": {"close": [10.0, 20.0], "dates": weekdays(D0, 2)}})
    assert res.orders[0].reject_reason is RejectReason.SUSPENDED  # no price known yet


def test_a_second_sell_of_the_same_shares_is_a_position_error_in_t_plus_0() -> None:
    code = on_days(
        {0: "order_shares('A', 10)", 1: "order_shares('A', -10)\norder_shares('A', -10)"}
    )
    res = run(code, {"A": {"close": [1.0, 1.0, 1.0]}}, matching=Matching.NEXT_BAR)
    assert [o.reject_reason for o in res.orders] == [None, None, RejectReason.POSITION]
