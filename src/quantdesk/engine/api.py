"""The RQAlpha-compatible functions injected into a strategy's namespace.

Sizing rules (re-implemented from RQAlpha's documented behaviour):

* ``order_value`` / ``order_percent`` buys spend at most ``min(amount, cash)``, in whole
  lots, leaving room for the estimated commission; sells round the share count down.
* ``order_target_value`` / ``order_target_percent`` trade the difference between the target
  and the position's market value; a target of 0 sells the whole position (odd lots too).
* Prices used for sizing are the latest close (``bar.close`` in ``handle_bar``).
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from quantdesk.core.errors import InvalidArgument
from quantdesk.core.instruments import Instrument
from quantdesk.engine.api_data import DataFunctions, InstrumentView
from quantdesk.engine.api_index import IndexFunctions
from quantdesk.engine.api_orders import LimitOrder, MarketOrder, OrderFunctions, limit_price_of
from quantdesk.engine.config import PRE_OPEN_PHASES
from quantdesk.engine.costs import commission
from quantdesk.engine.events import EVENT
from quantdesk.engine.indicators import indicator_function
from quantdesk.engine.portfolio import AccountType, Position
from quantdesk.engine.records import (
    Order,
    OrderStatus,
    OrderType,
    PositionDirection,
    PositionEffect,
    RejectReason,
    Side,
)
from quantdesk.engine.rules import order_quantities
from quantdesk.engine.run_info import MatchingType, RunType
from quantdesk.engine.scheduler import market_close, market_open, physical_time
from quantdesk.engine.session import StrategySession
from quantdesk.engine.user_output import StrategyLogger


def _stock_account(account_type: Any) -> None:
    if str(getattr(account_type, "value", account_type)).upper() != AccountType.STOCK:
        raise InvalidArgument(f"only the STOCK account exists, got {account_type!r}")


#: The functions of ``StrategyAPI`` (and its mixins) injected by name.
FUNCTIONS = (
    "order_shares", "order_lots", "order_value", "order_percent", "order_target_value",
    "order_target_percent", "order", "order_to", "submit_order", "order_target_portfolio",
    "cancel_order", "get_open_orders", "history_bars", "update_universe", "subscribe",
    "unsubscribe", "plot", "instruments", "all_instruments", "is_suspended", "is_st_stock",
    "get_position", "get_positions", "get_trading_dates", "get_previous_trading_date",
    "get_next_trading_date", "get_price", "current_snapshot", "subscribe_event", "deposit",
    "withdraw", "symbol", "index_components", "index_weights",
)  # fmt: skip


class StrategyAPI(OrderFunctions, DataFunctions, IndexFunctions):
    """Binds the strategy-facing functions to one engine run."""

    def __init__(self, engine: StrategySession) -> None:
        self._engine = engine
        self.logger = StrategyLogger(engine)
        self.g = SimpleNamespace()

    def namespace(self) -> dict[str, Any]:
        """The names injected into the strategy module (and ``rqalpha.api``)."""
        ns: dict[str, Any] = {name: getattr(self, name) for name in FUNCTIONS}
        ns.update(logger=self.logger, user_log=self.logger, g=self.g, Order=Order)
        ns.update(ORDER_STATUS=OrderStatus, SIDE=Side, REJECT_REASON=RejectReason)
        ns.update(ORDER_TYPE=OrderType, POSITION_EFFECT=PositionEffect)
        ns.update(POSITION_DIRECTION=PositionDirection, DEFAULT_ACCOUNT_TYPE=AccountType)
        ns.update(EVENT=EVENT, LimitOrder=LimitOrder, MarketOrder=MarketOrder)
        ns.update(RUN_TYPE=RunType, MATCHING_TYPE=MatchingType)
        ns.update(scheduler=self._engine.scheduler, market_open=market_open)
        ns.update(market_close=market_close, physical_time=physical_time)
        ns["indicator"] = indicator_function(self._engine)
        return ns

    # -- orders --------------------------------------------------------------------------------

    def order_shares(
        self,
        id_or_ins: str | Instrument,
        amount: float,
        price_or_style: Any = None,
        price: Any = None,
        style: Any = None,
    ) -> Order | None:
        """Buy (``amount > 0``) or sell ``amount`` shares; buys round down to whole lots."""
        qty = self._int_amount(amount)
        limit = limit_price_of(price_or_style, price, style, buy=qty > 0)
        oid = self._oid(id_or_ins)
        if qty == 0:
            return None
        return self._engine.broker.submit(oid, qty, limit)

    def order_lots(
        self,
        id_or_ins: str | Instrument,
        amount: float,
        price_or_style: Any = None,
        price: Any = None,
        style: Any = None,
    ) -> Order | None:
        """Buy or sell ``amount`` lots (``lots * lot_size`` shares)."""
        oid = self._oid(id_or_ins)
        lots = self._int_amount(amount)
        limit = limit_price_of(price_or_style, price, style, buy=lots > 0)
        lot = InstrumentView(self._engine.feed(oid).instrument, self._engine).round_lot
        return self.order_shares(oid, lots * lot, limit)

    def order_value(
        self,
        id_or_ins: str | Instrument,
        cash_amount: float,
        price_or_style: Any = None,
        price: Any = None,
        style: Any = None,
    ) -> Order | None:
        """Buy (``> 0``) or sell (``< 0``) about ``cash_amount`` worth of the instrument."""
        value = self._finite(cash_amount, "cash_amount")
        limit = limit_price_of(price_or_style, price, style, buy=value > 0)
        oid = self._oid(id_or_ins)
        return self._order_value(oid, value, limit, False)

    def order_percent(
        self,
        id_or_ins: str | Instrument,
        percent: float,
        price_or_style: Any = None,
        price: Any = None,
        style: Any = None,
    ) -> Order | None:
        """``order_value`` of ``percent`` (a fraction in [-1, 1]) of the total value."""
        pct = self._finite(percent, "percent")
        limit = limit_price_of(price_or_style, price, style, buy=pct > 0)
        oid = self._oid(id_or_ins)
        if not -1 <= pct <= 1:
            raise InvalidArgument(f"percent must be in [-1, 1], got {percent}")
        value = pct * self._engine.portfolio.total_value
        return self._order_value(oid, value, limit, False)

    def order_target_value(
        self,
        id_or_ins: str | Instrument,
        cash_amount: float,
        price_or_style: Any = None,
        price: Any = None,
        style: Any = None,
    ) -> Order | None:
        """Trade so that the position is worth about ``cash_amount`` (>= 0)."""
        oid = self._oid(id_or_ins)
        target = self._finite(cash_amount, "cash_amount")
        if target < 0:
            raise InvalidArgument(f"target value must be >= 0 (no shorting), got {target}")
        buy = target > self._engine.portfolio.positions[oid].market_value
        limit = limit_price_of(price_or_style, price, style, buy=buy)
        return self._order_target(oid, target, limit)

    def order_target_percent(
        self,
        id_or_ins: str | Instrument,
        percent: float,
        price_or_style: Any = None,
        price: Any = None,
        style: Any = None,
    ) -> Order | None:
        """Trade so that the position is ``percent`` (a fraction in [0, 1]) of total value."""
        oid = self._oid(id_or_ins)
        pct = self._finite(percent, "percent")
        if not 0 <= pct <= 1:
            raise InvalidArgument(f"target percent must be in [0, 1], got {percent}")
        target = pct * self._engine.portfolio.total_value
        buy = target > self._engine.portfolio.positions[oid].market_value
        limit = limit_price_of(price_or_style, price, style, buy=buy)
        return self._order_target(oid, target, limit)

    def cancel_order(self, order: Order) -> Order:
        """Cancel an open order; returns it."""
        if not isinstance(order, Order):
            raise InvalidArgument(f"cancel_order expects an Order, got {type(order).__name__}")
        self._engine.broker.cancel(order)
        return order

    def get_open_orders(self, order_book_id: str | None = None) -> list[Order]:
        """Orders not yet filled, cancelled or rejected."""
        return self._engine.broker.open_orders(order_book_id)

    # -- data ----------------------------------------------------------------------------------

    def history_bars(
        self,
        order_book_id: str | Instrument,
        bar_count: int,
        frequency: str,
        fields: str | list[str] | None = None,
        skip_suspended: bool = True,  # noqa: ARG002 (RQAlpha's signature; daily bars only)
        include_now: bool = False,  # noqa: ARG002 (idem)
        adjust_type: str = "pre",  # noqa: ARG002 (idem: the run's adjustment applies)
        **_: Any,
    ) -> npt.NDArray[Any]:
        """The last ``bar_count`` daily (``1d``) or weekly (``1w``) bars up to now.

        Today's bar is included from ``handle_bar`` on; weekly bars are calendar weeks, the
        current one as far as it is known (``Feed.weekly``).

        Returns:
            A read-only float array for one field, or a structured array (fields ``datetime``
            as YYYYMMDDHHMMSS int, ``open``, ``high``, ``low``, ``close``, ``volume``) for a
            list of fields or ``None``. Also ``total_turnover``, ``limit_up``, ``limit_down``
            and ``prev_close``. Fewer rows when there is less history.

        Raises:
            InvalidArgument: frequency other than ``1d``/``1w``, bad count, unknown field or id.
        """
        if frequency not in ("1d", "1w"):
            raise InvalidArgument(
                f"history_bars supports frequencies '1d' and '1w', got {frequency!r}"
            )
        if type(bar_count) is not int and not isinstance(bar_count, np.integer):
            raise InvalidArgument(f"bar_count must be a positive int, got {bar_count!r}")
        if bar_count < 1:
            raise InvalidArgument(f"bar_count must be a positive int, got {bar_count!r}")
        engine = self._engine
        # Fast path: this is the hottest call of most strategies.
        feed = engine.loaded_feed(order_book_id) if type(order_book_id) is str else None
        if feed is None:
            feed = engine.feed(self._oid(order_book_id))
        t = engine.t
        end = feed.known[t]
        if engine.phase in PRE_OPEN_PHASES and feed.has_bar[t]:
            end -= 1
        if fields is None:
            fields = ["datetime", "open", "high", "low", "close", "volume"]
        if frequency == "1w":
            return feed.weekly(end, int(bar_count), fields)
        return feed.history(end, int(bar_count), fields)

    def update_universe(self, id_or_symbols: Any) -> None:
        """Replace the universe (the keys of ``bar_dict``); ids or instrument objects."""
        ids = [self._oid(i) for i in self._many(id_or_symbols)]
        self._engine.universe = list(dict.fromkeys(ids))

    def subscribe(self, id_or_symbols: Any) -> None:
        """Add instruments to the universe."""
        ids = [self._oid(i) for i in self._many(id_or_symbols)]
        self.update_universe(self._engine.universe + ids)

    def unsubscribe(self, id_or_symbols: Any) -> None:
        """Remove instruments from the universe."""
        drop = {self._oid(i) for i in self._many(id_or_symbols)}
        self._engine.universe = [u for u in self._engine.universe if u not in drop]

    @staticmethod
    def _many(id_or_symbols: Any) -> list[Any]:
        if isinstance(id_or_symbols, str | Instrument | InstrumentView):
            return [id_or_symbols]
        return list(id_or_symbols)

    def get_position(
        self, order_book_id: str | Instrument, direction: Any = PositionDirection.LONG
    ) -> Position:
        """The position in ``order_book_id`` (empty when not held, and SHORT: no shorts)."""
        oid = self._oid(order_book_id)
        if str(getattr(direction, "value", direction)).upper() != PositionDirection.LONG:
            return Position(oid, self._engine.config.profile.t_plus)  # never short: empty
        return self._engine.portfolio.positions[oid]

    def get_positions(self) -> list[Position]:
        """Every held position."""
        return [p for p in self._engine.portfolio.positions.values() if p.quantity]

    def deposit(self, account_type: Any, amount: float, receiving_days: int = 0) -> None:
        """Add ``amount`` cash to the stock account now (NAV per unit unchanged).

        Raises:
            InvalidArgument: another account type, a non-positive amount, or
                ``receiving_days`` other than 0 (cash arrives at once).
        """
        _stock_account(account_type)
        if receiving_days:
            raise InvalidArgument("deposit: receiving_days is not supported (cash arrives at once)")
        self._engine.portfolio.deposit(self._finite(amount, "amount"))

    def withdraw(self, account_type: Any, amount: float) -> None:
        """Take ``amount`` cash out of the stock account (NAV per unit unchanged).

        Raises:
            InvalidArgument: another account type, a non-positive amount, more than the cash.
        """
        _stock_account(account_type)
        self._engine.portfolio.withdraw(self._finite(amount, "amount"))

    def subscribe_event(self, event_type: EVENT, handler: Any) -> None:
        """Call ``handler(context, event)`` on each ``event_type`` (see ``engine.events``)."""
        self._engine.events.subscribe(event_type, handler)

    def symbol(self, order_book_id: str | list[str], sep: str = ", ") -> str:
        """``"id[symbol]"``, joined by ``sep`` for a list."""
        if isinstance(order_book_id, str):
            return f"{order_book_id}[{self._engine.reference(order_book_id).symbol}]"
        return sep.join(self.symbol(oid) for oid in order_book_id)

    def plot(self, series_name: str, value: float) -> None:
        """Record ``value`` for ``series_name`` on the current date (shown in the result)."""
        self._engine.record_plot(str(series_name), float(value))

    # -- sizing helpers ------------------------------------------------------------------------

    def _order_value(
        self, oid: str, cash_amount: float, limit: float | None, close_out: bool
    ) -> Order | None:
        engine = self._engine
        price = limit if limit is not None else engine.last_price(oid)
        side = Side.BUY if cash_amount > 0 else Side.SELL
        if price is None or not price > 0:
            return engine.broker.refuse(
                oid, side, 0, RejectReason.SUSPENDED, f"{oid} has no price yet"
            )
        if cash_amount > 0:
            profile = engine.config.profile
            minimum, lot = order_quantities(engine.feed(oid).instrument, profile.use_lots)
            budget = min(cash_amount, engine.portfolio.cash)
            qty = int(budget / price) // lot * lot
            while qty >= minimum:
                fee = commission(qty * price, profile.commission, profile.min_commission)
                if qty * price + fee <= budget:
                    break
                qty -= lot
            if qty < minimum:
                if cash_amount < price * minimum:
                    reason, why = RejectReason.LOT, f"{cash_amount:.2f} buys less than one lot"
                else:
                    reason, why = RejectReason.CASH, f"{engine.portfolio.cash:.2f} cash left"
                return engine.broker.refuse(oid, side, 0, reason, why)
            return engine.broker.submit(oid, qty, limit)
        pos = engine.portfolio.positions.get(oid)
        held = pos.quantity if pos else 0
        qty = held if close_out else min(int(-cash_amount / price), held)
        if qty == 0:
            return None
        return engine.broker.submit(oid, -qty, limit)

    def _order_target(self, oid: str, target: float, limit: float | None) -> Order | None:
        engine = self._engine
        pos = engine.portfolio.positions.get(oid)
        current = pos.market_value if pos else 0.0
        if target == 0:
            return self._order_value(oid, -current, limit, True) if pos else None
        return self._order_value(oid, target - current, limit, False)

    def _oid(self, id_or_ins: Any) -> str:
        if isinstance(id_or_ins, Instrument | InstrumentView):
            return id_or_ins.order_book_id
        if not isinstance(id_or_ins, str):
            raise InvalidArgument(f"expected an order_book_id string, got {id_or_ins!r}")
        self._engine.feed(id_or_ins)
        return id_or_ins

    @staticmethod
    def _int_amount(amount: float) -> int:
        if isinstance(amount, bool) or not isinstance(amount, int | float | np.number):
            raise InvalidArgument(f"amount must be a number, got {amount!r}")
        if not math.isfinite(amount):
            raise InvalidArgument(f"amount must be finite, got {amount}")
        return int(amount)

    @staticmethod
    def _finite(value: float, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise InvalidArgument(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidArgument(f"{name} must be finite, got {value}")
        return float(value)
