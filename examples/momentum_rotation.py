"""Multi-stock momentum rotation: every ``rebalance_days`` sessions hold the ``top_n`` stocks
with the best ``lookback``-session return, equally weighted.

Run: quantdesk backtest examples/momentum_rotation.py --start 2005-01-03 --end 2013-02-28 \
         --universe AAPL,GOOG,IBM,MSFT --benchmark SPX
"""

from rqalpha.api import *

PARAMS = {"lookback": 60, "top_n": 2, "rebalance_days": 20}


def init(context):
    context.days = 0


def handle_bar(context, bar_dict):
    p = context.params
    context.days += 1
    if (context.days - 1) % p["rebalance_days"]:
        return
    scores = {}
    for oid in context.universe:
        closes = history_bars(oid, p["lookback"] + 1, "1d", "close")
        if len(closes) == p["lookback"] + 1 and bar_dict[oid].is_trading:
            scores[oid] = closes[-1] / closes[0] - 1
    ranked = sorted(scores, key=lambda oid: (-scores[oid], oid))
    winners = ranked[: p["top_n"]]
    for oid in list(context.portfolio.positions):
        if oid not in winners:
            order_target_percent(oid, 0)
    for oid in winners:
        order_target_percent(oid, 0.99 / len(winners))
    logger.info("hold " + ", ".join(winners))
