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

import contextlib
import functools
import itertools
import sys
import types
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantdesk.backtest.engines.backtrader_book import Book
from quantdesk.backtest.spec import EngineRun, LogSink, ProgressCallback
from quantdesk.core.errors import (
    DataUnavailable,
    EngineUnavailable,
    InvalidArgument,
    QuantdeskError,
)
from quantdesk.core.instruments import MARKET_CALENDAR, InstrumentType
from quantdesk.core.version import package_version
from quantdesk.engine import (
    BarSeries,
    EngineConfig,
    Matching,
    PrintToLog,
    exec_source,
    resolve_params,
    user_error,
)

if TYPE_CHECKING:
    from quantdesk.backtest.spec import PreparedBacktest

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
    book = Book(bt, config, ids, sessions.astype("datetime64[D]").tolist(), progress, log_sink)
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
    printer = PrintToLog(book)
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
    """A fresh module for the strategy, in ``sys.modules`` while it runs.

    Backtrader's metaclasses look classes' modules up there.
    """
    name = f"quantdesk_bt_strategy_{next(_MODULE_IDS)}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        yield module
    finally:
        sys.modules.pop(name, None)


def _exec(source: str, filename: str, module: types.ModuleType) -> None:
    module.__file__ = filename
    exec_source(source, filename, module.__dict__)


def _pick_strategy(bt: Any, module: types.ModuleType, filename: str) -> Any:
    """The strategy class.

    The only ``bt.Strategy`` subclass defined in the file, else the one named by ``STRATEGY``
    (a class or its name).
    """
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
    """The analyzer and commission classes.

    Created once: backtrader registers derived classes in their module.
    """

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

        def _getcommission(
            self,
            size: float,
            price: float,
            pseudoexec: bool,  # noqa: ARG002 (backtrader's signature)
        ) -> float:
            value = abs(size) * price
            if value <= 0:
                return 0.0
            fee = max(value * self.p.commission, self.p.minimum)
            if size < 0 and self.p.taxed:
                fee += value * self.p.book.tax_rate()
            return float(fee)

    return Recorder, Costs
