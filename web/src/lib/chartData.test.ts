import { describe, expect, it } from "vitest";
import {
  candles,
  drawdown,
  equitySeries,
  everyNth,
  niceStep,
  paddedAxis,
  tradeMarks,
} from "./chartData";

describe("chart data", () => {
  it("maps nav to cumulative returns in percent, with the benchmark when there is one", () => {
    const s = equitySeries({
      dates: ["d1", "d2", "d3"],
      nav: [1, 1.1, 0.99],
      returns: [0, 0.1, -0.1],
      benchmark_nav: [1, 1.02, null],
    });
    expect(s.strategy).toEqual([0, 10, -1]);
    expect(s.benchmark).toEqual([0, 2, null]);
    expect(s.drawdown).toEqual([0, 0, -10]);
    const alone = equitySeries({ dates: ["d1"], nav: [1], returns: [0], benchmark_nav: [null] });
    expect(alone.benchmark).toEqual([]);
  });

  it("measures drawdown from the running peak and skips gaps", () => {
    expect(drawdown([1, 2, 1.5, null, 2.5, 2])).toEqual([0, 0, -25, null, 0, -20]);
  });

  it("orders candles as ECharts wants: open, close, low, high", () => {
    const k = candles({
      order_book_id: "A",
      adjust: "none",
      dates: ["d1"],
      open: [1],
      high: [4],
      low: [0.5],
      close: [3],
      volume: [100],
      total: 1,
      offset: 0,
    });
    expect(k.values).toEqual([[1, 3, 0.5, 4]]);
    expect(k.volume).toEqual([100]);
  });

  it("marks fills of the symbol per day and side, volume-weighted, inside the chart", () => {
    const trades = [
      {
        datetime: "2010-01-04T16:00:00",
        order_book_id: "AAPL",
        side: "BUY",
        quantity: 100,
        price: 10,
      },
      {
        datetime: "2010-01-04T16:00:00",
        order_book_id: "AAPL",
        side: "BUY",
        quantity: 300,
        price: 12,
      },
      {
        datetime: "2010-01-05T16:00:00",
        order_book_id: "AAPL",
        side: "SELL",
        quantity: 400,
        price: 13,
      },
      {
        datetime: "2010-01-05T16:00:00",
        order_book_id: "MSFT",
        side: "BUY",
        quantity: 5,
        price: 30,
      },
      {
        datetime: "2011-01-05T16:00:00",
        order_book_id: "AAPL",
        side: "SELL",
        quantity: 1,
        price: 1,
      },
    ];
    expect(tradeMarks(trades, "AAPL", ["2010-01-04", "2010-01-05"])).toEqual([
      { date: "2010-01-04", side: "BUY", price: 11.5, quantity: 400, count: 2 },
      { date: "2010-01-05", side: "SELL", price: 13, quantity: 400, count: 1 },
    ]);
  });

  it("downsamples keeping both ends", () => {
    expect(everyNth([1, 2, 3, 4, 5, 6, 7, 8, 9], 3)).toEqual([1, 5, 9]);
    expect(everyNth([1, 2], 5)).toEqual([1, 2]);
  });
});

describe("the live equity axis", () => {
  it("steps are 1, 2, 2.5 or 5 times a power of ten", () => {
    expect([0.17, 0.2, 0.24, 0.4, 0.7, 2.14, 31].map(niceStep)).toEqual([
      0.2, 0.2, 0.25, 0.5, 1, 2.5, 50,
    ]);
  });

  it("has round bounds with room around the values", () => {
    expect(paddedAxis([0, 0, 0])).toEqual({ min: -0.6, max: 0.6, interval: 0.2 });
    expect(paddedAxis([-7.47, 1.79, 0])).toEqual({ min: -10, max: 5, interval: 2.5 });
    const wide = paddedAxis([0, 150, Number.NaN]);
    expect(wide).toEqual({ min: -50, max: 200, interval: 50 });
    expect(paddedAxis([])).toBeNull();
    expect(paddedAxis([Number.NaN])).toBeNull();
  });
});
