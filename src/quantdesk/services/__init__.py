"""Use cases: authentication, strategies and backtest jobs, with ownership checks."""
