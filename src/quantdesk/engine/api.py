"""The RQAlpha-compatible functions injected into a strategy's namespace.

Sizing rules (re-implemented from RQAlpha's documented behaviour):

* ``order_value`` / ``order_percent`` buys spend at most ``min(amount, cash)``, in whole
  lots, leaving room for the estimated commission; sells round the share count down.
* ``order_target_value`` / ``order_target_percent`` trade the difference between the target
  and the position's market value; a target of 0 sells the whole position (odd lots too).
* Prices used for sizing are the latest close (``bar.close`` in ``handle_bar``).
"""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from quantdesk.core.errors import InvalidArgument
from quantdesk.core.instruments import Instrument
from quantdesk.engine.broker import Broker, BrokerSession
from quantdesk.engine.config import PRE_OPEN_PHASES
from quantdesk.engine.costs import commission
from quantdesk.engine.indicators import IndicatorSession, indicator_function
from quantdesk.engine.records import Order, OrderStatus, RejectReason, Side
from quantdesk.engine.rules import order_quantities

if TYPE_CHECKING:
    from quantdesk.engine.feeds import Feed


class StrategySession(BrokerSession, IndicatorSession, Protocol):
    """What the strategy-facing functions read of the running engine.

    The broker's and the indicators' state, plus the broker itself, last prices and the plot
    recorder.
    """

    broker: Broker

    def loaded_feed(self, order_book_id: str) -> Feed | None:
        """The feed of ``order_book_id`` if already loaded (no I/O, no checks), else None."""
        ...

    def last_price(self, order_book_id: str) -> float | None:
        """The latest close known now (today's close from ``handle_bar`` on)."""
        ...

    def log(self, level: str, message: str) -> None:
        """Append a strategy log line stamped with the current bar date."""
        ...

    def record_plot(self, name: str, value: float) -> None:
        """Store a ``plot()`` point of series ``name`` for today."""
        ...


class StrategyLogger:
    """``logger`` in the strategy: lines are stamped with the bar date and kept in the result."""

    def __init__(self, engine: StrategySession) -> None:
        self._engine = engine

    def debug(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``DEBUG`` (``msg`` and ``args`` joined by spaces if that fails)."""
        self._engine.log("DEBUG", _fmt(msg, args))

    def info(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``INFO`` (``msg`` and ``args`` joined by spaces if that fails)."""
        self._engine.log("INFO", _fmt(msg, args))

    def warning(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``WARNING`` (``msg`` and ``args`` joined by spaces if that fails).

        Also available as ``warn``.
        """
        self._engine.log("WARNING", _fmt(msg, args))

    warn = warning

    def error(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``ERROR`` (``msg`` and ``args`` joined by spaces if that fails)."""
        self._engine.log("ERROR", _fmt(msg, args))

    def exception(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``ERROR``, as ``error`` (no traceback is added)."""
        self._engine.log("ERROR", _fmt(msg, args))

    def log(self, level: int, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``level``, a ``logging`` level number (e.g. ``logging.INFO``)."""
        self._engine.log(logging.getLevelName(level), _fmt(msg, args))


def _fmt(msg: object, args: tuple[object, ...]) -> str:
    text = str(msg)
    if args:
        try:
            text = text % args
        except (TypeError, ValueError):
            text = " ".join([text, *map(str, args)])
    return text


class StrategyAPI:
    """Binds the strategy-facing functions to one engine run."""

    def __init__(self, engine: StrategySession) -> None:
        self._engine = engine
        self.logger = StrategyLogger(engine)
        self.g = SimpleNamespace()

    def namespace(self) -> dict[str, Any]:
        """The names injected into the strategy module (and ``rqalpha.api``)."""
        names = (
            "order_shares", "order_lots", "order_value", "order_percent",
            "order_target_value", "order_target_percent", "cancel_order", "get_open_orders",
            "history_bars", "update_universe", "subscribe", "unsubscribe", "plot",
            "instruments", "is_suspended", "get_position",
        )  # fmt: skip
        ns: dict[str, Any] = {name: getattr(self, name) for name in names}
        ns.update(logger=self.logger, g=self.g, Order=Order, ORDER_STATUS=OrderStatus)
        ns.update(SIDE=Side, REJECT_REASON=RejectReason)
        ns["indicator"] = indicator_function(self._engine)
        return ns

    # -- orders --------------------------------------------------------------------------------

    def order_shares(
        self, id_or_ins: str | Instrument, amount: float, price: float | None = None, **_: Any
    ) -> Order | None:
        """Buy (``amount > 0``) or sell ``amount`` shares; buys round down to whole lots."""
        oid = self._oid(id_or_ins)
        qty = self._int_amount(amount)
        if qty == 0:
            return None
        return self._engine.broker.submit(oid, qty, price)

    def order_lots(
        self, id_or_ins: str | Instrument, amount: float, price: float | None = None, **_: Any
    ) -> Order | None:
        """Buy or sell ``amount`` lots (``lots * lot_size`` shares)."""
        oid = self._oid(id_or_ins)
        lot = self._engine.feed(oid).instrument.lot_size
        return self.order_shares(oid, self._int_amount(amount) * lot, price)

    def order_value(
        self, id_or_ins: str | Instrument, cash_amount: float, price: float | None = None, **_: Any
    ) -> Order | None:
        """Buy (``> 0``) or sell (``< 0``) about ``cash_amount`` worth of the instrument."""
        oid = self._oid(id_or_ins)
        return self._order_value(oid, self._finite(cash_amount, "cash_amount"), price, False)

    def order_percent(
        self, id_or_ins: str | Instrument, percent: float, price: float | None = None, **_: Any
    ) -> Order | None:
        """``order_value`` of ``percent`` (a fraction in [-1, 1]) of the total value."""
        oid = self._oid(id_or_ins)
        pct = self._finite(percent, "percent")
        if not -1 <= pct <= 1:
            raise InvalidArgument(f"percent must be in [-1, 1], got {percent}")
        value = pct * self._engine.portfolio.total_value
        return self._order_value(oid, value, price, False)

    def order_target_value(
        self, id_or_ins: str | Instrument, cash_amount: float, price: float | None = None, **_: Any
    ) -> Order | None:
        """Trade so that the position is worth about ``cash_amount`` (>= 0)."""
        oid = self._oid(id_or_ins)
        target = self._finite(cash_amount, "cash_amount")
        if target < 0:
            raise InvalidArgument(f"target value must be >= 0 (no shorting), got {target}")
        return self._order_target(oid, target, price)

    def order_target_percent(
        self, id_or_ins: str | Instrument, percent: float, price: float | None = None, **_: Any
    ) -> Order | None:
        """Trade so that the position is ``percent`` (a fraction in [0, 1]) of total value."""
        oid = self._oid(id_or_ins)
        pct = self._finite(percent, "percent")
        if not 0 <= pct <= 1:
            raise InvalidArgument(f"target percent must be in [0, 1], got {percent}")
        return self._order_target(oid, pct * self._engine.portfolio.total_value, price)

    def cancel_order(self, order: Order) -> None:
        """Cancel an open order."""
        if not isinstance(order, Order):
            raise InvalidArgument(f"cancel_order expects an Order, got {type(order).__name__}")
        self._engine.broker.cancel(order)

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
        """The last ``bar_count`` daily bars up to now (today's bar included in handle_bar).

        Returns:
            A read-only float array for one field, or a structured array (fields ``datetime``
            as YYYYMMDDHHMMSS int, ``open``, ``high``, ``low``, ``close``, ``volume``) for a
            list of fields or ``None``. Fewer rows when there is less history.

        Raises:
            InvalidArgument: frequency other than ``1d``, bad count, unknown field or id.
        """
        if frequency != "1d":
            raise InvalidArgument(f"history_bars supports frequency '1d' only, got {frequency!r}")
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
        return feed.history(end, int(bar_count), fields)

    def update_universe(self, id_or_symbols: str | list[str]) -> None:
        """Replace the universe (the keys of ``bar_dict``)."""
        ids = [id_or_symbols] if isinstance(id_or_symbols, str) else list(id_or_symbols)
        for oid in ids:
            self._engine.feed(oid)
        self._engine.universe = list(dict.fromkeys(ids))

    def subscribe(self, id_or_symbols: str | list[str]) -> None:
        """Add instruments to the universe."""
        ids = [id_or_symbols] if isinstance(id_or_symbols, str) else list(id_or_symbols)
        self.update_universe(self._engine.universe + ids)

    def unsubscribe(self, id_or_symbols: str | list[str]) -> None:
        """Remove instruments from the universe."""
        drop = {id_or_symbols} if isinstance(id_or_symbols, str) else set(id_or_symbols)
        self._engine.universe = [u for u in self._engine.universe if u not in drop]

    def instruments(self, order_book_id: str) -> Instrument:
        """Reference data of an instrument."""
        return self._engine.feed(order_book_id).instrument

    def is_suspended(self, order_book_id: str) -> bool:
        """True when the instrument has no bar in the current session."""
        return not self._engine.feed(order_book_id).has_bar[self._engine.t]

    def get_position(self, order_book_id: str) -> Any:
        """The position in ``order_book_id`` (empty when not held)."""
        return self._engine.portfolio.positions[self._oid(order_book_id)]

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

    def _oid(self, id_or_ins: str | Instrument) -> str:
        if isinstance(id_or_ins, Instrument):
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
