"""Round-trip trades: fills paired into entry/exit trades by FIFO lot matching.

A backtest records fills (``BacktestResult.trades``: one row per execution). Trade statistics
(win rate, best/worst trade, profit factor, SQN...) are about *round trips*: a quantity
opened by one fill and closed by a later one. ``round_trips`` pairs them per instrument, first
in first out (the usual lot convention), splitting lots on partial closes. backtrader's
``TradeAnalyzer`` counts a whole position from flat to flat as one trade instead; the two
agree whenever a position is opened and closed in one fill each.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Columns ``round_trips`` needs in the fills frame (``BacktestResult.trades`` has them all).
FILL_COLUMNS = [
    "datetime", "order_id", "order_book_id", "side", "quantity", "price", "commission", "tax",
]  # fmt: skip
#: Columns of the frame ``round_trips`` returns, in order.
ROUND_TRIP_COLUMNS = [
    "order_book_id", "direction", "quantity", "entry_datetime", "exit_datetime",
    "entry_price", "exit_price", "entry_order_id", "exit_order_id", "costs", "pnl", "return",
    "holding_sessions", "holding_days",
]  # fmt: skip


@dataclass
class _Lot:
    """An open quantity: what is left of one opening fill."""

    sign: int  # +1 long (opened by a buy), -1 short (opened by a sell)
    quantity: float
    datetime: pd.Timestamp
    price: float
    costs: float  # the opening fill's costs still allocated to this quantity
    order_id: Any


def round_trips(
    fills: pd.DataFrame, sessions: pd.Index | Sequence[Any] | None = None
) -> pd.DataFrame:
    """Pair ``fills`` into round-trip trades, FIFO per instrument.

    Each instrument's fills are read in row order (execution order, as
    ``BacktestResult.trades`` lists them). A fill against the open lots' direction closes the
    oldest lot first; a lot closed in part is split (the closed part is a round trip, the rest
    stays open with the remaining share of its costs); the part of a fill beyond every open lot
    opens a new lot in its own direction (a sell with nothing held opens a short). Lots still
    open after the last fill are not round trips and are left out.

    Conventions:
        * costs = commission + tax. Each fill's costs are allocated pro rata to quantity: a
          round trip of ``q`` shares carries ``q / Q_entry`` of its entry fill's costs and
          ``q / Q_exit`` of its exit fill's.
        * pnl = ``sign * q * (exit_price - entry_price) - costs`` in currency units, with
          ``sign`` = +1 for LONG, -1 for SHORT. Per instrument and flat position this adds up
          to the engine's realized P/L (``Fill.realized_pnl``, average cost basis): both are
          proceeds minus outlays minus every cost.
        * return = ``pnl / (q * entry_price)``: net return on the value committed at entry
          (NaN for a zero entry price); ``exit / entry - 1`` for a long without costs.
        * holding_sessions = sessions of ``sessions`` from the entry session to the exit
          session (0 when opened and closed in one session, 1 for a buy held overnight);
          ``<NA>`` when ``sessions`` is not given.
        * holding_days = calendar days between the entry and exit dates.

    Args:
        fills: One row per fill with ``FILL_COLUMNS``: ``datetime`` (datetime64), ``order_id``,
            ``order_book_id``, ``side`` (``BUY``/``SELL``), ``quantity`` (> 0, shares),
            ``price`` (per share), ``commission`` and ``tax`` (currency units).
        sessions: The run's session dates (e.g. ``result.portfolio.index``), sorted; they give
            ``holding_sessions``.

    Returns:
        One row per round trip with ``ROUND_TRIP_COLUMNS`` (RangeIndex), in the order they
        closed: ``order_book_id``, ``direction`` (``LONG``/``SHORT``), ``quantity``,
        ``entry_datetime``/``exit_datetime``, ``entry_price``/``exit_price``,
        ``entry_order_id``/``exit_order_id``, ``costs``, ``pnl``, ``return``,
        ``holding_sessions`` (Int64) and ``holding_days`` (int64).

    Raises:
        ValueError: a required column is missing, a side is neither ``BUY`` nor ``SELL``, or a
            quantity is not positive.
    """
    missing = [c for c in FILL_COLUMNS if c not in fills.columns]
    if missing:
        raise ValueError(f"fills lack the columns {missing}; round_trips needs {FILL_COLUMNS}")
    rows: list[tuple[Any, ...]] = []
    books: dict[str, deque[_Lot]] = {}
    columns = [fills[c].tolist() for c in FILL_COLUMNS[1:]]
    times = list(pd.DatetimeIndex(fills["datetime"]))
    for i, (when, order_id, oid, side, quantity, price, commission, tax) in enumerate(
        zip(times, *columns, strict=True)
    ):
        sign = _sign(side)
        if not quantity > 0:
            raise ValueError(f"fill {i} of {oid} has quantity {quantity}; it must be > 0")
        costs = float(commission) + float(tax)
        lots = books.setdefault(oid, deque())
        left = quantity
        while left > 0 and lots and lots[0].sign != sign:
            lot = lots[0]
            take = min(left, lot.quantity)
            entry_costs = lot.costs if take == lot.quantity else lot.costs * take / lot.quantity
            exit_costs = costs * take / quantity
            pnl = lot.sign * take * (price - lot.price) - entry_costs - exit_costs
            value = take * lot.price
            rows.append(
                (oid, "LONG" if lot.sign > 0 else "SHORT", take, lot.datetime, when, lot.price,
                 price, lot.order_id, order_id, entry_costs + exit_costs, pnl,
                 pnl / value if value else math.nan)
            )  # fmt: skip
            lot.quantity -= take
            lot.costs -= entry_costs
            if lot.quantity == 0:
                lots.popleft()
            left -= take
        if left > 0:
            lots.append(_Lot(sign, left, when, float(price), costs * left / quantity, order_id))
    return _frame(rows, fills, sessions)


def _sign(side: Any) -> int:
    text = str(side).upper()
    if text == "BUY":
        return 1
    if text == "SELL":
        return -1
    raise ValueError(f"fill side {side!r} is neither BUY nor SELL")


def _frame(
    rows: list[tuple[Any, ...]],
    fills: pd.DataFrame,
    sessions: pd.Index | Sequence[Any] | None,
) -> pd.DataFrame:
    head = ROUND_TRIP_COLUMNS[:-2]
    out = pd.DataFrame(rows, columns=head)
    # Keep the fills' dtypes (an empty frame would otherwise come out as float/object).
    unit = pd.DatetimeIndex(fills["datetime"]).unit
    for col in ("entry_datetime", "exit_datetime"):
        out[col] = pd.DatetimeIndex(out[col]).as_unit(unit)
    out["quantity"] = out["quantity"].astype(fills["quantity"].dtype)
    for col in ("entry_order_id", "exit_order_id"):
        out[col] = out[col].astype(fills["order_id"].dtype)
    for col in ("entry_price", "exit_price", "costs", "pnl", "return"):
        out[col] = out[col].astype("float64")
    for col in ("order_book_id", "direction"):
        out[col] = out[col].astype("str")
    entry = pd.DatetimeIndex(out["entry_datetime"]).normalize()
    exit_ = pd.DatetimeIndex(out["exit_datetime"]).normalize()
    if sessions is None:
        out["holding_sessions"] = pd.array([pd.NA] * len(out), dtype="Int64")
    else:
        days = pd.DatetimeIndex(pd.Index(sessions)).normalize().as_unit(unit)
        held = days.searchsorted(exit_) - days.searchsorted(entry)
        out["holding_sessions"] = pd.array(held, dtype="Int64")
    out["holding_days"] = np.asarray((exit_ - entry).days, dtype="int64")
    return out
