"""``run_backtest``: validate the request against the catalog, run the engine, wrap the result."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from quantdesk.backtest.analysis import BarWindow
from quantdesk.backtest.engines import resolve_engine, run_engine
from quantdesk.backtest.result import BacktestResult, build_result
from quantdesk.backtest.spec import (
    BacktestSpec,
    EngineName,
    LogSink,
    PreparedBacktest,
    ProgressCallback,
    SessionCallback,
)
from quantdesk.backtest.strategy_config import apply_strategy_config, read_strategy_config
from quantdesk.core.errors import DataUnavailable, InvalidArgument, NotFound, QuantdeskError
from quantdesk.core.instruments import InstrumentType, Market
from quantdesk.core.settings import Settings
from quantdesk.data.catalog import Adjust, Catalog
from quantdesk.data.demo import import_demo
from quantdesk.data.ids import market_of_id
from quantdesk.engine import EngineConfig, MarketName, market_profile

#: Default benchmark per market profile.
DEFAULT_BENCHMARK = {"us_stock": "SPX", "cn_stock": "000300.XSHG"}


def run_backtest(
    strategy: str | Path,
    *,
    start: str | dt.date,
    end: str | dt.date,
    cash: float = 100_000.0,
    universe: Sequence[str] | str | None = None,
    benchmark: str | None = None,
    frequency: str = "1d",
    market: str = "us_stock",
    matching: str = "current_bar",
    adjust: str = "pre",
    commission: float | None = None,
    min_commission: float | None = None,
    tax: float | None = None,
    slippage: float | None = None,
    params: Mapping[str, Any] | None = None,
    risk_free_rate: float = 0.0,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
    strategy_name: str | None = None,
    engine: str | None = None,
    work_dir: Path | None = None,
) -> BacktestResult:
    """Run one backtest of ``strategy`` on the catalog's daily bars.

    Args:
        strategy: Strategy source text, or the path of a ``.py`` file.
        start: First session, ``YYYY-MM-DD`` or a date.
        end: Last session (inclusive).
        cash: Starting cash in the market's currency (> 0).
        universe: ``order_book_id``s given to ``handle_bar`` (list or comma-separated);
            default: every stock of the market with bars in the window (its indices if it
            has no stocks, e.g. cn_stock on the demo data).
        benchmark: Benchmark id; default ``SPX`` (us_stock) / ``000300.XSHG`` (cn_stock);
            ``""`` or ``"none"`` for no benchmark.
        frequency: Bar frequency; only ``1d``.
        market: Market profile, ``us_stock`` or ``cn_stock`` (rules and default costs).
        matching: ``current_bar`` (fill at this bar's close) or ``next_bar`` (next open).
        adjust: ``pre`` (default; forward ratio-adjusted from Adj Close, so splits and
            dividends are not jumps) or ``none`` (as traded; corporate actions are not
            applied to holdings).
        commission: Commission rate per side (fraction); default from the profile.
        min_commission: Minimum commission per order (currency); default from the profile.
        tax: Sell-side tax rate; default from the profile (cn: dated stamp duty).
        slippage: Price slippage ratio; default 0.
        params: Strategy parameters (checked against the strategy's ``PARAMS``).
        risk_free_rate: Annual risk-free rate for Sharpe, Sortino and alpha (fraction).
        catalog: Catalog to read; default ``Settings().data_dir``. An empty catalog is
            filled with the bundled demo data first.
        settings: Settings used when ``catalog`` is not given.
        progress: Called with ``(sessions_done, sessions_total)`` after each session.
        log_sink: Called with each strategy log line as it is produced.
        strategy_name: Name recorded in the summary (default: the file's stem).
        engine: ``native``, ``rqalpha`` or ``backtrader``; ``None``/``auto`` picks
            ``backtrader`` for code that defines a ``bt.Strategy`` subclass, else ``native``.
            ``rqalpha`` runs the external command ``RQALPHA_COMMAND`` (settings).
        work_dir: Folder for an external engine's files (RQAlpha's bundle, ``config.yml``,
            ``result.pkl``); a temporary folder by default.

    Returns:
        The result: ``.summary`` (dict), ``.portfolio``, ``.trades``, ``.positions``,
        ``.orders`` (DataFrames), ``.to_json()``.

    Raises:
        InvalidArgument: a malformed argument (dates, cash, market, frequency, params...).
        NotFound: unknown instrument or strategy file.
        DataUnavailable: the window lies outside the data.
        StrategySyntaxError / StrategyError: the strategy does not parse or raised.
        EngineUnavailable: the engine is not installed or configured.
    """
    spec = BacktestSpec.of(
        names=BacktestSpec.PYTHON_NAMES,
        start_date=start, end_date=end, cash=cash, universe=universe, benchmark=benchmark,
        frequency=frequency, market=market, matching=matching, adjust=adjust,
        commission=commission, min_commission=min_commission, tax=tax, slippage=slippage,
        params=params, risk_free_rate=risk_free_rate, engine=engine,
    )  # fmt: skip
    return run_spec(
        strategy, spec, catalog=catalog, settings=settings, progress=progress,
        log_sink=log_sink, strategy_name=strategy_name, work_dir=work_dir,
    )  # fmt: skip


def run_spec(
    strategy: str | Path,
    spec: BacktestSpec,
    *,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
    strategy_name: str | None = None,
    work_dir: Path | None = None,
    on_session: SessionCallback | None = None,
) -> BacktestResult:
    """Run ``strategy`` as ``spec`` says (``run_backtest`` with a validated spec).

    Takes ``run_backtest``'s other arguments and raises its errors; ``on_session`` receives
    ``(date, NAV)`` after each session (native engine).
    """
    prepared = prepare(
        strategy, spec, catalog=catalog, settings=settings, log_sink=log_sink,
        strategy_name=strategy_name,
    )  # fmt: skip
    return execute_backtest(
        prepared, progress=progress, log_sink=log_sink, work_dir=work_dir, on_session=on_session
    )


def prepare_backtest(
    strategy: str | Path,
    *,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    log_sink: LogSink | None = None,
    strategy_name: str | None = None,
    **fields: Any,
) -> PreparedBacktest:
    """Validate a backtest request against the catalog without running it.

    Takes ``run_backtest``'s arguments (``start``, ``end``, ``cash``... as keywords) except
    ``progress`` and ``work_dir``.

    Raises:
        The same errors as ``run_backtest`` before the strategy runs.
    """
    names = BacktestSpec.PYTHON_NAMES
    spelled = {python: spec_name for spec_name, python in names.items()}
    spec = BacktestSpec.of(names=names, **{spelled.get(k, k): v for k, v in fields.items()})
    return prepare(
        strategy, spec, catalog=catalog, settings=settings, log_sink=log_sink,
        strategy_name=strategy_name,
    )  # fmt: skip


def prepare(
    strategy: str | Path,
    spec: BacktestSpec,
    *,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    log_sink: LogSink | None = None,
    strategy_name: str | None = None,
) -> PreparedBacktest:
    """Check ``spec`` against the catalog and the strategy without running it.

    An empty catalog is filled with the bundled demo data first (reported through
    ``log_sink``).

    Raises:
        NotFound: unknown instrument or strategy file.
        InvalidArgument: an instrument of another market, an engine that cannot run the code,
            a strategy that is not text.
        DataUnavailable: the window lies outside the data.
    """
    source, filename, name = _load_strategy(strategy)
    name = strategy_name or name
    engine_name = resolve_engine(spec.engine, source)
    notes: list[str] = []
    if engine_name != "backtrader":  # backtrader files have no RQAlpha __config__
        file_config = read_strategy_config(source)
        if file_config:
            spec, notes = apply_strategy_config(spec, file_config)
    start_d, end_d = spec.start_date, spec.end_date
    if catalog is None:
        settings = settings or Settings()
        catalog = Catalog(settings.data_dir)
    if catalog.is_empty():
        if log_sink is not None:
            log_sink(f"catalog at {catalog.root} is empty: importing the bundled demo data")
        import_demo(catalog)
    market = spec.market or infer_market(spec, catalog)
    profile = market_profile(market).with_costs(
        commission=spec.commission, min_commission=spec.min_commission, tax=spec.tax,
        slippage=spec.slippage,
    )  # fmt: skip
    if engine_name == "rqalpha":
        settings = settings or Settings()

    ids = list(spec.universe or ())
    bench = DEFAULT_BENCHMARK[profile.name] if spec.benchmark is None else spec.benchmark
    bench_id = None if bench.lower() in ("", "none") else bench
    stats = {row["order_book_id"]: row for row in catalog.stats()}
    if not ids:
        in_market = [
            r for r in stats.values()
            if r["market"] == str(profile.market)
            and r["first_bar"] <= end_d and r["last_bar"] >= start_d
        ]  # fmt: skip
        stocks = [r for r in in_market if r["type"] != str(InstrumentType.INDEX)]
        ids = [r["order_book_id"] for r in (stocks or in_market)]
        if not ids:
            raise DataUnavailable(
                f"no {profile.market} instrument has bars between {start_d} and {end_d}"
            )
    for oid in [*ids, *([bench_id] if bench_id else [])]:
        instrument = catalog.instrument(oid)
        if instrument.market is not profile.market:
            raise InvalidArgument(
                f"{oid} is a {instrument.market} instrument but the market is {spec.market}; "
                f"use market {instrument.market}_stock"
            )
        _check_window(oid, stats[oid], start_d, end_d, is_benchmark=oid == bench_id)

    config = EngineConfig(
        start=start_d,
        end=end_d,
        cash=spec.cash,
        universe=tuple(ids),
        benchmark=bench_id,
        profile=profile,
        matching=spec.matching,
        params=dict(spec.params),
        risk_free_rate=spec.risk_free_rate,
    )
    resolved = spec.model_copy(
        update={
            "universe": tuple(ids),
            "market": MarketName(market),
            "benchmark": bench_id or "none",
            "engine": EngineName(engine_name),
        }
    )
    return PreparedBacktest(
        source=source,
        filename=filename,
        name=name,
        catalog=catalog,
        config=config,
        spec=resolved,
        engine=engine_name,
        rqalpha_command=settings.rqalpha_command if settings is not None else None,
        rqalpha_bundle=(
            str(settings.rqalpha_bundle_path)
            if settings is not None and settings.rqalpha_bundle_path is not None
            else None
        ),
        notes=tuple(notes),
    )


def infer_market(spec: BacktestSpec, catalog: Catalog) -> str:
    """The market profile a spec without ``market`` runs on: the instruments' market.

    The universe and benchmark decide (their catalog market; an id the catalog lacks counts
    as ``cn`` when it ends in ``.XSHG``/``.XSHE``/``.BJSE``). With no instrument named, a
    catalog holding one market's instruments decides, else ``us_stock``.

    Raises:
        InvalidArgument: the instruments named trade in different markets.
    """
    names = [*(spec.universe or ())]
    if spec.benchmark and spec.benchmark.lower() != "none":
        names.append(spec.benchmark)
    markets: set[str] = set()
    for oid in names:
        try:
            markets.add(str(catalog.instrument(oid).market))
        except NotFound:
            if market_of_id(oid) is Market.CN:
                markets.add(str(Market.CN))
    if not names:
        markets = {str(i.market) for i in catalog.instruments()}
        if len(markets) != 1:
            return MarketName.US_STOCK
    if len(markets) > 1:
        raise InvalidArgument(
            f"the universe and benchmark mix markets ({', '.join(sorted(markets))}); "
            "name the market (us_stock or cn_stock) or pick instruments of one market"
        )
    return f"{markets.pop()}_stock" if markets else MarketName.US_STOCK


def execute_backtest(
    prepared: PreparedBacktest,
    *,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
    work_dir: Path | None = None,
    on_session: SessionCallback | None = None,
) -> BacktestResult:
    """Run a prepared backtest (see ``run_backtest`` for the callbacks and errors)."""
    config = prepared.config
    warnings: list[str] = []
    if prepared.adjust is Adjust.NONE:
        warnings = _split_warnings(
            prepared.catalog, list(config.universe), config.start, config.end
        )
    warnings[:0] = [f"{config.start.isoformat()} {note}" for note in prepared.notes]
    for line in warnings:
        if log_sink is not None:
            log_sink(line)
    run = run_engine(prepared, work_dir=work_dir, progress=progress, log_sink=log_sink,
                     on_session=on_session)  # fmt: skip
    run.raw.logs[:0] = warnings
    return build_result(
        run.raw,
        config,
        strategy_name=prepared.name,
        adjust=prepared.adjust,
        frequency=prepared.frequency,
        engine=run.engine,
        engine_version=run.engine_version,
        reference=run.reference,
        data_bundle=run.data_bundle,
        bars=_bar_windows(prepared),
    )


def _bar_windows(prepared: PreparedBacktest) -> Callable[[str], BarWindow | None]:
    """``order_book_id -> (dates, highs, lows)`` of the bars the engines read (excursions)."""
    source = prepared.bar_source()
    end = prepared.config.end

    def window(order_book_id: str) -> BarWindow | None:
        try:
            bars = source.bars(order_book_id, end)
        except QuantdeskError:
            return None
        return (
            np.asarray(bars.dates, dtype="datetime64[D]"),
            np.asarray(bars.high, dtype=float),
            np.asarray(bars.low, dtype=float),
        )

    return window


def _split_warnings(catalog: Catalog, ids: list[str], start: dt.date, end: dt.date) -> list[str]:
    """Warn that unadjusted runs do not apply splits to holdings."""
    lines = []
    for oid in ids:
        for day, factor in catalog.splits(oid, start, end):
            lines.append(
                f"{start.isoformat()} WARNING {oid} splits {factor:g}:1 on {day}; with "
                "adjust=none its price drops but holdings are not split (use adjust=pre)"
            )
    return lines


def _load_strategy(strategy: str | Path) -> tuple[str, str, str]:
    """``(source, filename, name)``; a path is read, anything else is source text."""
    if isinstance(strategy, Path) or (
        isinstance(strategy, str) and "\n" not in strategy and strategy.endswith(".py")
    ):
        path = Path(strategy)
        if not path.is_file():
            raise NotFound(f"strategy file {str(path)!r} does not exist")
        try:
            return path.read_text(encoding="utf-8"), str(path), path.stem
        except UnicodeDecodeError:
            raise InvalidArgument(f"{path} is not UTF-8 text") from None
    if not isinstance(strategy, str) or not strategy.strip():
        raise InvalidArgument("strategy must be Python source text or the path of a .py file")
    return strategy, "strategy.py", "strategy"


def _check_window(
    oid: str, row: Mapping[str, Any], start: dt.date, end: dt.date, *, is_benchmark: bool
) -> None:
    first, last = row["first_bar"], row["last_bar"]
    span = f"{oid} has data from {first} to {last}"
    if end < first or start > last:
        raise DataUnavailable(f"{start}..{end} is outside the data: {span}")
    if end > last:
        raise DataUnavailable(f"end {end} is after the last bar: {span}; choose an earlier end")
    if is_benchmark and start < first:
        raise DataUnavailable(
            f"benchmark starts after {start}: {span}; choose a later start or another benchmark"
        )
