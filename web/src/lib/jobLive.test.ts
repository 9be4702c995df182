import { describe, expect, it } from "vitest";
import type { EquityPoint } from "../api/live";
import {
  addSample,
  appendLines,
  barRate,
  etaSeconds,
  MAX_LINES,
  mergeEquity,
  type ProgressSample,
  pushesEquity,
  runWindow,
  shortDuration,
  sliceLines,
} from "./jobLive";

describe("ETA", () => {
  it("comes from the bar rate over the recent samples", () => {
    let samples: ProgressSample[] = [];
    for (const [t, bar] of [
      [100, 0],
      [101, 50],
      [102, 100],
    ])
      samples = addSample(samples, { t, bar });
    expect(barRate(samples)).toBe(50);
    expect(etaSeconds(samples, 300)).toBe(4);
    expect(etaSeconds(samples, 0)).toBeNull();
  });

  it("is unknown until the job has moved, and forgets old samples", () => {
    expect(etaSeconds([{ t: 1, bar: 5 }], 100)).toBeNull();
    expect(
      etaSeconds(
        [
          { t: 1, bar: 5 },
          { t: 1.2, bar: 6 },
        ],
        100,
      ),
    ).toBeNull();
    let samples: ProgressSample[] = [];
    for (let t = 0; t <= 60; t += 5)
      samples = addSample(samples, { t, bar: t < 30 ? t : 30 + t * 10 });
    expect(samples[0].t).toBeGreaterThanOrEqual(45);
    expect(barRate(samples)).toBeCloseTo(10, 6);
  });

  it("starts over when the bars go back (a requeued job)", () => {
    const samples = addSample([{ t: 1, bar: 50 }], { t: 2, bar: 3 });
    expect(samples).toEqual([{ t: 2, bar: 3 }]);
  });

  it("reads as a short duration", () => {
    expect(shortDuration(4.4)).toBe("4s");
    expect(shortDuration(65)).toBe("1m 05s");
    expect(shortDuration(7800)).toBe("2h 10m");
  });
});

describe("log lines", () => {
  it("split a slice, dropping a cut first line", () => {
    expect(sliceLines("a\nb\n", true)).toEqual(["a", "b"]);
    expect(sliceLines("t of a\nb\nc", false)).toEqual(["b", "c"]);
    expect(sliceLines("", true)).toEqual([]);
  });

  it("append pushed lines, skipping what the snapshot already had", () => {
    const base = ["1", "2", "3"];
    expect(appendLines(base, ["2", "3", "4"], true)).toEqual(["1", "2", "3", "4"]);
    expect(appendLines(base, ["3"], true)).toBe(base);
    expect(appendLines(base, ["4", "5"], true)).toEqual(["1", "2", "3", "4", "5"]);
    // Without overlap a repeated line is a new line.
    expect(appendLines(["tick"], ["tick"])).toEqual(["tick", "tick"]);
  });

  it("keep the last MAX_LINES", () => {
    const many = Array.from({ length: MAX_LINES }, (_, i) => String(i));
    const out = appendLines(many, ["new"]);
    expect(out).toHaveLength(MAX_LINES);
    expect(out.at(-1)).toBe("new");
    expect(out[0]).toBe("1");
  });
});

describe("the live equity curve", () => {
  const a: EquityPoint = ["2010-01-04", 1];
  const b: EquityPoint = ["2010-01-05", 1.01];
  const c: EquityPoint = ["2010-01-06", 0.99];
  const d: EquityPoint = ["2010-01-07", 1.02];

  it("appends the next sessions", () => {
    const first = mergeEquity([], [a, b]);
    expect(first).toEqual([a, b]);
    expect(mergeEquity(first, [c, d])).toEqual([a, b, c, d]);
  });

  it("keeps one point per date, in date order, whatever order batches arrive in", () => {
    // A replay after the live tail: older points, some already there.
    expect(mergeEquity([c, d], [a, b, c])).toEqual([a, b, c, d]);
    // Out of order within a batch, and a date twice (the later NAV wins).
    expect(mergeEquity([a], [d, b, ["2010-01-07", 1.03]])).toEqual([a, b, ["2010-01-07", 1.03]]);
    // A point sent again with another NAV (a run that started over) replaces the old one.
    expect(mergeEquity([a, b], [["2010-01-05", 1.2]])).toEqual([a, ["2010-01-05", 1.2]]);
  });

  it("returns the same array when nothing changed (no re-render)", () => {
    const points = [a, b, c];
    expect(mergeEquity(points, [])).toBe(points);
    expect(mergeEquity(points, [b, ["2010-01-04", 1]])).toBe(points);
  });

  it("reads the window and the engine from the run's request", () => {
    expect(runWindow({ start_date: "2010-01-04", end_date: "2011-12-30" })).toEqual({
      start: "2010-01-04",
      end: "2011-12-30",
    });
    expect(runWindow({ start_date: "2010-01-04T00:00:00", end_date: 20111230 })).toEqual({
      start: "2010-01-04",
      end: null,
    });
    expect(runWindow({})).toEqual({ start: null, end: null });
    expect(pushesEquity({})).toBe(true);
    expect(pushesEquity({ engine: "native" })).toBe(true);
    expect(pushesEquity({ engine: "auto" })).toBe(true);
    expect(pushesEquity({ engine: "rqalpha" })).toBe(false);
    expect(pushesEquity({ engine: "backtrader" })).toBe(false);
  });
});
