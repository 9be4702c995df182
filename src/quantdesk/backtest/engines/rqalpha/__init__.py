"""The RQAlpha engine adapter (work in progress)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from quantdesk.backtest.engines import EngineRun, LogSink, ProgressCallback
from quantdesk.core.errors import EngineUnavailable

if TYPE_CHECKING:
    from quantdesk.backtest.run import PreparedBacktest


def run_rqalpha(
    prepared: PreparedBacktest,
    *,
    work_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
) -> EngineRun:
    """Run RQAlpha-style code on real RQAlpha."""
    raise EngineUnavailable("engine rqalpha is not built yet")
