"""RQAlpha's generic order functions and order styles, over the broker.

``order`` / ``order_to`` / ``submit_order`` / ``order_target_portfolio`` and the
``LimitOrder`` / ``MarketOrder`` styles, re-implemented from RQAlpha 6.4's documented
behaviour:

* Every order function takes ``price_or_style`` (a limit price, a ``LimitOrder(price)`` or a
  ``MarketOrder()``) as its third argument, or ``price=`` / ``style=``.
* ``order_target_portfolio({id: weight})`` closes every held position missing from the
  target, then, at the latest prices (or the given limit prices), computes each target
  quantity ``weight * total_value / price`` rounded half-to-even to whole lots (when the
  weights sum to 1, the estimated costs of all the trades are set aside first); sells go
  first, and buys that would overdraw the cash left after them (sells' proceeds minus
  their estimated costs) are cut to what it buys, in the order given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from quantdesk.core.errors import InvalidArgument
from quantdesk.core.instruments import Instrument, InstrumentType
from quantdesk.engine.costs import commission, sell_tax
from quantdesk.engine.records import Order, Side
from quantdesk.engine.rules import order_quantities

if TYPE_CHECKING:
    from quantdesk.engine.session import StrategySession


class OrderStyle:
    """Base of the order styles (RQAlpha's ``OrderStyle``)."""

    def get_limit_price(self) -> float | None:
        """The limit price, ``None`` for a market order."""
        return None


class MarketOrder(OrderStyle):
    """A market order: it fills at the matching price (close or next open)."""

    def __repr__(self) -> str:
        return "MarketOrder()"


class LimitOrder(OrderStyle):
    """A limit order at ``limit_price`` (fills at that price or better)."""

    def __init__(self, limit_price: float) -> None:
        self.limit_price = float(limit_price)

    def get_limit_price(self) -> float | None:
        """The limit price."""
        return self.limit_price

    def __repr__(self) -> str:
        return f"LimitOrder({self.limit_price})"


def limit_price_of(
    price_or_style: Any = None, price: Any = None, style: Any = None, *, buy: bool = True
) -> float | None:
    """The limit price an order function's price arguments ask for (``None`` = market).

    A ``(open_style, close_style)`` tuple (RQAlpha 6) gives the buy's and the sell's styles.

    Raises:
        InvalidArgument: more than one given, not a number or an order style, or NaN (as in
            RQAlpha; other invalid prices are orders rejected with reason ``price``).
    """
    given = [v for v in (price_or_style, price, style) if v is not None]
    if len(given) > 1:
        raise InvalidArgument("give only one of price_or_style, price and style")
    if not given:
        return None
    value = given[0]
    if isinstance(value, tuple) and len(value) == 2:
        value = value[0] if buy else value[1]
        if value is None:
            return None
    if isinstance(value, OrderStyle):
        limit = value.get_limit_price()
    elif isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InvalidArgument(f"price_or_style must be a price or an order style, got {value!r}")
    else:
        limit = float(value)
    if limit is not None and math.isnan(limit):
        raise InvalidArgument("Limit order price should not be nan.")  # RQAlpha's words
    return limit


class OrderFunctions:
    """``order``, ``order_to``, ``submit_order``, ``order_target_portfolio`` (see the module)."""

    _engine: StrategySession

    if TYPE_CHECKING:  # provided by StrategyAPI, which mixes this class in

        def order_shares(
            self, id_or_ins: str | Instrument, amount: float, *args: Any, **kw: Any
        ) -> Order | None:
            """Buy or sell ``amount`` shares (``StrategyAPI.order_shares``)."""
            ...

        def _oid(self, id_or_ins: Any) -> str: ...

    def order(
        self,
        id_or_ins: str | Instrument,
        quantity: float,
        price_or_style: Any = None,
        price: Any = None,
        style: Any = None,
    ) -> list[Order]:
        """Buy (``> 0``) or sell ``quantity`` shares (``order_shares`` for stocks).

        Returns the placed orders as a list (RQAlpha 6), empty when none was placed.
        """
        placed = self.order_shares(id_or_ins, quantity, price_or_style, price=price, style=style)
        return [] if placed is None else [placed]

    def order_to(
        self,
        id_or_ins: str | Instrument,
        quantity: float,
        price_or_style: Any = None,
        price: Any = None,
        style: Any = None,
    ) -> list[Order]:
        """Trade so that ``quantity`` shares are held; the placed orders as a list."""
        oid = self._oid(id_or_ins)
        pos = self._engine.portfolio.positions.get(oid)
        held = pos.quantity if pos else 0
        return self.order(oid, quantity - held, price_or_style, price=price, style=style)

    def submit_order(
        self,
        id_or_ins: str | Instrument,
        amount: float,
        side: Side | str,
        price: float | None = None,
        position_effect: Any = None,  # noqa: ARG002 (RQAlpha's signature; stocks: side decides)
        style: Any = None,
    ) -> Order | None:
        """Place a raw order of ``amount`` (> 0) shares on ``side`` (``SIDE.BUY``/``SIDE.SELL``).

        ``price`` makes it a limit order.

        Raises:
            InvalidArgument: amount not positive, unknown side.
        """
        try:
            side = Side(str(getattr(side, "value", side)).upper())
        except ValueError:
            raise InvalidArgument(f"side must be SIDE.BUY or SIDE.SELL, got {side!r}") from None
        if isinstance(amount, bool) or not isinstance(amount, int | float | np.number):
            raise InvalidArgument(f"amount must be a number, got {amount!r}")
        if not (math.isfinite(amount) and amount > 0):
            raise InvalidArgument(f"amount must be > 0, got {amount}")
        signed = amount if side is Side.BUY else -amount
        return self.order_shares(id_or_ins, signed, price=price, style=style)

    def order_target_portfolio(
        self,
        target_portfolio: Mapping[str | Instrument, float],
        price_or_styles: Mapping[str, Any] | None = None,
    ) -> list[Order]:
        """Rebalance to ``{order_book_id: weight}`` (weights in [0, 1], summing to <= 1).

        Held instruments missing from the target are sold. Returns the placed orders.

        Raises:
            InvalidArgument: not a mapping, a negative weight, weights above 1 in total, an
                index or unknown instrument as a key.
        """
        if not isinstance(target_portfolio, Mapping):
            raise InvalidArgument("order_target_portfolio expects {order_book_id: weight}")
        engine = self._engine
        styles = dict(price_or_styles or {})
        portfolio = engine.portfolio
        target: dict[str, tuple[float, float, float | None, Instrument]] = {}
        for key, weight in target_portfolio.items():
            oid = self._oid(key)
            instrument = engine.feed(oid).instrument
            if instrument.type is InstrumentType.INDEX:
                raise InvalidArgument(f"order_target_portfolio: {oid} is an index")
            w = _weight(weight, oid)
            last = engine.last_price(oid)
            if last is None or not last > 0:
                engine.log("WARNING", f"Order Creation Failed: [{oid}] No market data")
                continue
            target[oid] = (w, last, limit_price_of(styles.get(oid)), instrument)
        total = sum(w for w, *_ in target.values())
        if total > 1 and not math.isclose(total, 1):
            raise InvalidArgument(f"total percent should be lower than 1, current: {total}")
        held = {oid: pos.quantity for oid, pos in portfolio.positions.items() if pos.quantity}
        orders: list[Order | None] = [self.order_shares(oid, -qty) for oid, qty in held.items()
                                      if oid not in target]  # fmt: skip
        value = portfolio.total_value
        if total == 1:
            value -= sum(
                self._estimated_cost(ins, w * value - held.get(oid, 0) * last, last)
                for oid, (w, last, _, ins) in target.items()
            )
        sells: list[tuple[str, int, float | None, float]] = []
        buys: list[tuple[str, int, float | None, float, Instrument]] = []
        for oid, (w, last, limit, ins) in target.items():
            price = limit if limit is not None else last
            delta = self._round(ins, value * w / price - held.get(oid, 0), half_even=True)
            if delta < 0:
                sells.append((oid, -delta, limit, price))
            elif delta > 0:
                buys.append((oid, delta, limit, last, ins))
        cash = portfolio.cash + sum(  # a sell frees its quantity at its order price
            qty * price - self._estimated_cost(engine.feed(oid).instrument, -qty * price, price)
            for oid, qty, _, price in sells
        )
        for oid, qty, limit, _ in sells:
            orders.append(self.order_shares(oid, -qty, limit))
        for oid, wanted, limit, last, ins in buys:
            qty = wanted
            cost = qty * last + self._estimated_cost(ins, qty * last, last)
            if cost > cash:  # cut to what the cash left buys
                qty = self._round(ins, cash / last, half_even=False)
                if qty == 0:
                    continue
                cost = qty * last + self._estimated_cost(ins, qty * last, last)
            orders.append(self.order_shares(oid, qty, limit))
            cash -= cost
        return [o for o in orders if o is not None]

    def _estimated_cost(self, instrument: Instrument, value: float, price: float) -> float:
        """Commission (and stamp duty on a sell) of trading ``value`` (< 0 = sell)."""
        del price  # the costs depend on the value only
        profile = self._engine.config.profile
        traded = abs(value)
        cost = commission(traded, profile.commission, profile.min_commission)
        if value < 0 and instrument.type is InstrumentType.STOCK:
            cost += sell_tax(traded, profile.tax_rate(self._engine.today))
        return cost

    def _round(self, instrument: Instrument, quantity: float, *, half_even: bool) -> int:
        """``quantity`` in whole lots (RQAlpha's ``round_order_quantity``)."""
        minimum, step = order_quantities(instrument, self._engine.config.profile.use_lots)
        if step != minimum:  # STAR/BSE: any quantity from the minimum on
            return 0 if abs(quantity) < minimum else int(quantity)
        lots = Decimal(quantity) / Decimal(step)
        whole = round(lots) if half_even else int(lots)
        return int(whole) * step


def _weight(value: Any, oid: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InvalidArgument(f"order_target_portfolio: weight of {oid} must be a number")
    if not (math.isfinite(value) and value >= 0):
        raise InvalidArgument(
            f"order_target_portfolio: invalid weight {value} of {oid}; expected a float "
            "between 0 and 1"
        )
    return float(value)
