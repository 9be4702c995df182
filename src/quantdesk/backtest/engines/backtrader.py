"""The backtrader engine adapter: one ``bt.Strategy`` subclass on real backtrader, in process.

How a run maps onto backtrader (``Cerebro(stdstats=False)``, preloaded, ``runonce``):

* Feeds: one ``bt.feeds.PandasData`` per universe symbol, in order, named by its
  ``order_book_id`` (``self.data`` is the first), then the benchmark if it is not in the
  universe. Feeds hold the bars of ``[start, end]`` only, so indicators warm up inside the
  window (``prenext``) as with backtrader's ``fromdate``; the native engine's
  ``history_bars`` also sees bars before ``start``. backtrader calls ``next`` only once every
  feed has a bar: a symbol listed inside the window keeps the strategy in ``prenext`` (check
  ``len(data)`` there: a feed without a bar yet reads stale values).
* Broker: ``setcash(cash)``; a ``CommInfoBase`` per feed charging ``max(value * commission,
  min_commission)`` per fill plus, on sells of stocks, ``value * profile.tax_rate(day)``;
  ``set_slippage_perc(slippage)`` on market orders, clipped to the bar's high/low;
  ``fillers.FixedBarPerc(volume_limit)`` (the unfilled rest stays open for later bars, where
  the native engine cancels it). ``current_bar`` is cheat-on-close (``set_coc(True)``): a
  market order fills at its signal bar's close, dated that session; backtrader executes it
  when the next bar arrives, so one placed on the last session never fills (it ends
  CANCELLED, expired) and the volume cap and slippage clip use the next bar. ``next_bar`` is
  backtrader's default, the next bar's open.
* Not applied by backtrader: cn_stock's T+1, round lots and price limits (a WARNING log line
  says so at the start of such runs); short selling is backtrader's to allow; the sizing
  helpers (``order_target_*``) do not reserve commission, so a buy of all the cash with costs
  is rejected for cash (Margin) where the native engine shrinks it.
* Strategy: exactly one ``bt.Strategy`` subclass defined in the file, or the one named by a
  module-level ``STRATEGY = ClassName``. The run's params go to its ``params`` (string values
  are converted to the default's type). ``print()`` becomes ``"YYYY-MM-DD INFO message"``.
* Records (our ``EngineResult``): an analyzer records backtrader's broker cash, value and
  positions after every step (warm-up included), fills from the order notifications (with
  the commission/tax split and realized P/L with costs in the basis, as native) and every
  order's final status (Margin -> REJECTED ``cash``, Canceled -> CANCELLED ``user``,
  Expired/still open -> CANCELLED ``expired``, a partial fill still open -> CANCELLED
  ``volume``). The benchmark columns come from the catalog bars (base: the close before
  ``start``), as native.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import datetime as dt
import functools
import io
import itertools
import linecache
import math
import sys
import types
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantdesk.backtest.engines import EngineRun, LogSink, ProgressCallback
from quantdesk.core.errors import (
    DataUnavailable,
    EngineUnavailable,
    InvalidArgument,
    QuantdeskError,
    StrategySyntaxError,
)
from quantdesk.core.instruments import MARKET_CALENDAR, InstrumentType
from quantdesk.core.version import package_version
from quantdesk.engine import BarSeries, EngineConfig, EngineResult, Matching
from quantdesk.engine.records import Fill, Order, OrderStatus, RejectReason, Side
from quantdesk.engine.strategy import resolve_params, user_error

if TYPE_CHECKING:
    from quantdesk.backtest.run import PreparedBacktest

_MODULE_IDS = itertools.count(1)


def run_backtrader(
    prepared: PreparedBacktest,
    *,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
) -> EngineRun:
    """Run the ``bt.Strategy`` subclass of ``prepared.source`` on backtrader.

    Returns:
        An ``EngineRun`` named ``backtrader`` (version of the installed package) whose
        ``raw`` has a portfolio row per session of ``[start, end]``.

    Raises:
        EngineUnavailable: backtrader is not installed.
        StrategySyntaxError: the source does not parse.
        StrategyError: the strategy raised (traceback restricted to its own frames).
        InvalidArgument: no/several strategy classes without ``STRATEGY``, unknown params.
        DataUnavailable: no sessions, or a symbol without bars in the window.
    """
    try:
        import backtrader as bt  # type: ignore[import-untyped]
    except ImportError:
        raise EngineUnavailable(
            "engine backtrader needs the backtrader package: pip install quantdesk[backtrader]"
        ) from None
    config = prepared.config
    source = prepared.bar_source()
    sessions = source.sessions(MARKET_CALENDAR[config.profile.market], config.start, config.end)
    if len(sessions) == 0:
        raise DataUnavailable(f"no trading sessions between {config.start} and {config.end}")
    ids = list(dict.fromkeys(config.universe))
    if config.benchmark and config.benchmark not in ids:
        ids.append(config.benchmark)
    series = {oid: source.bars(oid, config.end) for oid in ids}
    book = _Book(bt, config, ids, sessions.astype("datetime64[D]").tolist(), progress, log_sink)
    prof = config.profile
    rules = [name for name, on in (
        ("T+1", prof.t_plus > 0), ("round lots", prof.use_lots),
        ("price limits", prof.price_limit is not None),
    ) if on]  # fmt: skip
    if rules:
        book.log("WARNING", f"backtrader does not apply {prof.name} rules ({', '.join(rules)}); "
                            "orders fill without them")  # fmt: skip
    recorder_cls, costs_cls = _bt_classes(bt)
    cerebro = bt.Cerebro(stdstats=False, maxcpus=1)
    broker = cerebro.broker
    for oid in ids:
        cerebro.adddata(_feed(bt, series[oid], config), name=oid)
        stock = source.instrument(oid).type is InstrumentType.STOCK
        costs = costs_cls(
            commission=prof.commission, minimum=prof.min_commission, taxed=stock, book=book
        )
        broker.addcommissioninfo(costs, name=oid)
    book.datas = list(cerebro.datas)
    broker.setcash(config.cash)
    broker.set_coc(config.matching is Matching.CURRENT_BAR)
    if prof.slippage:
        broker.set_slippage_perc(prof.slippage, slip_limit=False)
    if prof.volume_limit is not None:
        broker.set_filler(bt.fillers.FixedBarPerc(perc=prof.volume_limit * 100))
    cerebro.addanalyzer(recorder_cls, book=book)
    filename = prepared.filename
    printer = _PrintToLog(book)
    if progress is not None:
        progress(0, len(book.sessions))
    with _strategy_module() as module, contextlib.redirect_stdout(printer):
        _exec(prepared.source, filename, module)
        strategy_cls = _pick_strategy(bt, module, filename)
        cerebro.addstrategy(strategy_cls, **_params(strategy_cls, config.params))
        try:
            cerebro.run()
        except QuantdeskError:
            raise
        except (Exception, SystemExit) as exc:
            raise user_error(exc, filename, "while running on backtrader") from exc
        printer.flush()
    raw = book.result(broker.orders, series.get(config.benchmark or ""))
    if progress is not None:
        progress(len(book.sessions), len(book.sessions))
    return EngineRun(raw=raw, engine="backtrader", engine_version=package_version("backtrader"))


def _feed(bt: Any, bars: BarSeries, config: EngineConfig) -> Any:
    start, end = np.datetime64(config.start, "D"), np.datetime64(config.end, "D")
    keep = (bars.dates >= start) & (bars.dates <= end)
    if not keep.any():
        raise DataUnavailable(
            f"{bars.order_book_id} has no bars between {config.start} and {config.end}"
        )
    frame = pd.DataFrame(
        {name: getattr(bars, name)[keep] for name in ("open", "high", "low", "close", "volume")},
        index=pd.DatetimeIndex(bars.dates[keep].astype("datetime64[ns]")),
    )
    return bt.feeds.PandasData(dataname=frame, openinterest=None, timeframe=bt.TimeFrame.Days)


@contextlib.contextmanager
def _strategy_module() -> Iterator[types.ModuleType]:
    """A fresh module for the strategy, in ``sys.modules`` while it runs (backtrader's
    metaclasses look classes' modules up there)."""
    name = f"quantdesk_bt_strategy_{next(_MODULE_IDS)}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        yield module
    finally:
        sys.modules.pop(name, None)


def _exec(source: str, filename: str, module: types.ModuleType) -> None:
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        detail = (exc.text or "").strip()
        message = f"syntax error in {filename} line {exc.lineno}: {exc.msg}"
        if detail:
            message += f"\n    {detail}"
        raise StrategySyntaxError(message, exc.lineno, exc.offset) from None
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module.__file__ = filename
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        raise user_error(exc, filename, "while loading the strategy") from exc


def _pick_strategy(bt: Any, module: types.ModuleType, filename: str) -> Any:
    """The strategy class: the only ``bt.Strategy`` subclass defined in the file, else the
    one named by ``STRATEGY`` (a class or its name)."""
    found = {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, type)
        and issubclass(obj, bt.Strategy)
        and obj.__module__ == module.__name__
    }
    chosen = vars(module).get("STRATEGY")
    if chosen is not None:
        if isinstance(chosen, str):
            chosen = found.get(chosen, chosen)
        if not (isinstance(chosen, type) and issubclass(chosen, bt.Strategy)):
            raise InvalidArgument(
                f"{filename}: STRATEGY must name a backtrader.Strategy subclass, got {chosen!r}"
            )
        return chosen
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise InvalidArgument(f"{filename} defines no backtrader.Strategy subclass")
    raise InvalidArgument(
        f"{filename} defines several backtrader strategies ({', '.join(sorted(found))}); "
        "name the one to run with STRATEGY = ClassName"
    )


def _params(strategy_cls: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    keys, values = strategy_cls.params._getkeys(), strategy_cls.params._getdefaults()
    defaults = dict(zip(keys, values, strict=True))
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "none"
        raise InvalidArgument(
            f"unknown parameter {unknown[0]!r}; {strategy_cls.__name__}.params are: {valid}"
        )
    merged = resolve_params(defaults, given)
    return {name: merged[name] for name in given}


@functools.cache
def _bt_classes(bt: Any) -> tuple[Any, Any]:
    """The analyzer and commission classes (created once: backtrader registers derived
    classes in their module)."""

    class Recorder(bt.Analyzer):  # type: ignore[misc]
        params = (("book", None),)

        def next(self) -> None:
            self.p.book.record(self.strategy.broker)

        def notify_order(self, order: Any) -> None:
            self.p.book.notify(order)

    class Costs(bt.CommInfoBase):  # type: ignore[misc]
        params = (
            ("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True),
            ("minimum", 0.0), ("taxed", False), ("book", None),
        )  # fmt: skip

        def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
            value = abs(size) * price
            if value <= 0:
                return 0.0
            fee = max(value * self.p.commission, self.p.minimum)
            if size < 0 and self.p.taxed:
                fee += value * self.p.book.tax_rate()
            return float(fee)

    return Recorder, Costs


class _PrintToLog(io.TextIOBase):
    """``print()`` in the strategy becomes an ``INFO`` log line dated by the current bar."""

    def __init__(self, book: _Book) -> None:
        self._book = book
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._book.log("INFO", line)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._book.log("INFO", self._partial)
            self._partial = ""


class _Step:
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


class _Book:
    """What the analyzer sees: daily broker states, fills with P/L, and the log."""

    def __init__(self, bt: Any, config: EngineConfig, ids: list[str], sessions: list[dt.date],
                 progress: ProgressCallback | None, log_sink: LogSink | None) -> None:  # fmt: skip
        self._bt, self.config, self.ids, self.sessions = bt, config, ids, sessions
        self._progress, self._log_sink = progress, log_sink
        self.datas: list[Any] = []
        self.steps: list[_Step] = []
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
        line = f"{self.today().isoformat()} {level} {message}"
        self.logs.append(line)
        if self._log_sink is not None:
            self._log_sink(line)

    def record(self, broker: Any) -> None:
        """Store the broker state after the strategy's step (analyzer ``next``)."""
        day = self.today()
        closes = [float(d.close[0]) if len(d) else math.nan for d in self.datas]
        step = _Step(day, float(broker.getcash()), float(broker.getvalue()), closes)
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
            pnl = self._realize(index, size, price, comm)
            fill = Fill(
                dt.datetime.combine(day, profile.close_time), 0, self.ids[index],
                Side.BUY if buy else Side.SELL, round(abs(size)), price, fee, comm - fee,
                _reason(self._bt, order, self._coc, profile.slippage), pnl,
            )  # fmt: skip
            self._fills.append((order.ref, fill))

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
        last: _Step | None = None
        prev_total = config.cash
        closes, base = _bench_closes(bench, self.sessions)
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


def _bench_closes(bench: BarSeries | None, sessions: list[dt.date]) -> tuple[list[float], float]:
    """Benchmark close per session (last known) and the nav base: the close before the
    first session, else that session's open."""
    if bench is None:
        return [math.nan] * len(sessions), math.nan
    known = np.searchsorted(bench.dates, np.array(sessions, dtype="datetime64[D]"), "right")
    first = int(np.searchsorted(bench.dates, np.datetime64(sessions[0], "D")))
    if not known[0]:
        raise DataUnavailable(f"benchmark {bench.order_book_id} has no bar by {sessions[0]}")
    base = float(bench.close[first - 1] if first else bench.open[0])
    return [float(bench.close[k - 1]) if k else base for k in known], base


def _reason(bt: Any, order: Any, coc: bool, slippage: float) -> str:
    kind = order.exectype
    if kind == bt.Order.Market:
        rule = "current_bar close" if coc else "next_bar open"
        return rule + (f" + slippage {slippage:g}" if slippage else "")
    return str(order.getordername()).lower()
