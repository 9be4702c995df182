"""Order validation and matching against daily bars (the simulated exchange).

Matching rules (all re-implemented from their public definitions):

* ``current_bar``: a market order placed in ``handle_bar`` fills at once at that bar's close.
* ``next_bar``: it fills at the next session's open (orders placed in ``before_trading``
  fill at the same session's open).
* Slippage moves the price of a market order against it by a ratio; with daily price limits
  (cn_stock) it stops at them, as RQAlpha's ``PriceRatioSlippage``; without (us_stock) it is
  clipped to the bar's [low, high], as backtrader's ``slip_match``.
* With price limits, no fill is priced beyond them: a close outside the limits in the data
  fills at the limit (RQAlpha's rule).
* Limit orders fill at the matching price if it is at or better than the limit, or (next_bar)
  at the limit if the bar traded through it; unfilled limit orders expire at the session end.
* Price limits (``quantdesk.engine.rules``: board, ST, IPO sessions, or the data's own
  ``limit_up``/``limit_down``): no buy at or above ``limit_up``, no sell at or below
  ``limit_down``.
* Fills of one instrument are capped at ``volume_limit`` of the bar's volume; the unfilled
  rest is cancelled (reason ``volume``).
* A buy needs ``value + commission <= cash``, otherwise it is rejected (reason ``cash``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, Protocol

from quantdesk.core.instruments import InstrumentType
from quantdesk.engine.config import EngineConfig, Matching
from quantdesk.engine.costs import commission, sell_tax
from quantdesk.engine.events import EVENT
from quantdesk.engine.records import Fill, Order, OrderStatus, RejectReason, Side
from quantdesk.engine.rules import order_quantities

if TYPE_CHECKING:
    from quantdesk.engine.feeds import Feed
    from quantdesk.engine.portfolio import Portfolio


class BrokerSession(Protocol):
    """What the broker reads of the running engine.

    The session clock and phase, the configuration, the portfolio, the feeds, and where
    warnings go.
    """

    config: EngineConfig
    t: int
    now: dt.datetime
    today: dt.date
    phase: str
    portfolio: Portfolio

    def feed(self, order_book_id: str) -> Feed:
        """The bar feed of ``order_book_id``, loaded on first use.

        Raises:
            NotFound: unknown instrument.
            InvalidArgument: the instrument trades in another market than the run's.
        """
        ...

    def log(self, level: str, message: str) -> None:
        """Append a strategy log line (the broker's warnings) stamped with the current bar date."""
        ...

    def emit(self, event: EVENT, **data: Any) -> None:
        """Publish an order event to the strategy's listeners (no-op without any)."""
        ...


class Broker:
    """Validates, queues and matches the strategy's orders."""

    def __init__(self, engine: BrokerSession) -> None:
        self._engine = engine
        self._profile = engine.config.profile
        self._matching = engine.config.matching
        self._pending: list[Order] = []
        self._tried: set[int] = set()
        self._volume_used: dict[str, float] = {}
        self._created: set[int] = set()  # ids of orders accepted at creation
        self.orders: list[Order] = []
        self.fills: list[Fill] = []

    # -- order entry ---------------------------------------------------------------------------

    def submit(self, order_book_id: str, amount: int, limit_price: float | None) -> Order:
        """Create an order for ``amount`` shares (negative = sell) and match or queue it."""
        engine = self._engine
        side = Side.BUY if amount > 0 else Side.SELL
        order = Order(
            len(self.orders) + 1, order_book_id, side, abs(amount), limit_price, engine.now
        )
        self.orders.append(order)
        if limit_price is not None and not (limit_price > 0 and math.isfinite(limit_price)):
            return self._reject(order, RejectReason.PRICE, f"invalid limit price {limit_price}")
        instrument = engine.feed(order_book_id).instrument
        minimum, lot = order_quantities(instrument, self._profile.use_lots)
        if side is Side.BUY:
            order.quantity = amount // lot * lot
            if order.quantity < minimum:
                order.quantity = 0
                return self._reject(
                    order,
                    RejectReason.LOT,
                    f"{amount} shares is less than one lot of {lot}"
                    if minimum == lot
                    else f"{amount} shares is less than the minimum order of {minimum}",
                )
        else:
            pos = engine.portfolio.positions.get(order_book_id)
            held = pos.quantity if pos else 0
            want = -amount
            if want > held:
                return self._reject(
                    order,
                    RejectReason.POSITION,
                    f"cannot sell {want} {order_book_id}: holding {held}; short selling is off",
                )
            if want < held:
                want = want // lot * lot
                if want == 0:
                    return self._reject(
                        order,
                        RejectReason.LOT,
                        f"selling {-amount} of {held} leaves an odd lot; lots are {lot} shares",
                    )
            order.quantity = want
            assert pos is not None
            if want > pos.sellable:
                return self._reject(
                    order,
                    RejectReason.T_PLUS_1,
                    f"only {pos.sellable} of {held} {order_book_id} are sellable (T+1)",
                )
        self._created.add(order.order_id)
        engine.emit(EVENT.ORDER_PENDING_NEW, order=order)
        engine.emit(EVENT.ORDER_CREATION_PASS, order=order)
        if self._matching is Matching.CURRENT_BAR and engine.phase == "handle_bar":
            self._match(order, close=True)
            if order.status is OrderStatus.ACTIVE:
                self._tried.add(order.order_id)
                self._pending.append(order)
        else:
            self._pending.append(order)
        return order

    def refuse(
        self, order_book_id: str, side: Side, quantity: int, reason: RejectReason, message: str
    ) -> Order:
        """Record an order that sizing already knows cannot be placed."""
        order = Order(len(self.orders) + 1, order_book_id, side, quantity, None, self._engine.now)
        self.orders.append(order)
        return self._reject(order, reason, message)

    def cancel(self, order: Order) -> None:
        """Cancel an active order (no-op when it is already final)."""
        if order.status is OrderStatus.ACTIVE:
            self._engine.emit(EVENT.ORDER_PENDING_CANCEL, order=order)
            order.status = OrderStatus.CANCELLED
            order.reject_reason = RejectReason.USER
            order.message = "cancelled by the strategy"
            if order in self._pending:
                self._pending.remove(order)
            self._engine.emit(EVENT.ORDER_CANCELLATION_PASS, order=order)

    def frozen_cash(self) -> float:
        """Cash the open buy orders would spend: unfilled shares at their limit or last price."""
        total = 0.0
        for order in self._pending:
            if order.status is OrderStatus.ACTIVE and order.side is Side.BUY:
                price = order.limit_price
                if price is None:
                    price = self._engine.feed(order.order_book_id).last_close(self._engine.t)
                total += order.unfilled_quantity * (price or 0.0)
        return total

    def open_orders(self, order_book_id: str | None = None) -> list[Order]:
        """Active orders, optionally of one instrument."""
        return [
            o
            for o in self._pending
            if o.status is OrderStatus.ACTIVE
            and (order_book_id is None or o.order_book_id == order_book_id)
        ]

    # -- session events ------------------------------------------------------------------------

    def new_session(self) -> None:
        """Reset the per-bar volume budget."""
        self._volume_used.clear()

    def match_pending(self, *, close: bool) -> None:
        """Match queued orders at this session's open (``close=False``) or close."""
        pending, self._pending = self._pending, []
        for order in pending:
            if order.status is not OrderStatus.ACTIVE:
                continue
            if order.order_id in self._tried:
                self._pending.append(order)
                continue
            self._match(order, close=close)
            if order.status is OrderStatus.ACTIVE:
                self._tried.add(order.order_id)
                self._pending.append(order)

    def end_session(self) -> None:
        """Expire orders that met a bar today without filling (limit orders)."""
        keep: list[Order] = []
        for order in self._pending:
            if order.order_id in self._tried and order.status is OrderStatus.ACTIVE:
                self._expire(order, "not filled by the end of the session")
            elif order.status is OrderStatus.ACTIVE:
                keep.append(order)
        self._pending = keep

    def end_run(self) -> None:
        """Expire every order still open when the run ends."""
        for order in self._pending:
            if order.status is OrderStatus.ACTIVE:
                self._expire(order, "still open when the backtest ended")
        self._pending = []

    # -- matching ------------------------------------------------------------------------------

    def _match(self, order: Order, *, close: bool) -> None:  # noqa: C901 (the fill rules, in order)
        engine = self._engine
        t = engine.t
        feed = engine.feed(order.order_book_id)
        if not feed.has_bar[t]:
            self._reject(order, RejectReason.SUSPENDED, f"{order.order_book_id} has no bar today")
            return
        k = feed.known[t] - 1
        volume = feed.volume_l[k]
        if volume <= 0:
            self._reject(order, RejectReason.VOLUME, "the bar has no volume")
            return
        low, high = feed.low_l[k], feed.high_l[k]
        base = feed.close_l[k] if close else feed.open_l[k]
        rule = f"{'current_bar close' if close else 'next_bar open'}"
        buy = order.side is Side.BUY
        profile = self._profile
        # Limits are set on traded prices; the feed's may be adjusted (traded * factor).
        f = feed.factor_l[k] if feed.factor_l is not None else 1.0
        traded_down, traded_up = feed.limit_down_l[k], feed.limit_up_l[k]  # NaN: no limit
        down, up = traded_down * f, traded_up * f
        if buy and base >= up - 1e-6 * f:
            why = f"{base / f:g} is at limit_up {traded_up}"
            self._reject(order, RejectReason.LIMIT_UP, why)
            return
        if not buy and base <= down + 1e-6 * f:
            why = f"{base / f:g} is at limit_down {traded_down}"
            self._reject(order, RejectReason.LIMIT_DOWN, why)
            return
        price = base
        limit = order.limit_price
        if limit is not None:
            if (buy and base > limit) or (not buy and base < limit):
                if close or not ((buy and low <= limit) or (not buy and high >= limit)):
                    return  # not marketable on this bar: stays open until the session ends
                price, rule = limit, "limit"
        elif profile.slippage:
            price = price * (1 + profile.slippage) if buy else price * (1 - profile.slippage)
            rule += f" + slippage {profile.slippage:g}"
            if up != up and (price > high or price < low):  # noqa: PLR0124 (NaN: no limits)
                price = min(max(price, low), high)
                rule += f", clipped to {'high' if buy else 'low'}"
        # A fill never prices beyond the session's limits (a close outside them in the data
        # fills at the limit; slippage stops there), nor beyond its own limit price.
        if price > up and (limit is None or not buy or up <= limit):
            price, rule = up, rule + ", clamped to limit_up"
        elif price < down and (limit is None or buy or down >= limit):
            price, rule = down, rule + ", clamped to limit_down"
        quantity = order.unfilled_quantity
        if profile.volume_limit is not None:
            lot = order_quantities(feed.instrument, profile.use_lots)[1]
            used = self._volume_used.get(order.order_book_id, 0.0)
            cap = int(volume * profile.volume_limit - used)
            if buy or cap < quantity:
                cap = cap // lot * lot
            if cap <= 0:
                self._reject(
                    order, RejectReason.VOLUME, f"exceeds {profile.volume_limit:.0%} of volume"
                )
                return
            quantity = min(quantity, cap)
        value = quantity * price
        fee = commission(value, profile.commission, profile.min_commission)
        tax = 0.0
        portfolio = engine.portfolio
        if buy:
            if value + fee > portfolio.cash + 1e-9:
                self._reject(
                    order,
                    RejectReason.CASH,
                    f"needs {value + fee:.2f} cash, {portfolio.cash:.2f} available",
                )
                return
            pos = portfolio.position(order.order_book_id, feed.last_close(t) or price)
            portfolio.apply_buy(pos, quantity, price, fee)
            pnl = 0.0
        else:
            pos = portfolio.positions[order.order_book_id]
            if quantity > pos.quantity:
                self._reject(
                    order, RejectReason.POSITION, f"only {pos.quantity} shares are held now"
                )
                return
            if quantity > pos.sellable:
                self._reject(order, RejectReason.T_PLUS_1, "shares bought today are not sellable")
                return
            if feed.instrument.type is InstrumentType.STOCK:
                tax = sell_tax(value, profile.tax_rate(engine.today))
            pnl = portfolio.apply_sell(pos, quantity, price, fee + tax)
        self._volume_used[order.order_book_id] = (
            self._volume_used.get(order.order_book_id, 0.0) + quantity
        )
        filled = order.filled_quantity + quantity
        order.avg_price = (order.avg_price * order.filled_quantity + value) / filled
        order.filled_quantity = filled
        order.transaction_cost += fee + tax
        fill = Fill(
            engine.now, order.order_id, order.order_book_id, order.side,
            quantity, price, fee, tax, rule, pnl, len(self.fills) + 1,
        )  # fmt: skip
        self.fills.append(fill)
        if order.unfilled_quantity == 0:
            order.status = OrderStatus.FILLED
        else:
            order.status = OrderStatus.CANCELLED
            order.reject_reason = RejectReason.VOLUME
            order.message = (
                f"filled {filled} of {order.quantity}; the rest exceeds "
                f"{profile.volume_limit:.0%} of the bar's volume"
            )
        engine.emit(EVENT.TRADE, trade=fill, order=order, account=portfolio)
        if order.status is not OrderStatus.FILLED:
            engine.emit(EVENT.ORDER_UNSOLICITED_UPDATE, order=order)

    def _reject(self, order: Order, reason: RejectReason, message: str) -> Order:
        order.status = OrderStatus.REJECTED
        order.reject_reason = reason
        order.message = message
        self._engine.log("WARNING", f"order {order.order_id} rejected ({reason}): {message}")
        if order.order_id in self._created:
            self._engine.emit(EVENT.ORDER_UNSOLICITED_UPDATE, order=order)
        else:
            self._engine.emit(EVENT.ORDER_CREATION_REJECT, order=order)
        return order

    def _expire(self, order: Order, message: str) -> None:
        order.status = OrderStatus.CANCELLED
        order.reject_reason = RejectReason.EXPIRED
        order.message = message
        self._engine.emit(EVENT.ORDER_UNSOLICITED_UPDATE, order=order)
