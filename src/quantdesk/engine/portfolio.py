"""Cash, positions and their marking to market (one stock account)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from quantdesk.core.errors import InvalidArgument


class AccountType(StrEnum):
    """RQAlpha's ``DEFAULT_ACCOUNT_TYPE``: the only account here is the stock account."""

    STOCK = "STOCK"


class Position:
    """A long position in one instrument (RQAlpha's stock position fields).

    Attributes:
        order_book_id: Instrument.
        quantity: Shares held (>= 0).
        avg_price: Average buy price per share, excluding costs.
        last_price: Price the position is marked at (latest close seen).
        bought_today: Shares bought in the current session (not sellable under T+1).
        cost_basis: Total cost of the shares held, buy costs included (for realized P/L).
    """

    __slots__ = (
        "avg_price",
        "bought_today",
        "cost_basis",
        "last_price",
        "order_book_id",
        "quantity",
        "t_plus",
    )

    def __init__(self, order_book_id: str, t_plus: int, last_price: float = 0.0) -> None:
        self.order_book_id = order_book_id
        self.quantity = 0
        self.avg_price = 0.0
        self.last_price = last_price
        self.bought_today = 0
        self.cost_basis = 0.0
        self.t_plus = t_plus

    @property
    def market_value(self) -> float:
        """``quantity * last_price`` in currency units."""
        return self.quantity * self.last_price

    @property
    def sellable(self) -> int:
        """Shares that can be sold now (T+1 excludes today's buys)."""
        return self.quantity - self.bought_today if self.t_plus else self.quantity

    # RQAlpha aliases.
    closable = sellable

    @property
    def pnl(self) -> float:
        """Unrealized P/L against the average price, in currency units."""
        return self.quantity * (self.last_price - self.avg_price)

    @property
    def direction(self) -> str:
        """``LONG`` (RQAlpha's ``POSITION_DIRECTION``; stock positions are long)."""
        return "LONG"

    @property
    def today_quantity(self) -> int:
        """Shares bought in the current session."""
        return self.bought_today

    @property
    def old_quantity(self) -> int:
        """Shares held since before the current session."""
        return self.quantity - self.bought_today

    equity = market_value

    def __repr__(self) -> str:
        return (
            f"Position({self.order_book_id}, quantity={self.quantity}, "
            f"avg_price={self.avg_price:.4f}, last_price={self.last_price:.4f})"
        )


class Positions(dict[str, Position]):
    """``positions[id]`` of held instruments; an unknown id reads as an empty position."""

    def __init__(self, t_plus: int) -> None:
        super().__init__()
        self._t_plus = t_plus

    def __missing__(self, order_book_id: str) -> Position:
        return Position(order_book_id, self._t_plus)


class Portfolio:
    """The strategy's account: ``context.portfolio``.

    Attributes:
        starting_cash: Cash at the start of the run.
        cash: Available cash.
        positions: Held positions by ``order_book_id``.
    """

    def __init__(self, starting_cash: float, t_plus: int) -> None:
        self.starting_cash = starting_cash
        self.cash = starting_cash
        self.positions = Positions(t_plus)
        self._market_value = 0.0
        self._t_plus = t_plus
        # Whether a buy / a sell was booked since the last new_session / settle: sessions
        # without trades skip those loops over every position.
        self._bought = False
        self._sold = False
        #: NAV units: ``starting_cash`` at the start; deposits and withdrawals buy and sell
        #: units at the current NAV so that they are not returns.
        self.units = starting_cash
        #: ``total_value`` at the previous session's close (``daily_pnl``'s base).
        self.static_total_value = starting_cash
        #: Starting cash plus deposits minus withdrawals.
        self.net_invested = starting_cash
        #: Commission and tax paid since the start.
        self.transaction_cost = 0.0
        #: Cash reserved by open buy orders (set by the engine; informational).
        self._frozen: Callable[[], float] = lambda: 0.0

    @property
    def market_value(self) -> float:
        """Sum of the positions' market values."""
        return self._market_value

    @property
    def total_value(self) -> float:
        """``cash + market_value``."""
        return self.cash + self._market_value

    @property
    def portfolio_value(self) -> float:
        """Alias of ``total_value`` (older RQAlpha name)."""
        return self.total_value

    @property
    def unit_net_value(self) -> float:
        """NAV per unit: ``total_value / units`` (``units`` = starting cash, unless deposits)."""
        return self.total_value / self.units

    @property
    def accounts(self) -> dict[AccountType, Portfolio]:
        """``{DEFAULT_ACCOUNT_TYPE.STOCK: account}``: this portfolio is its stock account."""
        return {AccountType.STOCK: self}

    @property
    def frozen_cash(self) -> float:
        """Cash the open buy orders would spend (their unfilled shares at their price)."""
        return self._frozen()

    @property
    def daily_pnl(self) -> float:
        """``total_value`` minus the previous close's (deposits today excluded)."""
        return self.total_value - self.static_total_value

    @property
    def daily_returns(self) -> float:
        """``daily_pnl`` over the previous close's ``total_value``."""
        return self.daily_pnl / self.static_total_value if self.static_total_value else 0.0

    @property
    def pnl(self) -> float:
        """Gain since the start: ``total_value - net_invested``."""
        return self.total_value - self.net_invested

    def get_positions(self) -> list[Position]:
        """Held positions."""
        return [p for p in self.positions.values() if p.quantity]

    def get_position(self, order_book_id: str, direction: str = "LONG") -> Position:  # noqa: ARG002 (long only)
        """The position in ``order_book_id`` (empty when not held)."""
        return self.positions[order_book_id]

    def deposit(self, amount: float) -> None:
        """Add cash; units grow at the current NAV so the deposit is no return.

        Raises:
            InvalidArgument: ``amount`` not > 0.
        """
        if not amount > 0:
            raise InvalidArgument(f"deposit amount must be > 0, got {amount}")
        self.units += amount / self.unit_net_value
        self.static_total_value += amount
        self.net_invested += amount
        self.cash += amount

    def withdraw(self, amount: float) -> None:
        """Take cash out; units shrink at the current NAV.

        Raises:
            InvalidArgument: ``amount`` not > 0 or above the cash.
        """
        if not 0 < amount <= self.cash:
            raise InvalidArgument(f"withdraw amount must be in (0, {self.cash:.2f}], got {amount}")
        self.units -= amount / self.unit_net_value
        self.static_total_value -= amount
        self.net_invested -= amount
        self.cash -= amount

    @property
    def total_returns(self) -> float:
        """``unit_net_value - 1``."""
        return self.unit_net_value - 1.0

    def position(self, order_book_id: str, last_price: float) -> Position:
        """The held position of ``order_book_id``, created empty if needed."""
        pos = self.positions.get(order_book_id)
        if pos is None:
            pos = Position(order_book_id, self._t_plus, last_price)
            self.positions[order_book_id] = pos
        return pos

    def apply_buy(self, pos: Position, quantity: int, price: float, costs: float) -> None:
        """Book a buy fill: cash out, quantity and average price up."""
        value = quantity * price
        new_qty = pos.quantity + quantity
        pos.avg_price = (pos.avg_price * pos.quantity + value) / new_qty
        pos.quantity = new_qty
        pos.bought_today += quantity
        self._bought = True
        pos.cost_basis += value + costs
        self.transaction_cost += costs
        self.cash -= value + costs
        self._market_value += quantity * pos.last_price

    def apply_sell(self, pos: Position, quantity: int, price: float, costs: float) -> float:
        """Book a sell fill; return its realized P/L (costs of both legs included)."""
        basis = pos.cost_basis * quantity / pos.quantity
        pos.cost_basis -= basis
        pos.quantity -= quantity
        self._sold = True
        self.transaction_cost += costs
        self.cash += quantity * price - costs
        self._market_value -= quantity * pos.last_price
        if pos.quantity == 0:
            # Kept (at zero) until ``settle`` so a strategy looping over ``positions`` while
            # closing them does not change the dict under its feet.
            pos.avg_price = 0.0
            pos.cost_basis = 0.0
        return quantity * price - costs - basis

    def remark(self, price_of: Callable[[str], float | None]) -> None:
        """Mark held positions at ``price_of(id)``; ``None`` keeps the last price."""
        total = 0.0
        for oid, pos in self.positions.items():
            price = price_of(oid)
            if price is not None:
                pos.last_price = price
            total += pos.quantity * pos.last_price
        self._market_value = total

    def remark_at(self, feeds: Mapping[str, Any], t: int) -> None:
        """``remark`` at the closes of run session ``t``, read off the engine's feeds.

        The same marking as ``remark(price_of)`` with ``price_of`` = the close of session
        ``t``'s bar or ``None`` without one, minus a function call per position.
        """
        total = 0.0
        for oid, pos in self.positions.items():
            feed = feeds[oid]
            close = feed.session_close[t]
            # NaN: no bar this session (or a NaN close, which has_bar tells apart)
            if close == close or feed.has_bar[t]:  # noqa: PLR0124 (a fast NaN test)
                pos.last_price = close
            total += pos.quantity * pos.last_price
        self._market_value = total

    def settle(self) -> None:
        """End a session: drop positions that were closed during it."""
        if not self._sold:
            return
        self._sold = False
        closed = [oid for oid, pos in self.positions.items() if pos.quantity == 0]
        for oid in closed:
            del self.positions[oid]

    def new_session(self) -> None:
        """Start a session: yesterday's buys become sellable."""
        if not self._bought:
            return
        self._bought = False
        for pos in self.positions.values():
            pos.bought_today = 0

    def __repr__(self) -> str:
        return (
            f"Portfolio(cash={self.cash:.2f}, market_value={self._market_value:.2f}, "
            f"total_value={self.total_value:.2f})"
        )

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"context.portfolio has no attribute {name!r}; available: cash, total_value, "
            "market_value, positions, starting_cash, unit_net_value, total_returns, accounts, "
            "frozen_cash, daily_pnl, daily_returns, pnl, transaction_cost, units"
        )
