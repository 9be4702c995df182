"""The native backtest engine: pure, deterministic, RQAlpha-compatible strategy API.

The engine imports no web, database, queue or storage library. It reads bars through the
``BarSource`` port (implemented by ``quantdesk.data``) and returns an ``EngineResult``.
"""

from quantdesk.engine.config import EngineConfig, Matching
from quantdesk.engine.loop import Engine
from quantdesk.engine.ports import BarSeries, BarSource
from quantdesk.engine.profiles import MarketProfile, market_profile
from quantdesk.engine.records import EngineResult

__all__ = [
    "BarSeries",
    "BarSource",
    "Engine",
    "EngineConfig",
    "EngineResult",
    "MarketProfile",
    "Matching",
    "market_profile",
]
