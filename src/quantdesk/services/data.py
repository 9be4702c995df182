"""Reads for the web UI.

The catalog (instruments, bars), run options, the last run of each strategy, and a finished
job's positions, trades, inputs and downloadable files.

Everything is per user like the rest of the API: a job of another user is "not found".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable, Collection, Iterator
from typing import Any, TypeVar

import pandas as pd

from quantdesk.backtest.run import DEFAULT_BENCHMARK
from quantdesk.backtest.spec import EngineName, Frequency
from quantdesk.core.clock import iso_utc
from quantdesk.core.errors import InternalError, InvalidArgument, ResultNotReady
from quantdesk.core.jobs import JobStatus
from quantdesk.core.settings import Settings
from quantdesk.data import Catalog
from quantdesk.data.catalog import Adjust
from quantdesk.engine import MarketName, Matching, market_profile
from quantdesk.jobs.artifacts import (
    EXTRACTED,
    RESULT,
    STREAM_CHUNK,
    TRADES_CSV,
    CorruptFile,
    RunFolder,
    iter_file,
)  # fmt: skip
from quantdesk.jobs.results import (
    iter_json_items,
    read_json_members,
    read_positions_page,
    read_run_info,
    read_trades_page,
)  # fmt: skip
from quantdesk.services.auth import Principal
from quantdesk.services.views_data import (
    Bars,
    InstrumentList,
    InstrumentStats,
    LastRun,
    LastRuns,
    MarketOption,
    PositionPage,
    RunInfo,
    RunOptions,
    TradePage,
)
from quantdesk.storage import Database, job_queries
from quantdesk.storage import jobs as job_store
from quantdesk.storage.models import JobRow

#: Most rows one page of positions or trades may hold.
MAX_PAGE_SIZE = 10_000

_T = TypeVar("_T")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _number(value: Any) -> Any:
    """JSON-safe: NaN/inf become ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be a date as YYYY-MM-DD") from None


def _page(page: int, page_size: int) -> tuple[int, int]:
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page must be >= 1 and page_size in 1..{MAX_PAGE_SIZE}")
    return (page - 1) * page_size, page * page_size


class DataService:
    """Catalog and result reads of the calling user."""

    def __init__(self, db: Database, settings: Settings, catalog: Catalog) -> None:
        self._db = db
        self._settings = settings
        self._catalog = catalog
        self._base = settings.backtest_base_dir.resolve()

    # -- catalog -------------------------------------------------------------------------------

    def instruments(
        self,
        q: str | None = None,
        market: str | None = None,
        type_: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        *,
        markets: Collection[str] | None = None,
        only: Collection[str] | None = None,
    ) -> InstrumentList:
        """The catalog's instruments with their bar statistics, searched and paged.

        ``q``: a case-insensitive substring of the id, symbol or name; ``market``/``type_``:
        exact values; ``markets``: any of these markets; ``only``: these ids. ``total``
        counts every match; ``limit``/``offset`` page them (by id).
        """
        needle = (q or "").strip().lower()
        stats = [
            row for row in self._catalog.stats()
            if (not needle or any(needle in str(row[k]).lower()
                                  for k in ("order_book_id", "symbol", "name")))
            and (not market or str(row["market"]) == market)
            and (not type_ or str(row["type"]) == type_)
            and (markets is None or str(row["market"]) in markets)
            and (only is None or row["order_book_id"] in only)
        ]  # fmt: skip
        page = stats[offset : offset + limit] if limit is not None else stats[offset:]
        rows = [
            InstrumentStats.model_validate(
                {
                    **{k: _iso(v) for k, v in row.items()},
                    "st_periods": [
                        {"start": _iso(p["start"]), "end": _iso(p["end"])}
                        for p in row.get("st_periods") or []
                    ],
                }
            )
            for row in page
        ]
        return InstrumentList(instruments=rows, total=len(stats))

    def bars_table(
        self, order_book_id: str, start: str | None, end: str | None, adjust: Adjust
    ) -> pd.DataFrame:
        """The bars of ``[start, end]`` as a frame (``date`` index; see ``Catalog.bars_frame``).

        Raises:
            InvalidArgument: bad date. NotFound: unknown instrument. DataUnavailable: no bars.
        """
        first, last = _date(start, "start"), _date(end, "end")
        if first and last and last < first:
            raise InvalidArgument("end must be on or after start")
        return self._catalog.bars_frame(order_book_id, first, last, Adjust(adjust))

    def bars(
        self,
        order_book_id: str,
        start: str | None,
        end: str | None,
        adjust: Adjust,
        limit: int | None = None,
        offset: int = 0,
    ) -> Bars:
        """Daily bars as columns ``dates, open, high, low, close, volume`` in ``[start, end]``.

        ``adjust``: ``none`` as traded, ``pre`` forward-adjusted. ``limit``/``offset`` page
        them in date order (``total``: all of ``[start, end]``).

        Raises:
            InvalidArgument: bad date. NotFound: unknown instrument.
            DataUnavailable: no bar file.
        """
        mode = Adjust(adjust)
        whole = self.bars_table(order_book_id, start, end, mode)
        frame = whole.iloc[offset : offset + limit] if limit is not None else whole.iloc[offset:]
        columns = {
            col: [_number(float(v)) for v in frame[col].tolist()]
            for col in ("open", "high", "low", "close", "volume")
        }
        return Bars(
            order_book_id=order_book_id,
            adjust=str(mode),
            dates=[d.date().isoformat() for d in frame.index],
            **columns,
            total=len(whole),
            offset=offset,
        )

    def run_options(self) -> RunOptions:
        """What a run may choose.

        Frequencies, markets (with their default benchmark and costs), matchings, adjust modes
        and engines (``auto`` first).
        """
        markets = []
        for name in MarketName:
            profile = market_profile(name)
            markets.append(
                MarketOption(
                    name=name,
                    benchmark=DEFAULT_BENCHMARK.get(name),
                    currency=profile.currency,
                    commission=profile.commission,
                    min_commission=profile.min_commission,
                    tax=profile.tax,
                    slippage=profile.slippage,
                    t_plus=profile.t_plus,
                )
            )
        supported = {str(f) for f in Frequency}
        return RunOptions(
            frequencies=[
                Frequency(f) for f in self._settings.allowed_frequencies if f in supported
            ],
            markets=markets,
            matchings=list(Matching),
            adjusts=list(Adjust),
            engines=list(EngineName),
        )

    # -- jobs ----------------------------------------------------------------------------------

    def last_runs(self, principal: Principal) -> LastRuns:
        """The newest job of each of the caller's strategies, by strategy id."""
        out: dict[str, LastRun] = {}
        with self._db.read() as session:
            for row in job_queries.newest_per_strategy(session, principal.user_id):
                out[row.strategy_id] = LastRun(
                    job_id=row.id,
                    status=JobStatus(row.status),
                    created_at=iso_utc(row.created_at),
                    updated_at=iso_utc(row.updated_at),
                )
        return LastRuns(last_runs=out)

    def _job(self, principal: Principal, job_id: str) -> JobRow:
        with self._db.read() as session:
            return job_store.owned(session, job_id, principal.user_id)

    def finished(self, principal: Principal, job_id: str) -> tuple[JobRow, RunFolder]:
        """The caller's FINISHED job and its folder.

        Raises:
            NotFound: no such job of the caller. ResultNotReady: not FINISHED.
        """
        row = self._job(principal, job_id)
        if row.status != JobStatus.FINISHED:
            raise ResultNotReady(f"job {job_id} is {row.status}; the result exists once FINISHED")
        return row, RunFolder(self._base, row.run_dir)

    @staticmethod
    def guarded_read(job_id: str, read: Callable[[], _T]) -> _T:
        """``read()``, with a missing, unsafe or corrupt result file as ``InternalError``."""
        try:
            return read()
        except (FileNotFoundError, CorruptFile):
            raise InternalError(f"the result file of job {job_id} is missing or corrupt") from None

    def run_info(self, principal: Principal, job_id: str) -> RunInfo:
        """The job's inputs (``request``), and once FINISHED what the run used and traded.

        That is the engine's ``config``, metric ``conventions`` and the ``symbols`` it traded
        (read from ``result.json`` as a stream).
        """
        row = self._job(principal, job_id)
        used: dict[str, Any] = {"config": None, "conventions": None, "symbols": []}
        if row.status == JobStatus.FINISHED:
            folder = RunFolder(self._base, row.run_dir)
            used.update(self.guarded_read(job_id, lambda: read_run_info(folder.file(RESULT))))
        return RunInfo(
            job_id=row.id, strategy_id=row.strategy_id, status=JobStatus(row.status),
            request=row.request, **used,
        )  # fmt: skip

    def positions(
        self, principal: Principal, job_id: str, page: int, page_size: int, date: str | None
    ) -> PositionPage:
        """Daily positions (one row per date and held instrument), newest first.

        Only those of ``date`` when given; ``{"columns", "positions", "total", "page",
        "page_size"}``. The table is streamed from ``result.json``; only the page's rows are
        kept.
        """
        day = _date(date, "date")
        lo, hi = _page(page, page_size)
        _, folder = self.finished(principal, job_id)
        columns, rows, total = self.guarded_read(
            job_id,
            lambda: read_positions_page(
                folder.file(RESULT), lo, hi, None if day is None else day.isoformat()
            ),
        )
        return PositionPage(
            columns=columns, positions=rows, total=total, page=page, page_size=page_size
        )

    def trades(
        self, principal: Principal, job_id: str, symbol: str | None, page: int, page_size: int
    ) -> TradePage:
        """Fills, optionally of one ``symbol``: ``{"trades", "total", "page", "page_size"}``.

        Streamed from ``extracted.json``; only the page is kept.
        """
        lo, hi = _page(page, page_size)
        _, folder = self.finished(principal, job_id)
        trades, total = self.guarded_read(
            job_id, lambda: read_trades_page(folder.file(EXTRACTED), lo, hi, symbol or None)
        )
        return TradePage(trades=trades, total=total, page=page, page_size=page_size)

    def result_file(self, principal: Principal, job_id: str) -> Iterator[bytes]:
        """The ``result.json`` of a FINISHED job, its bytes as stored, in chunks.

        Raises:
            NotFound, ResultNotReady. InternalError: the file is missing (or unsafe).
        """
        _, folder = self.finished(principal, job_id)
        return self.guarded_read(job_id, lambda: iter_file(folder.file(RESULT)))

    def trades_csv(self, principal: Principal, job_id: str) -> Iterator[bytes]:
        """The fills as CSV, in chunks.

        The run's ``trades.csv`` as stored, or, if it has none, rebuilt from ``result.json``
        one trade at a time.

        Raises:
            NotFound, ResultNotReady. InternalError: neither file is usable.
        """
        _, folder = self.finished(principal, job_id)
        try:
            return iter_file(folder.file(TRADES_CSV))
        except FileNotFoundError:
            pass
        path = self.guarded_read(job_id, lambda: folder.file(RESULT))
        members = self.guarded_read(job_id, lambda: read_json_members(path, ("trade_columns",)))
        columns = members["trade_columns"]
        if not isinstance(columns, list):
            columns = []
        trades = self.guarded_read(job_id, lambda: iter_json_items(path, "trades"))
        return _csv_chunks([str(c) for c in columns], trades)


def _csv_chunks(columns: list[str], rows: Iterator[Any]) -> Iterator[bytes]:
    """``rows`` as encoded CSV under a ``columns`` header, about ``STREAM_CHUNK`` bytes at a time.

    ``rows`` are dicts; other items are skipped.
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        if isinstance(row, dict):
            writer.writerow(row)
        if buf.tell() >= STREAM_CHUNK:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode()
