"""Reading results like a professional: round trips, period tables, run comparison, reports.

Everything is read from a FINISHED job's folder of the caller (another user's job is "not
found"), as a stream where the answer is a page (round trips) and whole only where the answer
needs the whole run (comparison curves, the report; bounded by ``MAX_REPORT_MB``).
"""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from quantdesk.backtest.analysis import PERIOD_CONVENTIONS
from quantdesk.backtest.result import BacktestResult
from quantdesk.backtest.result_frames import json_safe, records
from quantdesk.backtest.round_trips import round_trips
from quantdesk.core.clock import iso_utc
from quantdesk.core.errors import InternalError, InvalidArgument, PayloadTooLarge
from quantdesk.jobs.artifacts import EXTRACTED, RESULT, RunFolder
from quantdesk.jobs.results import iter_json_items, read_json_members, read_list_page
from quantdesk.services.auth import Principal
from quantdesk.services.data import MAX_PAGE_SIZE, DataService
from quantdesk.services.views_analysis import (
    CodeDiff,
    CompareRun,
    Comparison,
    Correlation,
    CurveSet,
    InputComparison,
    MetricComparison,
    PeriodTables,
    PlotLine,
    PlotSeries,
    RoundTrip,
    RoundTripPage,
)
from quantdesk.storage.models import JobRow

#: Runs one comparison may hold.
COMPARE_MIN, COMPARE_MAX = 2, 10
#: Largest result file a report or a comparison loads whole (MiB).
MAX_REPORT_MB = 64
#: The metrics of a comparison, and whether higher is better (``None``: neither).
COMPARED_METRICS: dict[str, bool | None] = {
    "total_returns": True, "annualized_returns": True, "volatility": False, "sharpe": True,
    "sortino": True, "max_drawdown": False, "calmar": True, "alpha": True, "beta": None,
    "information_ratio": True, "win_rate": True, "profit_factor": True, "expectancy": True,
    "sqn": True, "round_trips": None, "exposure_time": None, "turnover": None,
    "total_commission": False, "benchmark_total_returns": None,
}  # fmt: skip
#: The inputs a comparison lines up (from the job's request).
COMPARED_INPUTS = (
    "engine", "start_date", "end_date", "cash", "universe", "benchmark", "market", "frequency",
    "matching", "adjust", "commission", "min_commission", "tax", "slippage", "params",
    "version",  # the saved code version each ran (not the one asked for: null is "latest")
)  # fmt: skip


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _valid_trips(items: Iterable[Any]) -> list[RoundTrip]:
    """The items that are round trips (the file is the job's: anything else is left out)."""
    out = []
    for item in items:
        if isinstance(item, dict):
            try:
                out.append(RoundTrip.model_validate(item))
            except ValidationError:
                continue
    return out


class AnalysisService:
    """Round trips, period tables, comparisons and reports of the caller's finished jobs."""

    def __init__(self, data: DataService) -> None:
        self._data = data

    def round_trips(
        self, principal: Principal, job_id: str, page: int, page_size: int, symbol: str | None
    ) -> RoundTripPage:
        """A page of the job's round trips (of ``symbol`` when given), and their count.

        Read from ``extracted.json`` as a stream; a job that ran before round trips were
        recorded gets them paired from its fills (without excursions).

        Raises:
            NotFound, ResultNotReady. InvalidArgument: bad page or page_size.
            InternalError: the result files are missing or corrupt.
        """
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"page must be >= 1 and page_size in 1..{MAX_PAGE_SIZE}")
        lo, hi = (page - 1) * page_size, page * page_size
        _, folder = self._data.finished(principal, job_id)
        items, total, found = self._data.guarded_read(
            job_id, lambda: read_list_page(folder.file(EXTRACTED), "round_trips", lo, hi, symbol)
        )
        if not found:
            trips = self._paired_from_fills(job_id, folder)
            if symbol:
                trips = trips[trips["order_book_id"] == symbol]
            items, total = records(trips.iloc[lo:hi]), len(trips)
            items = json_safe(items)
        return RoundTripPage(
            round_trips=_valid_trips(items), total=total, page=page, page_size=page_size
        )

    def _paired_from_fills(self, job_id: str, folder: RunFolder) -> pd.DataFrame:
        fills = self._data.guarded_read(
            job_id, lambda: list(iter_json_items(folder.file(RESULT), "trades"))
        )
        frame = pd.DataFrame([f for f in fills if isinstance(f, dict)])
        try:
            frame["datetime"] = pd.to_datetime(frame["datetime"])
            return round_trips(frame)
        except (KeyError, ValueError, TypeError):
            raise InternalError(f"the result file of job {job_id} is missing or corrupt") from None

    def tables(self, principal: Principal, job_id: str) -> PeriodTables:
        """Monthly / yearly returns, rolling metrics and the deepest drawdowns of the run.

        Raises:
            NotFound, ResultNotReady. InternalError: the result files are missing or corrupt.
        """
        _, folder = self._data.finished(principal, job_id)
        stored = self._data.guarded_read(
            job_id, lambda: read_json_members(folder.file(EXTRACTED), ("analysis",))
        )["analysis"]
        if not isinstance(stored, dict):  # a run from before the tables were recorded
            stored = self.load(job_id, folder).period_tables()
        try:
            return PeriodTables.model_validate(
                {**stored, "job_id": job_id, "conventions": PERIOD_CONVENTIONS}
            )
        except ValidationError:
            raise InternalError(f"the result file of job {job_id} is missing or corrupt") from None

    def load(self, job_id: str, folder: RunFolder) -> BacktestResult:
        """The whole result of a job (``result.json``), at most ``MAX_REPORT_MB``.

        Raises:
            PayloadTooLarge: the file is larger. InternalError: missing, unsafe or corrupt.
        """
        path = self._data.guarded_read(job_id, lambda: folder.file(RESULT))
        if path.stat().st_size > MAX_REPORT_MB * 2**20:
            raise PayloadTooLarge(
                f"the result of job {job_id} is larger than {MAX_REPORT_MB} MiB; download "
                "files/result.json instead"
            )
        try:
            return BacktestResult.read(path)
        except (OSError, ValueError):
            raise InternalError(f"the result file of job {job_id} is missing or corrupt") from None

    def report(self, principal: Principal, job_id: str) -> str:
        """The job's self-contained HTML tear sheet, with its title, notes and code version.

        Built from ``result.json`` (at most ``MAX_REPORT_MB``) when asked, so the title and
        notes are the current ones.

        Raises:
            NotFound, ResultNotReady. PayloadTooLarge / InternalError: as ``load``.
        """
        row, folder = self._data.finished(principal, job_id)
        result = self.load(job_id, folder)
        code = self._code(job_id, folder)
        meta = {
            "job_id": job_id,
            "title": row.title,
            "notes": row.notes,
            "strategy_id": row.strategy_id or None,
            "strategy_version": row.strategy_version,
            "code_sha256": hashlib.sha256(code.encode("utf-8")).hexdigest(),
            "created_at": iso_utc(row.created_at),
            "inline": not row.strategy_id,
        }
        return result.report(meta=meta)

    def plots(self, principal: Principal, job_id: str) -> PlotSeries:
        """The values the strategy recorded with ``plot()``, one series per name.

        Raises:
            NotFound, ResultNotReady. InternalError: the result file is missing or corrupt.
        """
        _, folder = self._data.finished(principal, job_id)
        plots = self._data.guarded_read(
            job_id, lambda: read_json_members(folder.file(RESULT), ("plots",))
        )["plots"]
        columns = plots if isinstance(plots, dict) else {}
        dates, names, values = (columns.get(k) or [] for k in ("date", "name", "value"))
        series: dict[str, PlotLine] = {}
        for day, name, value in zip(dates, names, values, strict=False):
            line = series.setdefault(str(name), PlotLine(dates=[], values=[]))
            line.dates.append(str(day))
            line.values.append(_number(value))
        return PlotSeries(job_id=job_id, series=series)

    # -- comparison ----------------------------------------------------------------------------

    def compare(self, principal: Principal, job_ids: str) -> Comparison:
        """2-10 of the caller's FINISHED jobs side by side.

        ``job_ids``: comma-separated. Metrics come from each job's summary (as its result
        shows them); curves are on the union of their sessions, each NAV rebased to 1 at the
        first session they all have (or its own first session when they share none);
        correlations are of daily returns on the sessions all runs have.

        Raises:
            InvalidArgument: fewer than 2 or more than 10 distinct ids. NotFound: a job is not
            the caller's. ResultNotReady: a job is not FINISHED. PayloadTooLarge /
            InternalError: as ``load``.
        """
        ids = list(dict.fromkeys(i.strip() for i in job_ids.split(",") if i.strip()))
        if not COMPARE_MIN <= len(ids) <= COMPARE_MAX:
            raise InvalidArgument(
                f"job_ids must name {COMPARE_MIN} to {COMPARE_MAX} distinct jobs "
                f"(comma-separated), got {len(ids)}"
            )
        runs: list[tuple[JobRow, RunFolder, BacktestResult]] = []
        for job_id in ids:
            row, folder = self._data.finished(principal, job_id)
            runs.append((row, folder, self.load(job_id, folder)))
        return Comparison(
            runs=[_run_of(row, result) for row, _, result in runs],
            metrics=_metric_rows(ids, [r.summary for _, _, r in runs]),
            **_curves(ids, [r.portfolio for _, _, r in runs]),
            inputs=_input_rows(
                ids, [{**row.request, "version": row.strategy_version} for row, _, _ in runs]
            ),
            code=_code_diffs(ids, [self._code(row.id, f) for _, f, _ in runs]),
        )

    def _code(self, job_id: str, folder: RunFolder) -> str:
        return self._data.guarded_read(
            job_id, lambda: folder.file("strategy.py").read_text(encoding="utf-8")
        )


def _run_of(row: JobRow, result: BacktestResult) -> CompareRun:
    request = row.request
    return CompareRun(
        job_id=row.id,
        strategy_id=row.strategy_id or None,
        strategy_name=row.strategy_name,
        title=row.title or "",
        notes=row.notes or "",
        strategy_version=row.strategy_version,
        engine=str(result.summary.get("engine") or request.get("engine") or "") or None,
        start_date=str(request.get("start_date") or "") or None,
        end_date=str(request.get("end_date") or "") or None,
    )


def _metric_rows(ids: list[str], summaries: list[dict[str, Any]]) -> list[MetricComparison]:
    rows = []
    for metric, higher in COMPARED_METRICS.items():
        values = {i: _number(s.get(metric)) for i, s in zip(ids, summaries, strict=True)}
        known = {i: v for i, v in values.items() if v is not None}
        best = None
        if higher is not None and known:
            pick = max if higher else min
            best = pick(known, key=lambda i: known[i])
        rows.append(
            MetricComparison(metric=metric, values=values, higher_is_better=higher, best=best)
        )
    return rows


def _curves(ids: list[str], portfolios: list[pd.DataFrame]) -> dict[str, Any]:
    navs = {i: pf["nav"].astype(float) for i, pf in zip(ids, portfolios, strict=True)}
    common = None
    for nav in navs.values():
        index = pd.DatetimeIndex(nav.index)
        common = index if common is None else common.intersection(index)
    axis = pd.DatetimeIndex(
        sorted(set().union(*(pd.DatetimeIndex(n.index) for n in navs.values())))
    )
    start = common[0] if common is not None and len(common) else None
    equity, drawdowns = {}, {}
    for i, nav in navs.items():
        base_day = start if start is not None else nav.index[0]
        window = nav[nav.index >= base_day]
        rebased = window / float(window.iloc[0]) if len(window) and window.iloc[0] else window
        peak = rebased.cummax()
        under = 1.0 - rebased / peak
        equity[i] = [_number(float(v)) for v in rebased.reindex(axis)]
        drawdowns[i] = [_number(float(v)) for v in under.reindex(axis)]
    dates = [d.date().isoformat() for d in axis]
    returns = pd.DataFrame(
        {i: pf["returns"].astype(float) for i, pf in zip(ids, portfolios, strict=True)}
    ).dropna()
    matrix = returns.corr().to_numpy() if len(returns) > 1 else np.full((len(ids),) * 2, np.nan)
    return {
        "equity": CurveSet(dates=dates, series=equity),
        "drawdowns": CurveSet(dates=dates, series=drawdowns),
        "correlation": Correlation(
            job_ids=ids,
            matrix=[[_number(float(x)) for x in row] for row in matrix],
            sessions=len(returns),
        ),
    }


def _input_rows(ids: list[str], requests: list[dict[str, Any]]) -> list[InputComparison]:
    rows = []
    for field in COMPARED_INPUTS:
        values = {i: r.get(field) for i, r in zip(ids, requests, strict=True)}
        distinct = {repr(v) for v in values.values()}
        rows.append(InputComparison(field=field, values=values, differs=len(distinct) > 1))
    return rows


def _code_diffs(ids: list[str], codes: list[str]) -> list[CodeDiff]:
    base_id, base = ids[0], codes[0]
    out = []
    for job_id, code in zip(ids[1:], codes[1:], strict=True):
        diff = "".join(
            difflib.unified_diff(
                base.splitlines(keepends=True), code.splitlines(keepends=True),
                fromfile=f"{base_id}/strategy.py", tofile=f"{job_id}/strategy.py",
            )
        )  # fmt: skip
        out.append(CodeDiff(job_id=job_id, identical=code == base, diff=diff))
    return out
