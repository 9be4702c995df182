"""The event loop of one backtest: sessions, strategy hooks, matching and daily records."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
from collections.abc import Callable
from itertools import repeat
from operator import attrgetter
from typing import Any, Protocol

import numpy as np

from quantdesk.core.errors import DataUnavailable, InvalidArgument, StrategyError
from quantdesk.core.instruments import MARKET_CALENDAR
from quantdesk.engine.api import StrategyAPI
from quantdesk.engine.broker import Broker
from quantdesk.engine.config import PRE_OPEN_PHASES, EngineConfig, Matching
from quantdesk.engine.feeds import BarMap, Feed
from quantdesk.engine.portfolio import Portfolio
from quantdesk.engine.ports import BarSource
from quantdesk.engine.records import EngineResult
from quantdesk.engine.strategy import Strategy, compile_strategy, resolve_params, shim_rqalpha

ProgressCallback = Callable[[int, int], None]
#: Called after each session with its date and the portfolio's NAV (``total_value / cash``).
SessionCallback = Callable[[dt.date, float], None]
LogSink = Callable[[str], None]


class Context:
    """``context`` in the strategy: the portfolio, the clock, parameters, and user state.

    Attributes:
        portfolio: Cash, positions and values (see ``Portfolio``).
        now: Datetime of the current bar (session date at the market's close time).
        params: Strategy parameters (``PARAMS`` defaults merged with the run's params).
        universe: Instruments in ``bar_dict``.
    """

    def __init__(self, engine: Engine, params: dict[str, Any]) -> None:
        self._engine = engine
        self.params = params

    @property
    def portfolio(self) -> Portfolio:
        """Cash, positions and values (see ``Portfolio``)."""
        return self._engine.portfolio

    @property
    def now(self) -> dt.datetime:
        """Datetime of the current bar (session date at the market's close time)."""
        return self._engine.now

    @property
    def universe(self) -> list[str]:
        """Instruments in ``bar_dict`` (a copy: changing it changes nothing)."""
        return list(self._engine.universe)

    @property
    def stock_account(self) -> Portfolio:
        """RQAlpha's stock account (the only account here)."""
        return self._engine.portfolio


class Engine:
    """Runs one strategy over ``config``'s sessions on bars from ``source``.

    Usage: ``Engine(source, config).run(source_text, filename)`` returns an ``EngineResult``.
    The engine is single-use and deterministic: the same inputs give the same result.
    """

    def __init__(
        self,
        source: BarSource,
        config: EngineConfig,
        *,
        progress: ProgressCallback | None = None,
        log_sink: LogSink | None = None,
        on_session: SessionCallback | None = None,
    ) -> None:
        if not (math.isfinite(config.cash) and config.cash > 0):
            raise InvalidArgument(f"cash must be > 0, got {config.cash}")
        if config.start > config.end:
            raise InvalidArgument(f"start {config.start} is after end {config.end}")
        self.config = config
        self._source = source
        self._progress = progress
        self._on_session = on_session
        self._log_sink = log_sink
        self._calendar = MARKET_CALENDAR[config.profile.market]
        self.sessions = source.sessions(self._calendar, config.start, config.end)
        if len(self.sessions) == 0:
            raise DataUnavailable(
                f"no {self._calendar} trading sessions between {config.start} and {config.end}"
            )
        self._dates: list[dt.date] = self.sessions.astype("datetime64[D]").tolist()
        self._feeds: dict[str, Feed] = {}
        self.t = 0
        self.today = self._dates[0]
        self.now = dt.datetime.combine(self.today, config.profile.close_time)
        self.phase = "init"
        self.portfolio = Portfolio(float(config.cash), config.profile.t_plus)
        self.broker = Broker(self)
        self.universe: list[str] = []
        for oid in config.universe:
            self.feed(oid)
        self.universe = list(dict.fromkeys(config.universe))
        self._benchmark = self.feed(config.benchmark) if config.benchmark else None
        self._bar_map = BarMap(self)
        self._result = EngineResult()
        self._plots: dict[str, list[Any]] = {"date": [], "name": [], "value": []}

    # -- services used by the API and the broker ----------------------------------------------

    def feed(self, order_book_id: str) -> Feed:
        """The bar feed of ``order_book_id``, loaded on first use.

        Raises:
            NotFound: unknown instrument.
            InvalidArgument: the instrument trades in another market than the run's.
        """
        feed = self._feeds.get(order_book_id)
        if feed is None:
            instrument = self._source.instrument(order_book_id)
            if instrument.market is not self.config.profile.market:
                raise InvalidArgument(
                    f"{order_book_id} trades in market {instrument.market!s}, but this run uses "
                    f"{self.config.profile.name}; pick --market {instrument.market!s}_stock"
                )
            series = self._source.bars(order_book_id, self.config.end)
            feed = Feed(instrument, series, self.sessions, self.config.profile.price_limit)
            self._feeds[order_book_id] = feed
        return feed

    def loaded_feed(self, order_book_id: str) -> Feed | None:
        """The feed of ``order_book_id`` if already loaded (no I/O, no checks)."""
        return self._feeds.get(order_book_id)

    def last_price(self, order_book_id: str) -> float | None:
        """The latest close known now (today's close from handle_bar on)."""
        feed = self.feed(order_book_id)
        t = self.t
        if self.phase in PRE_OPEN_PHASES:
            return feed.prev_close(t) if feed.has_bar[t] else feed.last_close(t)
        return feed.last_close(t)

    def log(self, level: str, message: str) -> None:
        """Append a strategy log line stamped with the current bar date."""
        line = f"{self.today.isoformat()} {level} {message}"
        self._result.logs.append(line)
        if self._log_sink is not None:
            self._log_sink(line)

    def record_plot(self, name: str, value: float) -> None:
        """Store a ``plot()`` point for today."""
        self._plots["date"].append(self.today)
        self._plots["name"].append(name)
        self._plots["value"].append(value)

    # -- the run -------------------------------------------------------------------------------

    def run(self, strategy_source: str, filename: str = "strategy.py") -> EngineResult:
        """Compile ``strategy_source`` and run it over every session.

        Raises:
            StrategySyntaxError: the source does not parse.
            StrategyError: the strategy raised (traceback restricted to its own frames).
            InvalidArgument: bad parameters or strategy shape.
        """
        api = StrategyAPI(self).namespace()
        printed = PrintToLog(self)
        with shim_rqalpha(api), contextlib.redirect_stdout(printed):
            strategy = compile_strategy(strategy_source, filename, api)
            params = resolve_params(strategy.param_defaults, self.config.params)
            context = Context(self, params)
            self.phase = "init"
            if self._progress is not None:
                self._progress(0, len(self._dates))  # the run starts: sessions are known
            strategy.call("init", context)
            self._loop(strategy, context)
        printed.flush()
        self.broker.end_run()
        result = self._result
        result.fills = self.broker.fills
        result.orders = self.broker.orders
        result.plots = self._plots
        return result

    def _loop(self, strategy: Strategy, context: Context) -> None:  # noqa: C901 (the hot path, inlined)
        # The hot path: per session, only the work that can change something runs (no
        # orders pending -> no matching; no positions -> no marking), and hooks are called
        # directly inside one try block (the hook name says whose exception it is).
        portfolio = self.portfolio
        positions = portfolio.positions
        broker = self.broker
        bar_map = self._bar_map
        bar_cache = bar_map._cache
        next_bar = self.config.matching is Matching.NEXT_BAR
        feeds = self._feeds
        close_time = self.config.profile.close_time
        combine = dt.datetime.combine
        progress = self._progress
        on_session = self._on_session
        total = len(self._dates)
        rec = _DailyRecorder(self)
        record = rec.record
        hooks = strategy.hooks
        before = hooks["before_trading"]
        handle = hooks["handle_bar"]
        after = hooks["after_trading"]

        hook: str | None = None
        try:
            for t, day in enumerate(self._dates):
                self.t = t
                self.today = day
                self.now = combine(day, close_time)
                if bar_cache:
                    bar_cache.clear()
                if positions:
                    portfolio.new_session()
                if broker._volume_used:
                    broker.new_session()
                self.phase = "before_trading"
                if before is not None:
                    hook = "before_trading"
                    before(context)
                    hook = None
                if next_bar:
                    self.phase = "open"
                    if broker._pending:
                        broker.match_pending(close=False)
                if positions or portfolio._market_value:
                    portfolio.remark_at(feeds, t)
                self.phase = "handle_bar"
                if not next_bar and broker._pending:
                    broker.match_pending(close=True)
                if handle is not None:
                    hook = "handle_bar"
                    handle(context, bar_map)
                    hook = None
                self.phase = "after_trading"
                if after is not None:
                    hook = "after_trading"
                    after(context)
                    hook = None
                if broker._pending:
                    broker.end_session()
                if positions:
                    portfolio.settle()
                record(t, day)
                if on_session is not None:
                    on_session(day, portfolio.total_value / portfolio.starting_cash)
                if progress is not None:
                    progress(t + 1, total)
        except StrategyError:
            raise
        except (Exception, SystemExit) as exc:
            if hook is None:
                raise
            raise strategy.error(exc, hook) from exc
        rec.finish()


class LogTarget(Protocol):
    """Anything that records a strategy log line (the engine, or another engine's book)."""

    def log(self, level: str, message: str) -> None:
        """Record ``message`` at ``level`` (``INFO``, ``WARNING``...), stamped with the bar date."""
        ...


class PrintToLog(io.TextIOBase):
    """``print()`` in a strategy becomes an ``INFO`` log line of ``target``.

    Stdout stays clean; used with ``contextlib.redirect_stdout`` by every in-process engine.
    """

    def __init__(self, target: LogTarget) -> None:
        self._engine = target
        self._partial = ""

    def writable(self) -> bool:
        """Always True: this stream only writes."""
        return True

    def write(self, text: str) -> int:
        """Log each complete line of ``text``; keep the rest until more text or ``flush``.

        Returns ``len(text)`` (all of it is taken).
        """
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._engine.log("INFO", line)
        return len(text)

    def flush(self) -> None:
        """Log the pending partial line, if any."""
        if self._partial:
            self._engine.log("INFO", self._partial)
            self._partial = ""


_POS_FIELDS = ("quantity", "bought_today", "avg_price", "last_price")
_POS_GETTERS = {name: attrgetter(name) for name in _POS_FIELDS}


class _DailyRecorder:
    """Collects the daily portfolio, benchmark and position rows.

    Per session it appends only raw values (Python floats and dates, which the cyclic GC
    does not track: per-session tuples made it rescan the heap over and over); totals,
    NAVs, returns and per-position values are derived in ``finish`` with the same
    arithmetic, in the same order.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._bench = engine._benchmark
        self._portfolio = engine.portfolio
        self._date: list[dt.date] = []
        self._cash: list[float] = []
        self._market_value: list[float] = []
        self._bench_close: list[float] = []
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
                first = engine.config.start
                raise DataUnavailable(
                    f"benchmark {feed.instrument.order_book_id} has no bar on or before {first}"
                )
            self._bench_base = base

    def record(self, t: int, day: dt.date) -> None:
        pf = self._portfolio
        self._date.append(day)
        self._cash.append(pf.cash)
        self._market_value.append(pf._market_value)
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
        result = self._engine._result
        start = self._portfolio.starting_cash
        cash, market_value = self._cash, self._market_value
        total = [c + m for c, m in zip(cash, market_value, strict=True)]  # == total_value
        n = len(total)
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
            "nav": [v / start for v in total],
            "returns": _returns(total, start),
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
