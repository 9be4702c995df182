"""quantdesk: a self-hosted quant backtesting platform.

``quantdesk.run_backtest(strategy, start=..., end=..., ...)`` runs one backtest on the
market-data catalog and returns a ``BacktestResult`` (see ``quantdesk.backtest.run``);
``quantdesk.run_spec(strategy, BacktestSpec(...))`` does the same from a validated spec;
``quantdesk.Catalog`` opens a catalog (``quantdesk.data``). The engine itself is
``quantdesk.engine``.

Research helpers (``quantdesk.research``), for notebooks: ``get_price(ids, start, end,
fields, adjust)``, ``all_instruments(type, market)`` and ``index_components(index, date)`` /
``index_weights`` read the catalog, ``load_job(job_id)``
reads a finished job's result; a ``BacktestResult`` has ``stats()``, ``round_trips()`` and
``plot()`` and shows itself as a metrics table in a notebook.

Public names are those in ``__all__`` (``dir(quantdesk)`` lists them); they are imported on
first use, so ``import quantdesk`` stays cheap (no pandas or pyarrow until needed).
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quantdesk.backtest import BacktestResult, BacktestSpec, run_backtest, run_spec
    from quantdesk.data import Adjust, Catalog
    from quantdesk.research import (
        all_instruments,
        get_price,
        index_components,
        index_weights,
        load_job,
    )

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
    "get_price": "quantdesk.research",
    "all_instruments": "quantdesk.research",
    "load_job": "quantdesk.research",
    "index_components": "quantdesk.research",
    "index_weights": "quantdesk.research",
}

__all__ = [
    "Adjust", "BacktestResult", "BacktestSpec", "Catalog", "__version__", "all_instruments",
    "get_price", "index_components", "index_weights", "load_job", "run_backtest", "run_spec",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'quantdesk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
