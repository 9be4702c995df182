"""Property tests of the native engine: accounting identities and market rules.

Hypothesis draws the shape of a market (instruments, sessions, volume regime, suspensions,
costs, profile, matching) and a list of strategy actions; the bar paths themselves come from a
seeded numpy generator so that one example stays cheap. The actions are embedded in the
strategy source as a literal, so a failing example shrinks to a short list of orders.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from dataclasses import astuple, dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk.core.instruments import InstrumentType, Market
from quantdesk.engine import Engine, EngineConfig, EngineResult, Matching, market_profile
from quantdesk.engine.costs import limit_prices
from quantdesk.engine.records import Side
from tests.fixtures.bars import MemoryBarSource, series, stock, weekdays

#: Tolerance of the accounting identities (relative to the account's size).
REL = 1e-9

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays deterministic
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KINDS = (
    "shares",
    "lots",
    "value",
    "percent",
    "target_value",
    "target_percent",
    "sell_fraction",
    "limit",
    "cancel",
)
PHASES = ("before", "bar", "after")

STRATEGY_TEMPLATE = """
ACTIONS = {actions!r}


def init(context):
    context.day = -1


def before_trading(context):
    context.day += 1
    _act(context, "before")


def handle_bar(context, bar_dict):
    _act(context, "bar")


def after_trading(context):
    _act(context, "after")


def _act(context, phase):
    for when, kind, oid, x, y in ACTIONS.get(context.day, ()):
        if when != phase:
            continue
        total = context.portfolio.total_value
        held = context.portfolio.positions[oid].quantity
        if kind == "shares":
            order_shares(oid, int(x * 3000))
        elif kind == "lots":
            order_lots(oid, int(x * 30))
        elif kind == "value":
            order_value(oid, x * 0.5 * total)
        elif kind == "percent":
            order_percent(oid, x)
        elif kind == "target_value":
            order_target_value(oid, abs(x) * 0.6 * total)
        elif kind == "target_percent":
            order_target_percent(oid, abs(x))
        elif kind == "sell_fraction":
            if held:
                order_shares(oid, -held if abs(x) > 0.9 else -int(held * abs(x)))
        elif kind == "limit":
            closes = history_bars(oid, 1, "1d", "close")
            if len(closes):
                order_shares(oid, int(x * 3000), price=float(closes[-1]) * (1 + 0.05 * y))
        elif kind == "cancel":
            for order in get_open_orders():
                cancel_order(order)
"""


@dataclass(frozen=True)
class Scenario:
    """One drawn market, account and strategy."""

    profile_name: str
    matching: Matching
    cash: float
    slippage: float
    commission: float | None
    min_commission: float | None
    dates: tuple[dt.date, ...]
    start: dt.date
    end: dt.date
    # order_book_id -> date -> (open, high, low, close, volume); missing date = no bar.
    bars: dict[str, dict[dt.date, tuple[float, float, float, float, float]]]
    benchmark: str | None
    actions: dict[int, list[tuple[str, str, str, float, float]]]

    @property
    def market(self) -> Market:
        return Market.CN if self.profile_name == "cn_stock" else Market.US

    @property
    def universe(self) -> tuple[str, ...]:
        return tuple(oid for oid in self.bars if oid != self.benchmark)

    def source(self) -> MemoryBarSource:
        data = {}
        for oid, rows in self.bars.items():
            kind = InstrumentType.INDEX if oid == self.benchmark else InstrumentType.STOCK
            days = sorted(rows)
            o, h, lo, c, v = (list(col) for col in zip(*(rows[d] for d in days), strict=True))
            data[oid] = (
                stock(oid, self.market, kind=kind),
                series(oid, days, c, open_=o, high=h, low=lo, volume=v),
            )
        return MemoryBarSource(self.dates, data)

    def config(self) -> EngineConfig:
        profile = market_profile(self.profile_name).with_costs(
            slippage=self.slippage, commission=self.commission, min_commission=self.min_commission
        )
        return EngineConfig(
            start=self.start,
            end=self.end,
            cash=self.cash,
            universe=self.universe,
            benchmark=self.benchmark,
            profile=profile,
            matching=self.matching,
        )

    def strategy(self) -> str:
        return STRATEGY_TEMPLATE.format(actions=self.actions)

    def run(self) -> EngineResult:
        return Engine(self.source(), self.config()).run(self.strategy())


def _price_path(rng: np.random.Generator, n: int, first: float, vol: float, cn: bool) -> np.ndarray:
    """Closes of a random walk, with some exact ±10% days (cn price limits) and a floor."""
    moves = np.clip(rng.normal(0.0, vol, n), -0.2, 0.2)
    limit_days = rng.random(n) < 0.08
    moves[limit_days] = rng.choice([-0.1, 0.1], size=int(limit_days.sum()))
    closes = np.empty(n)
    price = first
    for i, m in enumerate(moves):
        price = max(price * (1 + m), 1.0)
        if cn:
            price = round(price, 2)
        closes[i] = price
    return closes


def _bars(
    rng: np.random.Generator,
    dates: list[dt.date],
    first: float,
    vol: float,
    volume: float,
    cn: bool,
) -> dict[dt.date, tuple[float, float, float, float, float]]:
    n = len(dates)
    close = _price_path(rng, n, first, vol, cn)
    prev = np.concatenate(([first], close[:-1]))
    open_ = np.maximum(prev * (1 + rng.normal(0.0, vol / 2, n)), 0.5)
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, vol / 2, n)))
    low = np.minimum(open_, close) * (1 - np.minimum(np.abs(rng.normal(0.0, vol / 2, n)), 0.5))
    open_, high, low = np.round(open_, 2), np.ceil(high * 100) / 100, np.floor(low * 100) / 100
    high = np.maximum(high, np.maximum(open_, close))
    low = np.maximum(np.minimum(low, np.minimum(open_, close)), 0.01)
    vols = np.round(rng.lognormal(np.log(volume), 1.0, n))
    vols[rng.random(n) < 0.05] = 0.0
    rows = {}
    for i, day in enumerate(dates):
        o, h, lo, c, v = float(open_[i]), float(high[i]), float(low[i]), float(close[i]), vols[i]
        assert 0 < lo <= min(o, c) <= max(o, c) <= h
        rows[day] = (o, h, lo, c, float(v))
    return rows


action = st.tuples(
    st.sampled_from(PHASES),
    st.sampled_from(KINDS),
    st.integers(0, 2),
    st.floats(-1, 1, allow_nan=False),
    st.floats(-1, 1, allow_nan=False),
)


@st.composite
def scenarios(
    draw: st.DrawFn, profile: str | None = None, slippage: st.SearchStrategy[float] | None = None
) -> Scenario:
    profile_name = profile or draw(st.sampled_from(["us_stock", "cn_stock"]))
    cn = profile_name == "cn_stock"
    n = draw(st.integers(20, 80))
    first_day = draw(st.sampled_from([dt.date(2021, 3, 1), dt.date(2023, 8, 14)]))
    dates = weekdays(first_day, n)
    warmup = draw(st.integers(0, 3))
    tail = draw(st.integers(0, 2))
    start, end = dates[warmup], dates[n - 1 - tail]
    run_days = n - warmup - tail
    k = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bars = {}
    for i in range(k):
        rows = _bars(
            rng,
            dates,
            first=draw(st.floats(2.0, 200.0)),
            vol=draw(st.sampled_from([0.005, 0.02, 0.05])),
            volume=draw(st.sampled_from([60.0, 400.0, 3_000.0, 1e5, 1e8])),
            cn=cn,
        )
        suspended = draw(st.sets(st.sampled_from(dates), max_size=n // 5))
        bars[f"S{i}"] = {d: row for d, row in rows.items() if d not in suspended}
    benchmark = None
    if draw(st.booleans()):
        benchmark = "IDX"
        bars[benchmark] = _bars(rng, dates, 3000.0, 0.01, 1e9, cn=False)
    oids = [f"S{i}" for i in range(k)]
    actions: dict[int, list[tuple[str, str, str, float, float]]] = defaultdict(list)
    for day, (phase, kind, inst, x, y) in draw(
        st.lists(st.tuples(st.integers(0, run_days - 1), action), min_size=5, max_size=150)
    ):
        actions[day].append((phase, kind, oids[inst % k], x, y))
    # Plus, sometimes, a dense seeded action stream: many more fills than a drawn list has.
    if draw(st.booleans()):
        rand = random.Random(draw(st.integers(0, 2**32 - 1)))
        for day in range(run_days):
            for _ in range(rand.choice((0, 0, 1, 1, 2, 3))):
                phase, kind = rand.choice(PHASES), rand.choice(KINDS)
                x, y = rand.uniform(-1, 1), rand.uniform(-1, 1)
                actions[day].append((phase, kind, rand.choice(oids), x, y))
    commission = min_commission = None
    if not cn and draw(st.booleans()):
        commission, min_commission = 0.001, 1.0
    return Scenario(
        profile_name=profile_name,
        matching=draw(st.sampled_from(list(Matching))),
        cash=draw(st.sampled_from([2e4, 1e5, 1e6])),
        slippage=draw(
            slippage if slippage is not None else st.sampled_from([0.0, 0.0, 0.001, 0.01, 0.1])
        ),
        commission=commission,
        min_commission=min_commission,
        dates=tuple(dates),
        start=start,
        end=end,
        bars=bars,
        benchmark=benchmark,
        actions=dict(actions),
    )


def _close(value: float, expected: float, scale: float) -> bool:
    return math.isclose(value, expected, rel_tol=REL, abs_tol=REL * scale)


def _rows_by_day(result: EngineResult) -> dict[dt.date, list[dict[str, Any]]]:
    pos = result.positions
    by_day: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
    for i, day in enumerate(pos["date"]):
        by_day[day].append({k: col[i] for k, col in pos.items()})
    return by_day


def _held_at_close(result: EngineResult) -> dict[tuple[dt.date, str], int]:
    pos = result.positions
    return {
        (d, oid): q
        for d, oid, q in zip(pos["date"], pos["order_book_id"], pos["quantity"], strict=True)
    }


# -- accounting ------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios())
def test_total_value_is_cash_plus_positions_marked_at_the_close(sc: Scenario) -> None:
    result = sc.run()
    pf = result.portfolio
    rows = _rows_by_day(result)
    assert pf["date"] == [d for d in sc.dates if sc.start <= d <= sc.end]
    for i, day in enumerate(pf["date"]):
        cash, mv, total = pf["cash"][i], pf["market_value"][i], pf["total_value"][i]
        assert _close(total, cash + mv, sc.cash), (day, total, cash, mv)
        assert _close(mv, sum(r["market_value"] for r in rows[day]), sc.cash), day
        assert _close(pf["nav"][i], total / sc.cash, 1.0)
        for r in rows[day]:
            # Marked at the latest close known at the end of that day (suspended: last one).
            bars = sc.bars[r["order_book_id"]]
            last = max(d for d in bars if d <= day)
            assert r["last_price"] == bars[last][3], (day, r)
            assert _close(r["market_value"], r["quantity"] * r["last_price"], sc.cash)


@PROPERTY_SETTINGS
@given(scenarios())
def test_positions_and_cash_never_go_negative(sc: Scenario) -> None:
    result = sc.run()
    assert all(c >= -1e-9 for c in result.portfolio["cash"])
    pos = result.positions
    for q, s in zip(pos["quantity"], pos["sellable"], strict=True):
        assert q > 0  # emptied positions are dropped, never kept at 0 or below
        assert 0 <= s <= q


@PROPERTY_SETTINGS
@given(scenarios())
def test_costs_follow_the_profile_and_cash_is_conserved(sc: Scenario) -> None:
    result = sc.run()
    profile = sc.config().profile
    expected = sc.cash
    for f in result.fills:
        value = f.quantity * f.price
        fee = max(value * profile.commission, profile.min_commission)
        assert math.isclose(f.commission, fee, rel_tol=1e-12), f
        if f.side is Side.SELL:
            # cn stamp duty follows the dated schedule (halved from 2023-08-28).
            rate = profile.tax_rate(f.datetime.date())
            if sc.market is Market.CN:
                assert rate == (0.001 if f.datetime.date() < dt.date(2023, 8, 28) else 0.0005)
            assert math.isclose(f.tax, value * rate, rel_tol=1e-12), f
        if f.side is Side.BUY:
            expected -= value + f.commission
            assert f.tax == 0.0
        else:
            expected += value - f.commission - f.tax
    assert _close(result.portfolio["cash"][-1], expected, sc.cash)


# -- matching --------------------------------------------------------------------------------


def _check_fills_within_bar_and_volume_cap(sc: Scenario, result: EngineResult) -> None:
    traded: dict[tuple[dt.date, str], int] = defaultdict(int)
    for f in result.fills:
        day = f.datetime.date()
        assert f.quantity > 0
        assert day in sc.bars[f.order_book_id], f"fill on a day without a bar: {f}"
        _, high, low, _, _ = sc.bars[f.order_book_id][day]
        earlier = [d for d in sc.bars[f.order_book_id] if d < day]
        if sc.market is Market.CN and earlier and ("clamp" in f.reason or "slip" in f.reason):
            # Slippage stops at the session's price limits, not at the bar (RQAlpha's rule).
            down, up = limit_prices(sc.bars[f.order_book_id][max(earlier)][3], 0.10)
            assert down - 1e-9 <= f.price <= up + 1e-9, (f, down, up)
        else:
            assert low <= f.price <= high, (f, low, high)
        traded[day, f.order_book_id] += f.quantity
    for (day, oid), qty in traded.items():
        assert qty <= 0.25 * sc.bars[oid][day][4], (day, oid, qty)


@PROPERTY_SETTINGS
@given(scenarios())
def test_fills_lie_within_the_bar_and_under_the_volume_cap(sc: Scenario) -> None:
    _check_fills_within_bar_and_volume_cap(sc, sc.run())


@PROPERTY_SETTINGS
@given(scenarios(slippage=st.sampled_from([0.005, 0.05, 0.5])))
def test_slipped_fills_stop_at_the_bar_or_the_price_limits(sc: Scenario) -> None:
    result = sc.run()
    _check_fills_within_bar_and_volume_cap(sc, result)
    limits = {o.order_id: o.limit_price for o in result.orders}
    for f in result.fills:
        # Market orders slip (limit orders never do: they fill at their price or better).
        assert ("slippage" in f.reason) == (limits[f.order_id] is None), f


@PROPERTY_SETTINGS
@given(scenarios(profile="cn_stock"))
def test_cn_stock_lots_and_t_plus_1(sc: Scenario) -> None:
    result = sc.run()
    held = _held_at_close(result)
    sessions = result.portfolio["date"]
    prev_session = dict(zip(sessions[1:], sessions[:-1], strict=True))
    sold: dict[tuple[dt.date, str], int] = defaultdict(int)
    for f in result.fills:
        # Buys are whole lots; so every holding is too, and so is every sell.
        assert f.quantity % 100 == 0, f
        day = f.datetime.date()
        if f.side is Side.SELL:
            sold[day, f.order_book_id] += f.quantity
    for (day, oid), qty in sold.items():
        # T+1: only shares held at the previous close can be sold (shares bought today
        # cannot). Selling on a day that also has a buy is legal when old shares are sold.
        before = held.get((prev_session[day], oid), 0) if day in prev_session else 0
        assert qty <= before, (day, oid, qty, before)


@PROPERTY_SETTINGS
@given(scenarios())
def test_runs_are_deterministic(sc: Scenario) -> None:
    first, second = sc.run(), sc.run()
    assert repr(first.portfolio) == repr(second.portfolio)
    assert repr(first.positions) == repr(second.positions)
    assert [astuple(f) for f in first.fills] == [astuple(f) for f in second.fills]

    def orders(result: EngineResult) -> list[tuple[object, ...]]:
        return [tuple(getattr(o, s) for s in type(o).__slots__) for o in result.orders]

    assert orders(first) == orders(second)
    assert first.logs == second.logs
