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

    @property
    def is_final(self) -> bool:
        """True once filled, cancelled or rejected."""
        return self.status is not OrderStatus.ACTIVE

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
