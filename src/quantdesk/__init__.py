"""quantdesk: a self-hosted quant backtesting platform.

``quantdesk.run_backtest(strategy, start=..., end=..., ...)`` runs one backtest on the
market-data catalog and returns a ``BacktestResult`` (see ``quantdesk.backtest.run``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quantdesk.backtest import BacktestResult, run_backtest

__all__ = ["BacktestResult", "run_backtest"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import quantdesk` stays cheap (no pandas/pyarrow until needed).
    if name in __all__:
        from quantdesk import backtest

        return getattr(backtest, name)
    raise AttributeError(f"module 'quantdesk' has no attribute {name!r}")
