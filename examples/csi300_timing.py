"""CSI 300 timing on the A-share rules: hold the CSI 300 index (as a tracker) while its close
is above its ``ma``-session moving average, in cash otherwise.

Runs under ``cn_stock``: T+1, 0.08% commission (5 CNY minimum), price-limit checks, fills
capped at 25% of volume. Index units trade in lots of 1.

Run: quantdesk backtest examples/csi300_timing.py --market cn_stock --start 2010-01-04 \
         --end 2024-12-31 --universe 000300.XSHG --benchmark 000300.XSHG --cash 1000000
"""

from rqalpha.api import *

PARAMS = {"ma": 60}

INDEX = "000300.XSHG"


def init(context):
    subscribe(INDEX)


def handle_bar(context, bar_dict):
    closes = history_bars(INDEX, context.params["ma"], "1d", "close")
    if len(closes) < context.params["ma"]:
        return
    above = bar_dict[INDEX].close > closes.mean()
    held = context.portfolio.positions[INDEX].quantity
    if above and held == 0:
        order_target_percent(INDEX, 0.98)
    elif not above and held > 0:
        order_target_percent(INDEX, 0)
