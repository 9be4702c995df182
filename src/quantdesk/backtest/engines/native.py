"""The native engine adapter: ``quantdesk.engine.Engine`` in this process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quantdesk.backtest.spec import EngineRun, LogSink, ProgressCallback, SessionCallback
from quantdesk.core.version import package_version
from quantdesk.engine import Engine

if TYPE_CHECKING:
    from quantdesk.backtest.spec import PreparedBacktest


def run_native(
    prepared: PreparedBacktest,
    *,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
    on_session: SessionCallback | None = None,
) -> EngineRun:
    """Run ``prepared`` on the native engine (see ``run_engine``)."""
    engine = Engine(prepared.bar_source(), prepared.config, progress=progress,
                    log_sink=log_sink, on_session=on_session)  # fmt: skip
    raw = engine.run(prepared.source, prepared.filename)
    return EngineRun(raw=raw, engine="native", engine_version=package_version("quantdesk"))
