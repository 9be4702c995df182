"""Orders, fills and the raw result of a run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Side(StrEnum):
    """Order side."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    """Order type (RQAlpha's ``ORDER_TYPE``)."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"


class PositionEffect(StrEnum):
    """What a stock order does to the position (RQAlpha's ``POSITION_EFFECT``)."""

    OPEN = "OPEN"
    CLOSE = "CLOSE"


class PositionDirection(StrEnum):
    """Position direction (RQAlpha's ``POSITION_DIRECTION``); stock positions are LONG."""

    LONG = "LONG"
    SHORT = "SHORT"


class OrderStatus(StrEnum):
    """Order life cycle (RQAlpha's names)."""

    ACTIVE = "ACTIVE"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


class RejectReason(StrEnum):
    """Why an order (or the unfilled rest of one) was refused."""

    T_PLUS_1 = "T+1"
    LOT = "lot"
    LIMIT_UP = "limit_up"
    LIMIT_DOWN = "limit_down"
    CASH = "cash"
    VOLUME = "volume"
    SUSPENDED = "suspended"
    POSITION = "position"
    PRICE = "price"
    EXPIRED = "expired"
    USER = "user"


class Order:
    """An order placed by the strategy.

    Attributes:
        order_id: 1-based sequence number within the run.
        order_book_id: Instrument.
        side: BUY or SELL.
        quantity: Requested quantity (shares), after lot rounding.
        limit_price: Limit price, ``None`` for a market order.
        created_at: Bar datetime at which the strategy placed it.
        filled_quantity: Shares filled so far.
        avg_price: Average fill price (0 while unfilled).
        status: See ``OrderStatus``.
        reject_reason: Why it was rejected or cancelled, ``None`` otherwise.
        message: Human-readable detail of the reason.
    """

    __slots__ = (
        "avg_price",
        "created_at",
        "filled_quantity",
        "limit_price",
        "message",
        "order_book_id",
        "order_id",
        "quantity",
        "reject_reason",
        "side",
        "status",
        "transaction_cost",
    )

    def __init__(
        self,
        order_id: int,
        order_book_id: str,
        side: Side,
        quantity: int,
        limit_price: float | None,
        created_at: dt.datetime,
    ) -> None:
        self.order_id = order_id
        self.order_book_id = order_book_id
        self.side = side
        self.quantity = quantity
        self.limit_price = limit_price
        self.created_at = created_at
        self.filled_quantity = 0
        self.avg_price = 0.0
        self.transaction_cost = 0.0
        self.status = OrderStatus.ACTIVE
        self.reject_reason: RejectReason | None = None
        self.message = ""

    @property
    def unfilled_quantity(self) -> int:
        """Shares still to fill."""
        return self.quantity - self.filled_quantity

    def is_final(self) -> bool:
        """True once filled, cancelled or rejected (a method, as in RQAlpha)."""
        return self.status is not OrderStatus.ACTIVE

    # RQAlpha's order fields, derived from ours.

    @property
    def type(self) -> OrderType:
        """``LIMIT`` when the order has a limit price, else ``MARKET``."""
        return OrderType.MARKET if self.limit_price is None else OrderType.LIMIT

    @property
    def price(self) -> float | None:
        """The limit price, ``None`` for a market order."""
        return self.limit_price

    @property
    def datetime(self) -> dt.datetime:
        """When the strategy placed it (``created_at``)."""
        return self.created_at

    trading_datetime = datetime

    @property
    def position_effect(self) -> PositionEffect:
        """``OPEN`` for a buy, ``CLOSE`` for a sell (long-only stock account)."""
        return PositionEffect.OPEN if self.side is Side.BUY else PositionEffect.CLOSE

    @property
    def position_direction(self) -> PositionDirection:
        """Always ``LONG`` (stock positions)."""
        return PositionDirection.LONG

    @property
    def secondary_order_id(self) -> None:
        """No broker order ids in a backtest."""
        return None

    def __repr__(self) -> str:
        return (
            f"Order(id={self.order_id}, {self.side} {self.quantity} {self.order_book_id}, "
            f"status={self.status}, filled={self.filled_quantity}"
            + (f", reason={self.reject_reason}: {self.message}" if self.reject_reason else "")
            + ")"
        )


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution.

    Attributes:
        datetime: Bar datetime of the execution.
        order_id: The order it fills.
        order_book_id: Instrument.
        side: BUY or SELL.
        quantity: Shares.
        price: Execution price per share.
        commission: Commission in currency units.
        tax: Sell-side tax in currency units.
        reason: The rule that set the price, e.g. ``"current_bar close"``.
        realized_pnl: For sells, ``quantity * (price - cost basis) - commission - tax``
            where the cost basis includes the buys' costs; 0 for buys.
        trade_id: 1-based sequence number of the fill within the run.
    """

    datetime: dt.datetime
    order_id: int
    order_book_id: str
    side: Side
    quantity: int
    price: float
    commission: float
    tax: float
    reason: str
    realized_pnl: float
    trade_id: int = 0

    # RQAlpha's trade fields, derived from ours.

    @property
    def last_price(self) -> float:
        """Execution price (``price``)."""
        return self.price

    @property
    def last_quantity(self) -> int:
        """Executed shares (``quantity``)."""
        return self.quantity

    @property
    def transaction_cost(self) -> float:
        """``commission + tax``."""
        return self.commission + self.tax

    @property
    def trading_datetime(self) -> dt.datetime:
        """Execution bar's datetime (``datetime``)."""
        return self.datetime

    @property
    def position_effect(self) -> PositionEffect:
        """``OPEN`` for a buy, ``CLOSE`` for a sell."""
        return PositionEffect.OPEN if self.side is Side.BUY else PositionEffect.CLOSE


@dataclass
class EngineResult:
    """Raw output of a run, in plain Python containers (columns as lists).

    Attributes:
        portfolio: Daily columns ``date, cash, market_value, total_value, nav, returns,
            benchmark_close, benchmark_nav, benchmark_returns``.
        positions: One row per (date, held instrument): ``date, order_book_id, quantity,
            sellable, avg_price, last_price, market_value``.
        fills: Every execution, in order.
        orders: Every order, final state.
        plots: Columns of ``plot(name, value)`` calls: ``date, name, value``.
        logs: Strategy log lines (``"2005-01-03 INFO message"``).
    """

    portfolio: dict[str, list[Any]] = field(default_factory=dict)
    positions: dict[str, list[Any]] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    plots: dict[str, list[Any]] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
