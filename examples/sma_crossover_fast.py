"""SMA crossover with precomputed indicators: the same rule as sma_crossover.py, much faster.

Hold each instrument of the universe (an equal slot each) while its fast moving average is
above the slow one. ``indicator("SMA", n)`` computes the averages once per instrument in
``init``; ``handle_bar`` only reads today's row (``.now``), so no future value is visible.

Parameters: ``fast`` and ``slow`` window lengths in sessions.

Run: quantdesk backtest examples/sma_crossover_fast.py --start 2005-01-03 --end 2012-12-31 \
         --universe AAPL,IBM,MSFT --benchmark SPX --param fast=10 --param slow=30
"""

from rqalpha.api import *

PARAMS = {"fast": 10, "slow": 30}


def init(context):
    if context.params["fast"] >= context.params["slow"]:
        raise ValueError("fast must be shorter than slow")
    context.fast = indicator("SMA", context.params["fast"])
    context.slow = indicator("SMA", context.params["slow"])


def handle_bar(context, bar_dict):
    fast, slow = context.fast.now, context.slow.now  # one value per id of context.fast.ids
    # NaN (warm-up) compares False both ways: no trade until both averages exist.
    above, below = (fast > slow).tolist(), (fast < slow).tolist()
    weight = 1.0 / len(context.fast.ids)
    positions = context.portfolio.positions
    for oid, up, down in zip(context.fast.ids, above, below, strict=True):
        position = positions.get(oid)
        held = position.quantity if position is not None else 0
        if up and held == 0:
            order_target_percent(oid, weight)
        elif down and held > 0:
            order_target_percent(oid, 0)
    plot("cash", context.portfolio.cash)
