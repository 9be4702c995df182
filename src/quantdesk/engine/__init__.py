"""The native backtest engine: pure, deterministic, RQAlpha-compatible strategy API.

The engine imports no web, database, queue or storage library. It reads bars through the
``BarSource`` port (implemented by ``quantdesk.data``) and returns an ``EngineResult``.

Public names (``__all__``) are what the rest of quantdesk and the engine adapters
(``quantdesk.backtest.engines``) may import; the submodules are internal.
"""

from quantdesk.engine.config import EngineConfig, Matching
from quantdesk.engine.costs import limit_prices
from quantdesk.engine.loop import Engine
from quantdesk.engine.params_schema import params_schema
from quantdesk.engine.ports import BarSeries, BarSource
from quantdesk.engine.profiles import MAX_AMOUNT, MarketName, MarketProfile, market_profile
from quantdesk.engine.records import EngineResult, Fill, Order, OrderStatus, RejectReason, Side
from quantdesk.engine.rules import order_quantities, price_limits
from quantdesk.engine.strategy import exec_source, resolve_params, user_error
from quantdesk.engine.user_output import PrintToLog

__all__ = [
    "MAX_AMOUNT",
    "BarSeries",
    "BarSource",
    "Engine",
    "EngineConfig",
    "EngineResult",
    "Fill",
    "MarketName",
    "MarketProfile",
    "Matching",
    "Order",
    "OrderStatus",
    "PrintToLog",
    "RejectReason",
    "Side",
    "exec_source",
    "limit_prices",
    "market_profile",
    "order_quantities",
    "params_schema",
    "price_limits",
    "resolve_params",
    "user_error",
]
