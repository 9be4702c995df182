"""The event loop of one backtest: sessions, strategy hooks, matching and daily records."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from quantdesk.core.errors import DataUnavailable, InvalidArgument, StrategyError
from quantdesk.core.instruments import MARKET_CALENDAR, Instrument
from quantdesk.engine.api import StrategyAPI
from quantdesk.engine.broker import Broker
from quantdesk.engine.config import PRE_OPEN_PHASES, EngineConfig, Matching
from quantdesk.engine.events import EVENT, EventBus
from quantdesk.engine.feeds import BarMap, Feed
from quantdesk.engine.portfolio import Portfolio
from quantdesk.engine.ports import BarSource, IndexComposition
from quantdesk.engine.recorder import DailyRecorder
from quantdesk.engine.records import EngineResult
from quantdesk.engine.run_info import AttrDict, RunInfo, run_config, run_info
from quantdesk.engine.scheduler import Scheduler
from quantdesk.engine.strategy import Strategy, compile_strategy, resolve_params, shim_rqalpha
from quantdesk.engine.user_output import PrintToLog

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

    @property
    def future_account(self) -> None:
        """No futures account."""
        return None

    @property
    def run_info(self) -> RunInfo:
        """The run's settings (RQAlpha's ``RunInfo``)."""
        return self._engine.run_info

    @property
    def config(self) -> AttrDict:
        """The run's configuration in RQAlpha's shape (``config.base.start_date``...)."""
        return self._engine.run_config


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
        self.events = EventBus()
        margin = dt.timedelta(days=40)  # whole weeks and months around the run
        self.scheduler = Scheduler(
            lambda: self.calendar(config.start - margin, config.end + margin), lambda: self.phase
        )
        self.portfolio._frozen = self.broker.frozen_cash
        self.run_info = run_info(config)
        self._strategy: Strategy | None = None
        self.run_config = run_config(config)

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

    def reference(self, order_book_id: str) -> Instrument:
        """Reference data of any instrument of the source (``NotFound`` if unknown)."""
        return self._source.instrument(order_book_id)

    def listed_instruments(self) -> list[Instrument]:
        """Every instrument of the run's market the source lists (else the loaded ones)."""
        listing = getattr(self._source, "instruments", None)
        found = listing() if callable(listing) else [f.instrument for f in self._feeds.values()]
        return [i for i in found if i.market is self.config.profile.market]

    def index_composition(self, index_id: str, day: dt.date) -> IndexComposition:
        """The composition of ``index_id`` in effect on ``day``, from the bar source.

        Raises:
            DataUnavailable: the source knows no index membership, or not on ``day``.
            NotFound: no membership known for the index.
        """
        lookup = getattr(self._source, "index_components", None)
        if not callable(lookup):
            raise DataUnavailable(
                "this run's data source has no index membership; the catalog's does "
                "(POST /api/data/indexes/import, or an update from baostock/akshare)"
            )
        composition: IndexComposition = lookup(index_id, day)
        return composition

    def calendar(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """The run's market's sessions in ``[start, end]``."""
        if start > end:
            return []
        days: list[dt.date] = (
            self._source.sessions(self._calendar, start, end).astype("datetime64[D]").tolist()
        )
        return days

    def emit(self, event: EVENT, **data: Any) -> None:
        """Publish ``event`` to the strategy's listeners (its errors are the strategy's)."""
        if self._strategy is not None and self.events.wants(event):
            self._publish(self._strategy, event, **data)

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
            self._strategy = strategy
            params = resolve_params(strategy.param_defaults, self.config.params)
            context = Context(self, params)
            self.phase = "init"
            if self._progress is not None:
                self._progress(0, len(self._dates))  # the run starts: sessions are known
            self.events.context = context
            strategy.call("init", context)
            self._publish(strategy, EVENT.POST_USER_INIT)
            self._loop(strategy, context)
        printed.flush()
        self.broker.end_run()
        result = self._result
        result.fills = self.broker.fills
        result.orders = self.broker.orders
        result.plots = self._plots
        return result

    def _publish(self, strategy: Strategy, event: EVENT, **data: Any) -> None:
        """Publish ``event`` to the strategy's listeners; their errors are the strategy's."""
        if self.events.wants(event):
            try:
                self.events.publish(event, **data)
            except StrategyError:
                raise
            except (Exception, SystemExit) as exc:
                raise strategy.error(exc, f"a {event.name} event handler") from exc

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
        rec = DailyRecorder(self._result, portfolio, self._benchmark, self.config.start)
        record = rec.record
        hooks = strategy.hooks
        before = hooks["before_trading"]
        handle = hooks["handle_bar"]
        after = hooks["after_trading"]

        scheduler = self.scheduler
        scheduled = scheduler.active
        listeners = self.events._listeners  # non-empty once the strategy subscribed
        publish = self._publish

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
                if scheduled:
                    scheduler.new_session(day)
                self.phase = "before_trading"
                if listeners:
                    publish(strategy, EVENT.PRE_BEFORE_TRADING)
                if scheduled:
                    hook = "a scheduled function"
                    scheduler.run_before_trading(context)
                if before is not None:
                    hook = "before_trading"
                    before(context)
                hook = None
                if listeners:
                    publish(strategy, EVENT.BEFORE_TRADING)
                    publish(strategy, EVENT.POST_BEFORE_TRADING)
                if next_bar:
                    self.phase = "open"
                    if broker._pending:
                        broker.match_pending(close=False)
                if positions or portfolio._market_value:
                    portfolio.remark_at(feeds, t)
                self.phase = "handle_bar"
                if not next_bar and broker._pending:
                    broker.match_pending(close=True)
                if listeners:
                    publish(strategy, EVENT.PRE_BAR)
                if scheduled:
                    hook = "a scheduled function"
                    scheduler.run_at_bar(context, bar_map)
                if handle is not None:
                    hook = "handle_bar"
                    handle(context, bar_map)
                hook = None
                if listeners:
                    publish(strategy, EVENT.BAR, bar_dict=bar_map)
                    publish(strategy, EVENT.POST_BAR)
                self.phase = "after_trading"
                if listeners:
                    publish(strategy, EVENT.PRE_AFTER_TRADING)
                if after is not None:
                    hook = "after_trading"
                    after(context)
                    hook = None
                if listeners:
                    publish(strategy, EVENT.AFTER_TRADING)
                    publish(strategy, EVENT.POST_AFTER_TRADING)
                    publish(strategy, EVENT.PRE_SETTLEMENT)
                if broker._pending:
                    broker.end_session()
                if positions:
                    portfolio.settle()
                if listeners:
                    publish(strategy, EVENT.SETTLEMENT)
                portfolio.static_total_value = portfolio.total_value
                record(t, day)
                if listeners:
                    publish(strategy, EVENT.POST_SETTLEMENT)
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
