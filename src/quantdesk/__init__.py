"""quantdesk: a self-hosted quant backtesting platform.

``quantdesk.run_backtest(strategy, start=..., end=..., ...)`` runs one backtest on the
market-data catalog and returns a ``BacktestResult`` (see ``quantdesk.backtest.run``);
``quantdesk.run_spec(strategy, BacktestSpec(...))`` does the same from a validated spec;
``quantdesk.Catalog`` opens a catalog (``quantdesk.data``). The engine itself is
``quantdesk.engine``.

Public names are those in ``__all__`` (``dir(quantdesk)`` lists them); they are imported on
first use, so ``import quantdesk`` stays cheap (no pandas or pyarrow until needed).
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quantdesk.backtest import BacktestResult, BacktestSpec, run_backtest, run_spec
    from quantdesk.data import Adjust, Catalog

try:
    __version__ = metadata.version("quantdesk")
except metadata.PackageNotFoundError:  # (a source tree that was never installed)
    __version__ = "0.0.0"

#: Where each lazily imported public name lives.
_LAZY = {
    "BacktestResult": "quantdesk.backtest",
    "BacktestSpec": "quantdesk.backtest",
    "run_spec": "quantdesk.backtest",
    "run_backtest": "quantdesk.backtest",
    "Catalog": "quantdesk.data",
    "Adjust": "quantdesk.data",
}

__all__ = [
    "Adjust", "BacktestResult", "BacktestSpec", "Catalog", "__version__", "run_backtest",
    "run_spec",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'quantdesk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
