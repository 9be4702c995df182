"""One backtest as a function call: catalog + engine -> ``BacktestResult``.

This layer sits between the catalog/engine and the job runner, CLI and services: they are
all thin layers over ``run_backtest``.
"""

from quantdesk.backtest.result import BacktestResult
from quantdesk.backtest.run import run_backtest

__all__ = ["BacktestResult", "run_backtest"]
