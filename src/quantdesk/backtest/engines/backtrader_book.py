"""Bookkeeping of a backtrader run: daily broker states, fills, orders, logs -> our columns.

Used by ``quantdesk.backtest.engines.backtrader``; see its docstring for the mapping rules.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
from typing import Any

from quantdesk.backtest.engines.benchmark import benchmark_closes
from quantdesk.backtest.spec import LogSink, ProgressCallback
from quantdesk.engine import (
    BarSeries,
    EngineConfig,
    EngineResult,
    Fill,
    Matching,
    Order,
    OrderStatus,
    RejectReason,
    Side,
)


class Step:
    """Broker state after one backtrader step: cash, value, closes and positions."""

    __slots__ = ("cash", "closes", "date", "positions", "value")

    def __init__(self, date: dt.date, cash: float, value: float, closes: list[float]) -> None:
        self.date, self.cash, self.value, self.closes = date, cash, value, closes
        self.positions: dict[int, list[float]] = {}  # feed index -> [size, avg_price]

    def apply(self, index: int, size: float, price: float, comm: float) -> None:
        """Book a fill dated this step that backtrader executed later (cheat-on-close)."""
        qty, avg = self.positions.get(index, [0.0, 0.0])
        new = qty + size
        if new == 0:
            self.positions.pop(index, None)
        else:
            if qty * size >= 0:
                avg = (qty * avg + size * price) / new
            elif qty * new < 0:
                avg = price
            self.positions[index] = [new, avg]
        self.cash -= size * price + comm
        self.value += size * (self.closes[index] - price) - comm


class Book:
    """What the analyzer sees: daily broker states, fills with P/L, and the log."""

    def __init__(self, bt: Any, config: EngineConfig, ids: list[str], sessions: list[dt.date],
                 progress: ProgressCallback | None, log_sink: LogSink | None) -> None:  # fmt: skip
        self._bt, self.config, self.ids, self.sessions = bt, config, ids, sessions
        self._progress, self._log_sink = progress, log_sink
        self.datas: list[Any] = []
        self.steps: list[Step] = []
        self.logs: list[str] = []
        self._coc = config.matching is Matching.CURRENT_BAR
        self._fills: list[tuple[int, Fill]] = []  # (order ref, fill with order_id 0)
        self._basis: dict[int, list[float]] = {}  # feed index -> [quantity, cost incl. costs]

    def index(self, data: Any) -> int:
        """The position of ``data`` in the feeds (by identity: lines overload ``==``)."""
        return next(i for i, d in enumerate(self.datas) if d is data)

    def today(self) -> dt.date:
        """The date of the bar being processed (``start`` before the first one)."""
        stamps = [d.datetime[0] for d in self.datas if len(d)]
        if not stamps:
            return self.config.start
        day: dt.date = self._bt.num2date(max(stamps)).date()
        return day

    def tax_rate(self) -> float:
        """The sell tax rate of the fill being charged (cheat-on-close: the signal day)."""
        day = self.steps[-1].date if self._coc and self.steps else self.today()
        return self.config.profile.tax_rate(day)

    def log(self, level: str, message: str) -> None:
        """Keep ``message`` as a ``"<date> <level> <message>"`` line, passed on to the log sink."""
        line = f"{self.today().isoformat()} {level} {message}"
        self.logs.append(line)
        if self._log_sink is not None:
            self._log_sink(line)

    def record(self, broker: Any) -> None:
        """Store the broker state after the strategy's step (analyzer ``next``)."""
        day = self.today()
        closes = [float(d.close[0]) if len(d) else math.nan for d in self.datas]
        step = Step(day, float(broker.getcash()), float(broker.getvalue()), closes)
        for i, data in enumerate(self.datas):
            pos = broker.positions.get(data)
            if pos is not None and pos.size:
                step.positions[i] = [float(pos.size), float(pos.price)]
        self.steps.append(step)
        if self._progress is not None:
            self._progress(bisect.bisect_right(self.sessions, day), len(self.sessions))

    def notify(self, order: Any) -> None:
        """Book the executions of an order notification (analyzer ``notify_order``)."""
        index = self.index(order.data)
        buy = bool(order.isbuy())
        for bit in order.executed.iterpending():
            size, price, comm = float(bit.size), float(bit.price), float(bit.comm)
            if not size:
                continue
            day = self._bt.num2date(bit.dt).date()
            for step in reversed(self.steps):  # cheat-on-close fills dated a recorded step
                if step.date < day:
                    break
                step.apply(index, size, price, comm)
            value = abs(size) * price
            profile = self.config.profile
            fee = min(comm, max(value * profile.commission, profile.min_commission))
            if not self._ours(order.comminfo):
                fee = comm  # the user's scheme (configure): no tax split known
            pnl = self._realize(index, size, price, comm)
            fill = Fill(
                dt.datetime.combine(day, profile.close_time), 0, self.ids[index],
                Side.BUY if buy else Side.SELL, round(abs(size)), price, fee, comm - fee,
                _reason(self._bt, order, self._coc, profile.slippage), pnl,
            )  # fmt: skip
            self._fills.append((order.ref, fill))

    def _ours(self, comminfo: Any) -> bool:
        """Whether ``comminfo`` is the adapter's scheme of this run (not one of the user's)."""
        params = getattr(comminfo, "p", None)
        return getattr(params, "book", None) is self

    def _realize(self, index: int, size: float, price: float, costs: float) -> float:
        """Realized P/L of a fill that reduces a position (costs of both legs included)."""
        qty, cost = self._basis.get(index, [0.0, 0.0])
        if qty * size >= 0:  # opening or adding
            self._basis[index] = [qty + size, cost + size * price + costs]
            return 0.0
        closed = math.copysign(min(abs(size), abs(qty)), size)
        share = costs * closed / size
        basis = cost * -closed / qty
        pnl = -closed * price - share - basis
        rest = size - closed
        qty, cost = qty + closed, cost - basis
        if rest:
            qty, cost = rest, rest * price + costs - share
        self._basis[index] = [qty, cost] if qty else [0.0, 0.0]
        return float(pnl)

    def result(self, bt_orders: list[Any], bench: BarSeries | None) -> EngineResult:
        """The engine-neutral columns: a row per session, fills, orders and logs."""
        config = self.config
        refs = {o.ref: n for n, o in enumerate(sorted(bt_orders, key=lambda o: o.ref), 1)}
        fills = [dataclasses.replace(f, order_id=refs.get(ref, 0)) for ref, f in self._fills]
        orders = [self._order(refs[o.ref], o) for o in sorted(bt_orders, key=lambda o: o.ref)]
        p: dict[str, list[Any]] = {k: [] for k in _PORTFOLIO}
        pos: dict[str, list[Any]] = {k: [] for k in _POSITIONS}
        by_date = {s.date: s for s in self.steps}
        last: Step | None = None
        prev_total = config.cash
        closes, base = benchmark_closes(bench, self.sessions)
        prev_bench = base
        for day, bclose in zip(self.sessions, closes, strict=True):
            last = by_date.get(day, last)
            cash, total = (last.cash, last.value) if last else (config.cash, config.cash)
            row = (day, cash, total - cash, total, total / config.cash, total / prev_total - 1.0,
                   bclose, bclose / base, bclose / prev_bench - 1.0)  # fmt: skip
            for key, value in zip(_PORTFOLIO, row, strict=True):
                p[key].append(value)
            prev_total, prev_bench = total, bclose
            for i, (qty, avg) in last.positions.items() if last else ():
                price = last.closes[i] if last and not math.isnan(last.closes[i]) else avg
                held = (day, self.ids[i], round(qty), round(qty), avg, price, qty * price)
                for key, value in zip(_POSITIONS, held, strict=True):
                    pos[key].append(value)
        plots: dict[str, list[Any]] = {"date": [], "name": [], "value": []}
        return EngineResult(p, pos, fills, orders, plots, self.logs)

    def _order(self, order_id: int, o: Any) -> Order:
        bt = self._bt
        created = dt.datetime.combine(
            bt.num2date(o.created.dt).date(), self.config.profile.close_time
        )
        limit = {bt.Order.Limit: o.created.price, bt.Order.StopLimit: o.created.pricelimit}.get(
            o.exectype
        )
        side = Side.BUY if o.isbuy() else Side.SELL
        out = Order(order_id, self.ids[self.index(o.data)], side,
                    round(abs(o.created.size)), limit, created)  # fmt: skip
        out.filled_quantity = round(abs(o.executed.size))
        out.avg_price = float(o.executed.price) if o.executed.size else 0.0
        out.transaction_cost = float(o.executed.comm)
        final = _FINAL.get(o.getstatusname(), _FINAL["Accepted"])
        out.status, out.reject_reason, out.message = final
        if out.reject_reason is RejectReason.VOLUME:
            out.message = f"filled {out.filled_quantity} of {out.quantity}; {final[2]}"
        return out


#: backtrader's final order status -> (status, reason, message); FILLED has no reason.
_FINAL: dict[str, tuple[OrderStatus, RejectReason | None, str]] = {
    "Completed": (OrderStatus.FILLED, None, ""),
    "Margin": (OrderStatus.REJECTED, RejectReason.CASH, "not enough cash to fill (Margin)"),
    "Rejected": (OrderStatus.REJECTED, RejectReason.USER, "rejected by backtrader's broker"),
    "Canceled": (OrderStatus.CANCELLED, RejectReason.USER, "cancelled by the strategy"),
    "Expired": (OrderStatus.CANCELLED, RejectReason.EXPIRED, "its validity expired"),
    "Partial": (OrderStatus.CANCELLED, RejectReason.VOLUME, "the rest was still open at the end"),
    "Accepted": (OrderStatus.CANCELLED, RejectReason.EXPIRED, "still open when the backtest ended"),
}
_PORTFOLIO = (
    "date", "cash", "market_value", "total_value", "nav", "returns",
    "benchmark_close", "benchmark_nav", "benchmark_returns",
)  # fmt: skip
_POSITIONS = (
    "date", "order_book_id", "quantity", "sellable", "avg_price", "last_price", "market_value",
)  # fmt: skip


def _reason(bt: Any, order: Any, coc: bool, slippage: float) -> str:
    kind = order.exectype
    if kind == bt.Order.Market:
        rule = "current_bar close" if coc else "next_bar open"
        return rule + (f" + slippage {slippage:g}" if slippage else "")
    return str(order.getordername()).lower()
