"""One backtest as a function call: catalog + engine -> ``BacktestResult``.

This layer sits between the catalog/engine and the job runner, CLI and services: they are
all thin layers over ``run_backtest``.
"""

from quantdesk.backtest.result import BacktestResult
from quantdesk.backtest.run import run_backtest, run_spec
from quantdesk.backtest.spec import BacktestSpec, EngineName, Frequency

__all__ = ["BacktestResult", "BacktestSpec", "EngineName", "Frequency", "run_backtest", "run_spec"]
