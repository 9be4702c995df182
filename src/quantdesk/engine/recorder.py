"""The daily records of a run: portfolio, benchmark and position columns."""

from __future__ import annotations

import datetime as dt
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from quantdesk.core.errors import DataUnavailable

if TYPE_CHECKING:
    from quantdesk.engine.feeds import Feed
    from quantdesk.engine.portfolio import Portfolio
    from quantdesk.engine.records import EngineResult


_POS_FIELDS = ("quantity", "bought_today", "avg_price", "last_price")
_POS_GETTERS = {name: attrgetter(name) for name in _POS_FIELDS}


class DailyRecorder:
    """Collects the daily portfolio, benchmark and position rows.

    Per session it appends only raw values (Python floats and dates, which the cyclic GC
    does not track: per-session tuples made it rescan the heap over and over); totals,
    NAVs, returns and per-position values are derived in ``finish`` with the same
    arithmetic, in the same order.
    """

    def __init__(
        self,
        result: EngineResult,
        portfolio: Portfolio,
        benchmark: Feed | None,
        start: dt.date,
    ) -> None:
        self._result = result
        self._bench = benchmark
        self._portfolio = portfolio
        self._date: list[dt.date] = []
        self._cash: list[float] = []
        self._market_value: list[float] = []
        self._bench_close: list[float] = []
        self._units: list[float] = []
        # Position rows, one list per raw field, filled with C-level extend(map(...)).
        self._pos_date: list[dt.date] = []
        self._pos_oid: list[str] = []
        self._pos_fields: dict[str, list[Any]] = {name: [] for name in _POS_FIELDS}
        self._bench_base: float | None = None
        if self._bench is not None:
            feed = self._bench
            base = feed.prev_close(0) if feed.has_bar[0] else feed.last_close(0)
            if base is None and feed.has_bar[0]:
                base = feed.open_l[feed.known[0] - 1]
            if base is None:
                first = start
                raise DataUnavailable(
                    f"benchmark {feed.instrument.order_book_id} has no bar on or before {first}"
                )
            self._bench_base = base

    def record(self, t: int, day: dt.date) -> None:
        """Append session ``t`` (``day``): cash, market value, units, benchmark, positions."""
        pf = self._portfolio
        self._date.append(day)
        self._cash.append(pf.cash)
        self._market_value.append(pf._market_value)
        self._units.append(pf.units)
        if self._bench is not None:
            close = self._bench.last_close(t)
            assert close is not None
            self._bench_close.append(close)
        positions = pf.positions
        if positions:
            self._pos_date.extend(repeat(day, len(positions)))
            self._pos_oid.extend(positions)
            held = positions.values()
            for name, column in self._pos_fields.items():
                column.extend(map(_POS_GETTERS[name], held))

    def finish(self) -> None:
        """Derive the result's portfolio and position columns from the raw values."""
        result = self._result
        start = self._portfolio.starting_cash
        cash, market_value = self._cash, self._market_value
        total = [c + m for c, m in zip(cash, market_value, strict=True)]  # == total_value
        n = len(total)
        if all(u == start for u in self._units):
            nav = [v / start for v in total]
            returns = _returns(total, start)
        else:  # deposits or withdrawals: NAV per unit, so that cash flows are no returns
            nav = [v / u for v, u in zip(total, self._units, strict=True)]
            returns = _returns(nav, 1.0)
        if self._bench is not None and self._bench_base is not None:
            closes = self._bench_close
            base = self._bench_base
            bench_nav = [c / base for c in closes]
            bench_returns = _returns(closes, base)
        else:
            closes, bench_nav, bench_returns = ([np.nan] * n for _ in range(3))
        result.portfolio = {
            "date": self._date,
            "cash": cash,
            "market_value": market_value,
            "total_value": total,
            "nav": nav,
            "returns": returns,
            "benchmark_close": closes,
            "benchmark_nav": bench_nav,
            "benchmark_returns": bench_returns,
        }
        f = self._pos_fields
        quantity, last_price = f["quantity"], f["last_price"]
        if self._portfolio._t_plus:  # == Position.sellable
            sellable = [q - b for q, b in zip(quantity, f["bought_today"], strict=True)]
        else:
            sellable = list(quantity)
        result.positions = {
            "date": self._pos_date,
            "order_book_id": self._pos_oid,
            "quantity": quantity,
            "sellable": sellable,
            "avg_price": f["avg_price"],
            "last_price": last_price,
            # == Position.market_value
            "market_value": [q * p for q, p in zip(quantity, last_price, strict=True)],
        }


def _returns(values: list[float], first_previous: float) -> list[float]:
    """``values[i] / values[i - 1] - 1``, with ``first_previous`` before ``values[0]``."""
    previous = [first_previous, *values[:-1]]
    return [v / p - 1.0 for v, p in zip(values, previous, strict=True)]
