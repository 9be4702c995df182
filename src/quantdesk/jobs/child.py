"""The backtest in the sandbox: ``main(run_dir)``, forked from the worker's fork server.

Outside the platform: ``python -I -m quantdesk.jobs.child RUN_DIR``.

Reads ``config.yml`` and ``strategy.py`` from the job folder, runs the backtest, streams log
lines to stdout (the worker appends them to ``run.log``), reports progress and errors as JSON
lines on the events pipe (fd 3) when it is open (``progress.json`` otherwise), and on success
writes the result files and ``extracted.json``; on failure ``error.json`` (best effort: the
folder may be full).

Exit status: 0 finished, 1 the run failed (the error has the code), 2 internal error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from quantdesk.backtest import BacktestResult, run_backtest, run_spec
from quantdesk.core.errors import InvalidArgument, QuantdeskError, StrategyError
from quantdesk.core.jobs import JobErrorCode
from quantdesk.data import Catalog
from quantdesk.jobs.artifacts import JobFailure, JobProgress, RunFolder
from quantdesk.jobs.events import EVENTS_FD


def extract(result: BacktestResult) -> dict[str, Any]:
    """The contract's result shape.

    ``summary``, ``equity``, ``trades``, ``trade_columns``, ``trades_total``, ``raw_keys``
    (plus ``conventions``, ``config``, ``round_trips`` with ``round_trips_total`` and
    ``analysis``: what the API pages and the report read without the whole result).
    """
    full = result.to_dict()
    return {
        "summary": full["summary"],
        "equity": full["equity"],
        "trades": full["trades"],
        "trade_columns": full["trade_columns"],
        "trades_total": full["trades_total"],
        "raw_keys": sorted(full),
        "conventions": full["conventions"],
        "config": full["config"],
        "round_trips": full["round_trips"],
        "round_trips_total": full["round_trips_total"],
        "analysis": full["analysis"],
    }


#: Seconds between two progress events (the last one is always sent).
PROGRESS_EVERY = 0.25
_DISK_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


_WARM: dict[str, str] = {}
_PREFAULT_STRATEGY = "def handle_bar(context, bar_dict):\n    pass\n"


def warm(data_dir: str) -> None:
    """Load what every job on ``data_dir`` reads first (the trading calendars).

    The fork server's children then inherit it instead of each loading it.
    """
    if data_dir:
        Catalog(data_dir).warm()
        _WARM["data_dir"] = data_dir


def prefault() -> None:
    """Run a two-week backtest of an empty strategy on the warm catalog and discard it.

    A job forked from the fork server shares the template's memory until it writes to it;
    its first backtest then copies thousands of pages one fault at a time. A prepared sandbox
    calls this while it waits for its job (at idle priority), so that copying is done before
    the job's clock starts. Any failure is ignored: it only costs the job those faults.
    """
    data_dir = _WARM.get("data_dir")
    if not data_dir:
        return
    with contextlib.suppress(Exception):
        catalog = Catalog(data_dir)
        for row in catalog.stats():
            if row.get("type") == "CS" and row.get("last_bar") and row.get("bar_count", 0) > 20:
                last = dt.date.fromisoformat(str(row["last_bar"])[:10])
                market = "cn_stock" if row.get("market") == "cn" else "us_stock"
                run_backtest(
                    _PREFAULT_STRATEGY, start=last - dt.timedelta(days=14), end=last,
                    catalog=catalog, universe=[row["order_book_id"]], benchmark="none",
                    market=market, log_sink=lambda _line: None,
                ).to_dict()  # fmt: skip
                return


def _events_open() -> bool:
    try:
        os.fstat(EVENTS_FD)
    except OSError:
        return False
    return True


def resource_error(exc: BaseException) -> tuple[str, str] | None:
    """``(code, message)`` when ``exc`` (or what caused it) is a resource limit."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return JobErrorCode.MEMORY_LIMIT, "out of memory (BACKTEST_MEMORY_MB)"
        if isinstance(current, OSError) and current.errno in _DISK_ERRNOS:
            return JobErrorCode.DISK_LIMIT, f"no space left: {current} (BACKTEST_DISK_MB)"
        if isinstance(current, BlockingIOError) or (
            isinstance(current, OSError) and current.errno == errno.EAGAIN
        ):
            return JobErrorCode.PROCESS_LIMIT, f"{current} (BACKTEST_MAX_PROCS)"
        current = current.__cause__ or current.__context__
    return None


def cap_logs(logs: list[str], limit: int) -> list[str]:
    """The first lines of ``logs`` that fit in ``limit`` bytes, and a line saying how many were cut.

    The result files keep no more of the log than ``run.log`` does.
    """
    kept: list[str] = []
    used = 0
    for line in logs:
        used += len(line.encode(errors="replace")) + 1
        if used > limit:
            kept.append(f"[{len(logs) - len(kept)} more log lines cut at {limit} bytes]")
            return kept
        kept.append(line)
    return kept


class _Reporter:
    """What a running job tells its runner.

    Log lines (stdout), progress with the new equity points, and its error (the events pipe,
    or ``progress.json``/``error.json`` without one).
    """

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.events = _events_open()
        self._out = sys.stdout  # the real one: the engine sends print() to the log sink
        self._last = (-1.0, 0.0)
        self._equity: list[list[Any]] = []  # sessions' NAV since the last progress event

    def log(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def emit(self, payload: dict[str, Any]) -> None:
        if self.events:
            os.write(EVENTS_FD, (json.dumps(payload) + "\n").encode())

    def fail(self, code: str, message: str) -> None:
        error = JobFailure(code=code, message=message)
        self.emit({"error": error.model_dump()})
        with contextlib.suppress(OSError):
            self.folder.write_error(error)

    def on_session(self, day: dt.date, nav: float) -> None:
        if self.events:
            self._equity.append([day.isoformat(), round(nav, 10)])

    def progress(self, done: int, total: int) -> None:
        pct = round(100.0 * done / total, 1)
        now = time.monotonic()
        last_pct, last_at = self._last
        if not (done in (0, total) or (pct > last_pct and now - last_at >= PROGRESS_EVERY)):
            return
        self._last = (pct, now)
        update = JobProgress(
            progress=pct, current_bar=done, total_bars=total,
            started_at=time.time() if done == 0 else None,  # the strategy's init is next
        )  # fmt: skip
        if not self.events:
            self.folder.write_progress(update)
            return
        payload = update.model_dump(exclude_none=True)
        if self._equity:
            payload["equity"], self._equity = self._equity, []
        self.emit(payload)


def main(run_dir: str, log_bytes: int | None = None) -> int:
    """Run the job in ``run_dir``; ``log_bytes`` caps the log lines kept in the result."""
    folder = RunFolder(Path(run_dir).parent, Path(run_dir).name)
    report = _Reporter(folder)
    log, fail = report.log, report.fail

    try:
        try:
            config = folder.read_config()
        except ValueError as exc:
            raise InvalidArgument(f"config.yml is not a valid job config: {exc}") from None
        os.chdir(folder.path)  # tracebacks then name "strategy.py", not a server path
        result = run_spec(
            Path("strategy.py"),
            config,
            catalog=Catalog(config.data_dir),
            progress=report.progress,
            log_sink=log,
            strategy_name=config.strategy_id or config.strategy_name or "inline",
            work_dir=folder.path,  # RQAlpha's result.pkl lands beside extracted.json
            on_session=report.on_session,
        )
        if log_bytes is not None:
            result.logs[:] = cap_logs(result.logs, log_bytes)
        result.write(folder.path, log=False)  # run.log is the job's own, streamed
        folder.write_extracted(extract(result))
        log(
            f"finished on {result.summary['engine']} {result.summary['engine_version']}: "
            f"total_returns={result.summary['total_returns']:.6f} "
            f"trades={result.summary['trade_count']}"
        )
        return 0
    except QuantdeskError as exc:
        if isinstance(exc, StrategyError) and exc.user_traceback:
            log(exc.user_traceback.rstrip())
        code, message = resource_error(exc) or (exc.code, exc.message)
        log(f"ERROR {code}: {message}")
        fail(code, message)
        return 1
    except Exception as exc:
        limit = resource_error(exc)
        if limit is not None:
            log(f"ERROR {limit[0]}: {limit[1]}")
            fail(*limit)
            return 1
        log(traceback.format_exc().rstrip())
        fail(JobErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
