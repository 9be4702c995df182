"""The backtrader engine adapter: one ``bt.Strategy`` subclass on real backtrader, in process.

How a run maps onto backtrader (``Cerebro(stdstats=False)``, preloaded, ``runonce``):

* Feeds: one ``bt.feeds.PandasData`` per universe symbol, in order, named by its
  ``order_book_id``: ``self.datas`` is the universe and nothing else (``self.data`` is the
  first symbol), so a strategy looping over ``self.datas`` trades only the universe. The
  benchmark is not a feed (its result columns come from the catalog bars, below); a
  benchmark that is also in the universe is a feed as a universe symbol. Feeds hold the bars
  of ``[start, end]`` only, so indicators warm up inside the window (``prenext``) as with
  backtrader's ``fromdate``; the native engine's ``history_bars`` also sees bars before
  ``start``. backtrader calls ``next`` only once every feed has a bar: a symbol listed inside
  the window keeps the strategy in ``prenext`` (check ``len(data)`` there: a feed without a
  bar yet reads stale values).
* Broker: ``setcash(cash)``; a ``CommInfoBase`` per feed (by name) charging ``max(value *
  commission, min_commission)`` per fill plus, on sells of stocks, ``value *
  profile.tax_rate(day)``; ``set_slippage_perc(slippage)`` on market orders, clipped to the
  bar's high/low; ``fillers.FixedBarPerc(volume_limit)`` (the unfilled rest stays open for
  later bars, where the native engine cancels it). ``current_bar`` is cheat-on-close
  (``set_coc(True)``): a market order fills at its signal bar's close, dated that session;
  backtrader executes it when the next bar arrives, so one placed on the last session never
  fills (it ends CANCELLED, expired) and the volume cap and slippage clip use the next bar.
  ``next_bar`` is backtrader's default, the next bar's open.
* Not applied by backtrader: cn_stock's T+1, round lots and price limits (a WARNING log line
  says so at the start of such runs); short selling is backtrader's to allow; the sizing
  helpers (``order_target_*``) do not reserve commission, so a buy of all the cash with costs
  is rejected for cash (Margin) where the native engine shrinks it.
* Strategy: a module-level ``STRATEGY`` picks the class: any ``bt.Strategy`` subclass
  (defined in the file, imported, or backtrader's own such as ``bt.strategies.SMA_CrossOver``)
  or the name of one (``STRATEGY = "Name"``). Without it the file must define exactly one
  ``bt.Strategy`` subclass (several -> ``InvalidArgument`` naming them and how to pick one).
  The run's params go to its ``params`` (string values are converted to the default's
  type). ``print()`` becomes ``"YYYY-MM-DD INFO message"``.
* ``configure(cerebro)``: a module-level function called once the feeds, broker (cash,
  commission, slippage, filler), our recording analyzer and the strategy are set, just
  before ``cerebro.run()``. What it adds is applied: sizers (``cerebro.addsizer``),
  analyzers, observers, commission schemes, broker settings. A commission scheme set there
  wins over ours: ``broker.setcommission(...)`` / ``addcommissioninfo(comm)`` (the default
  scheme) replaces ours on every feed, ``addcommissioninfo(comm, name=order_book_id)`` on that
  feed; a fill under the user's scheme records its whole charge as commission (tax 0). It
  must not add or remove feeds or strategies, nor change the starting cash
  (``InvalidArgument``); an exception in it is a ``StrategyError`` with the user's traceback.
* Analyzers added by the user: after the run each one's ``get_analysis()``, made JSON-safe
  (dicts, ISO dates, NaN -> ``None``), keyed by backtrader's analyzer name (``_name=`` or the
  class name in lower case), is the run's ``reference`` as ``{"analyzers": {name:
  analysis}}`` (``BacktestResult.reference``, ``engine_summary`` in ``result.json``) and one
  log line each, ``"<last date> INFO analyzer <name>: <json>"``. ``reference`` stays ``None``
  without user analyzers.
* Records (our ``EngineResult``): an analyzer records backtrader's broker cash, value and
  positions after every step (warm-up included), fills from the order notifications (with
  the commission/tax split and realized P/L with costs in the basis, as native) and every
  order's final status (Margin -> REJECTED ``cash``, Canceled -> CANCELLED ``user``,
  Expired/still open -> CANCELLED ``expired``, a partial fill still open -> CANCELLED
  ``volume``). A session where no universe feed has a bar keeps the last step's values. The
  benchmark columns come from the catalog bars (base: the close before ``start``), as native.
"""

from __future__ import annotations

import contextlib
import functools
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantdesk.backtest.engines.backtrader_book import Book
from quantdesk.backtest.engines.backtrader_strategy import (
    call_configure,
    exec_module,
    pick_strategy,
    strategy_module,
    strategy_params,
    user_analyses,
)
from quantdesk.backtest.spec import EngineRun, LogSink, ProgressCallback
from quantdesk.core.errors import DataUnavailable, EngineUnavailable, QuantdeskError
from quantdesk.core.instruments import MARKET_CALENDAR, InstrumentType
from quantdesk.core.version import package_version
from quantdesk.engine import BarSeries, EngineConfig, Matching, PrintToLog, user_error

if TYPE_CHECKING:
    from quantdesk.backtest.spec import PreparedBacktest


def run_backtrader(
    prepared: PreparedBacktest,
    *,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
) -> EngineRun:
    """Run the ``bt.Strategy`` subclass of ``prepared.source`` on backtrader.

    Returns:
        An ``EngineRun`` named ``backtrader`` (version of the installed package) whose
        ``raw`` has a portfolio row per session of ``[start, end]`` and whose ``reference``
        is ``{"analyzers": {name: analysis}}`` when ``configure`` added analyzers.

    Raises:
        EngineUnavailable: backtrader is not installed.
        StrategySyntaxError: the source does not parse.
        StrategyError: the strategy or ``configure`` raised (traceback restricted to its own
            frames).
        InvalidArgument: no/several strategy classes without ``STRATEGY``, unknown params,
            ``configure`` changed the feeds, strategies or cash.
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
    series = {oid: source.bars(oid, config.end) for oid in ids}
    bench_id = config.benchmark
    bench: BarSeries | None = None  # not a feed: only the result's benchmark columns read it
    if bench_id:
        bench = series[bench_id] if bench_id in series else source.bars(bench_id, config.end)
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
    ours: dict[str, Any] = {}
    for oid in ids:
        cerebro.adddata(_feed(bt, series[oid], config), name=oid)
        stock = source.instrument(oid).type is InstrumentType.STOCK
        ours[oid] = costs_cls(
            commission=prof.commission, minimum=prof.min_commission, taxed=stock, book=book
        )
        broker.addcommissioninfo(ours[oid], name=oid)
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
    with strategy_module() as module, contextlib.redirect_stdout(printer):
        exec_module(prepared.source, filename, module)
        strategy_cls = pick_strategy(bt, module, filename)
        cerebro.addstrategy(strategy_cls, **strategy_params(strategy_cls, config.params))
        default_comm = broker.comminfo.get(None)
        call_configure(cerebro, module, filename, config.cash)
        _user_commission_wins(cerebro.broker, ours, default_comm)
        try:
            strategy = cerebro.run()[0]
        except QuantdeskError:
            raise
        except (Exception, SystemExit) as exc:
            raise user_error(exc, filename, "while running on backtrader") from exc
        printer.flush()
        analyses = user_analyses(strategy, recorder_cls, filename)
    for name, analysis in analyses.items():
        book.log("INFO", f"analyzer {name}: {json.dumps(analysis, allow_nan=False)}")
    raw = book.result(cerebro.broker.orders, bench)
    if progress is not None:
        progress(len(book.sessions), len(book.sessions))
    return EngineRun(
        raw=raw,
        engine="backtrader",
        engine_version=package_version("backtrader"),
        reference={"analyzers": analyses} if analyses else None,
    )


def _user_commission_wins(broker: Any, ours: dict[str, Any], default_before: Any) -> None:
    """Drop our per-feed schemes when ``configure`` set a default one (``name=None``).

    backtrader prefers a feed's own scheme over the default; a per-feed scheme of the user
    already replaced ours under the same name.
    """
    if broker.comminfo.get(None) is default_before:
        return
    for oid, costs in ours.items():
        if broker.comminfo.get(oid) is costs:
            del broker.comminfo[oid]


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
