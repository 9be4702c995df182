"""The backtrader engine adapter (work in progress)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quantdesk.backtest.engines import EngineRun, LogSink, ProgressCallback
from quantdesk.core.errors import EngineUnavailable

if TYPE_CHECKING:
    from quantdesk.backtest.run import PreparedBacktest


def run_backtrader(
    prepared: PreparedBacktest,
    *,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
) -> EngineRun:
    """Run a ``bt.Strategy`` subclass on backtrader."""
    raise EngineUnavailable("engine backtrader is not built yet")
