"""Buy and hold: put the whole portfolio into one instrument on the first day and keep it.

Run: quantdesk backtest examples/buy_and_hold.py --start 2005-01-03 --end 2012-12-31 \
         --universe AAPL --benchmark SPX
"""

from rqalpha.api import *

PARAMS = {"percent": 1.0}


def init(context):
    context.target = context.universe[0]
    context.bought = False


def handle_bar(context, bar_dict):
    if not context.bought:
        order_target_percent(context.target, context.params["percent"])
        context.bought = True
        logger.info(
            f"bought {context.portfolio.positions[context.target].quantity} "
            f"{context.target} at {bar_dict[context.target].close}"
        )
