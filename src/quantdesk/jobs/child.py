"""The backtest subprocess: ``python -I -m quantdesk.jobs.child RUN_DIR``.

Reads ``config.yml`` and ``strategy.py`` from the job folder, runs the backtest, streams log
lines to stdout (the worker points stdout at ``run.log``), writes ``progress.json`` as it goes,
and on success the result files and ``extracted.json``; on failure ``error.json``.

Exit status: 0 finished, 1 the run failed (``error.json`` has the code), 2 internal error,
3 the worker that started it is gone.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

from quantdesk.backtest import BacktestResult, run_backtest
from quantdesk.core.errors import QuantdeskError, StrategyError
from quantdesk.core.jobs import JobErrorCode
from quantdesk.data import Catalog
from quantdesk.jobs.artifacts import EXTRACTED, RunFolder, write_json

#: ``config.yml`` keys passed to ``run_backtest`` as they are.
RUN_ARGS = (
    "cash", "universe", "benchmark", "frequency", "market", "matching", "adjust",
    "commission", "min_commission", "tax", "slippage", "params", "engine",
)  # fmt: skip


def extract(result: BacktestResult) -> dict[str, Any]:
    """The contract's result shape: ``summary``, ``equity``, ``trades``, ``trade_columns``,
    ``trades_total``, ``raw_keys`` (plus ``conventions`` and ``config``)."""
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
    }


def main(run_dir: str) -> int:
    folder = RunFolder(Path(run_dir).parent, Path(run_dir).name)
    out = sys.stdout
    parent = os.getppid()

    def log(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    last_pct = -1.0

    def progress(done: int, total: int) -> None:
        nonlocal last_pct
        if os.getppid() != parent:  # the worker died: stop, the job will be requeued
            os._exit(3)
        pct = round(100.0 * done / total, 1)
        if pct - last_pct >= 1.0 or done == total:
            last_pct = pct
            write_json(
                folder.path / "progress.json",
                {"progress": pct, "current_bar": done, "total_bars": total},
            )

    try:
        config = folder.read_config()
        os.chdir(folder.path)  # tracebacks then name "strategy.py", not a server path
        result = run_backtest(
            Path("strategy.py"),
            start=config["start_date"],
            end=config["end_date"],
            catalog=Catalog(config["data_dir"]),
            progress=progress,
            log_sink=log,
            strategy_name=config.get("strategy_id"),
            work_dir=folder.path,  # RQAlpha's result.pkl lands beside extracted.json
            **{k: config[k] for k in RUN_ARGS if k in config},
        )
        result.write(folder.path, log=False)  # run.log is the job's own, streamed
        write_json(folder.path / EXTRACTED, extract(result))
        log(
            f"finished on {result.summary['engine']} {result.summary['engine_version']}: "
            f"total_returns={result.summary['total_returns']:.6f} "
            f"trades={result.summary['trade_count']}"
        )
        return 0
    except QuantdeskError as exc:
        if isinstance(exc, StrategyError) and exc.user_traceback:
            log(exc.user_traceback.rstrip())
        log(f"ERROR {exc.code}: {exc.message}")
        write_json(folder.path / "error.json", {"code": exc.code, "message": exc.message})
        return 1
    except Exception as exc:
        log(traceback.format_exc().rstrip())
        write_json(
            folder.path / "error.json",
            {"code": JobErrorCode.INTERNAL_ERROR, "message": f"{type(exc).__name__}: {exc}"},
        )
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
