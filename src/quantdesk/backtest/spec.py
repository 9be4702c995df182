"""What every engine takes and gives.

``PreparedBacktest`` (a validated request) and ``EngineRun`` (what an engine produced), below
the dispatcher (``backtest/engines``) and ``run_backtest`` (``backtest/run.py``), so neither
imports the other's module to name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quantdesk.data.catalog import Adjust, Catalog
from quantdesk.engine import BarSource, EngineConfig, EngineResult

ProgressCallback = Callable[[int, int], None]
LogSink = Callable[[str], None]


@dataclass
class EngineRun:
    """What one engine produced.

    Attributes:
        raw: The engine-neutral columns (see ``quantdesk.engine.EngineResult``).
        engine: ``native``, ``rqalpha`` or ``backtrader``.
        engine_version: The engine's package version, e.g. ``"6.4.2"``.
        reference: The engine's own summary where it computes one (RQAlpha's ``summary``),
            kept beside ours for cross-checks; ``None`` otherwise.
        artifacts: Extra files the engine wrote into the work directory (names).
    """

    raw: EngineResult
    engine: str
    engine_version: str
    reference: dict[str, Any] | None = None
    artifacts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PreparedBacktest:
    """A validated request: the strategy text, the catalog and the engine configuration."""

    source: str
    filename: str
    name: str
    catalog: Catalog
    config: EngineConfig
    adjust: Adjust
    frequency: str
    engine: str = "native"
    rqalpha_command: str | None = None
    bars: BarSource | None = None

    def bar_source(self) -> BarSource:
        """The bars every engine reads.

        ``bars`` if set (tests), else the catalog's ``adjust`` view.
        """
        return self.bars if self.bars is not None else self.catalog.bar_source(self.adjust)
