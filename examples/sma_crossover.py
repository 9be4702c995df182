"""SMA crossover: hold the instrument while the fast moving average is above the slow one.

Parameters: ``fast`` and ``slow`` window lengths in sessions.

Run: quantdesk backtest examples/sma_crossover.py --start 2005-01-03 --end 2012-12-31 \
         --universe AAPL --benchmark SPX --param fast=10 --param slow=30
"""

from rqalpha.api import *

PARAMS = {"fast": 10, "slow": 30}


def init(context):
    context.fast = context.params["fast"]
    context.slow = context.params["slow"]
    if context.fast >= context.slow:
        raise ValueError("fast must be shorter than slow")


def handle_bar(context, bar_dict):
    for oid in context.universe:
        closes = history_bars(oid, context.slow, "1d", "close")
        if len(closes) < context.slow:
            continue
        fast_ma = closes[-context.fast :].mean()
        slow_ma = closes.mean()
        held = context.portfolio.positions[oid].quantity
        if fast_ma > slow_ma and held == 0:
            order_target_percent(oid, 1.0 / len(context.universe))
        elif fast_ma < slow_ma and held > 0:
            order_target_percent(oid, 0)
    plot("cash", context.portfolio.cash)
