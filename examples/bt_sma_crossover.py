"""SMA crossover for backtrader: hold the first symbol while its fast average is above the slow.

A ``bt.Strategy`` runs on engine ``backtrader`` (picked automatically). It trades ``self.data``,
the first symbol of the universe (``self.datas`` holds the universe only). Buys size like the native
``sma_crossover`` example: all the value at the signal bar's close. A buy the broker rejects
for cash (the next open gapped up) is retried while the fast average stays above.

Parameters: ``fast`` and ``slow`` window lengths in sessions.

Run: quantdesk backtest examples/bt_sma_crossover.py --start 2005-01-03 --end 2012-12-31 \
         --universe AAPL --benchmark SPX --matching next_bar --param fast=10 --param slow=30
"""

import backtrader as bt


class SmaCrossover(bt.Strategy):
    params = (("fast", 10), ("slow", 30))

    def __init__(self):
        if self.p.fast >= self.p.slow:
            raise ValueError("fast must be shorter than slow")
        fast = bt.ind.SMA(self.data.close, period=self.p.fast)
        slow = bt.ind.SMA(self.data.close, period=self.p.slow)
        self.crossover = bt.ind.CrossOver(fast, slow)
        self.above = False  # the last cross was upwards

    def prenext(self):
        # backtrader calls next() only once every feed has a bar; a symbol listed inside the
        # window would delay it, so trade self.data as soon as it has bars (the averages are
        # NaN, hence no signal, until they exist).
        if len(self.data):
            self.next()

    def next(self):
        if self.crossover > 0:
            self.above = True
        elif self.crossover < 0:
            self.above = False
        if self.above and not self.position:
            self.order_target_percent(target=1.0)
        elif not self.above and self.position:
            self.close()

    def notify_order(self, order):
        if order.status in (order.Margin, order.Rejected):
            print(f"order of {order.created.size:g} not filled: {order.getstatusname()}")
