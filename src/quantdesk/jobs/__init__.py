"""Job execution: run folders, the backtest subprocess, workers and the local worker pool."""
