import { describe, expect, it } from "vitest";
import {
  addSample,
  appendLines,
  barRate,
  etaSeconds,
  MAX_LINES,
  type ProgressSample,
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
