import { describe, expect, it } from "vitest";
import { alignSeries, axisGroups, movingAverage, onPriceScale, quantile } from "./indicators";

describe("indicators", () => {
  it("averages over the window once it is full", () => {
    expect(movingAverage([1, 2, 3, 4, 5], 3)).toEqual([null, null, 2, 3, 4]);
    expect(movingAverage([1, 2], 5)).toEqual([null, null]);
    expect(movingAverage([4, 6], 1)).toEqual([4, 6]);
    expect(movingAverage([1, 2, 3], 0)).toEqual([null, null, null]);
  });

  it("leaves windows with a gap empty", () => {
    expect(movingAverage([1, null, 3, 4, 5, 6], 2)).toEqual([null, null, null, 3.5, 4.5, 5.5]);
  });

  it("matches a direct average on a long series (no drift)", () => {
    const xs = Array.from({ length: 500 }, (_, i) => 100 + Math.sin(i / 7) * 10 + i * 0.01);
    const ma = movingAverage(xs, 20);
    const direct = xs.slice(480).reduce((a, b) => a + b, 0) / 20;
    expect(ma[499]).toBeCloseTo(direct, 6);
  });

  it("lays a series on the chart's dates", () => {
    expect(
      alignSeries(
        ["2010-01-04", "2010-01-05", "2010-01-06"],
        ["2010-01-05", "2010-01-06T16:00:00"],
        [1.5, 2],
      ),
    ).toEqual([null, 1.5, 2]);
  });

  it("tells series on the price's scale from others", () => {
    const closes = [100, 102, 98, 101, 150, 180];
    expect(onPriceScale([99, 100, 101, 140], closes)).toBe(true);
    expect(onPriceScale([100000, 100500], closes)).toBe(false);
    expect(onPriceScale([0.2, 0.5], closes)).toBe(false);
    expect(onPriceScale([], closes)).toBe(false);
    // Cash: near the price while invested (the odd change), far above it otherwise.
    const cash = [...Array(60).fill(155), ...Array(40).fill(250000)];
    expect(onPriceScale(cash, closes)).toBe(false);
    expect(onPriceScale([-1, 1, 0.5], closes)).toBe(false);
  });

  it("puts series of a much smaller scale on a second axis", () => {
    const cash = [100000, 0, 250000, 150];
    const ma = [190, 200, 210, null];
    expect(axisGroups([cash, ma, [300, 500]])).toEqual([0, 1, 1]);
    expect(axisGroups([ma, [150, 250]])).toEqual([0, 0]);
    expect(axisGroups([[null], [0, 0]])).toEqual([0, 0]);
    expect(quantile([5, 1, 3, null], 0.5)).toBe(3);
    expect(quantile([], 0.5)).toBeNull();
  });
});
