import { describe, expect, it } from "vitest";
import {
  bestJobs,
  bestOf,
  canCompare,
  compareUrl,
  correlationColor,
  diffLines,
  diffStat,
  formatInput,
  formatMetric,
  humanize,
  inputLabel,
  metricLabel,
  parseJobIds,
  runColor,
  runLetter,
  runName,
  toggleSelection,
  toPercent,
} from "./compare";

describe("comparison helpers", () => {
  it("picks the best value by the metric's direction, all of a tie, none without one", () => {
    const values = { a: 0.5, b: 1.2, c: null, d: 1.2 };
    expect(bestOf(values, true)).toEqual(["b", "d"]);
    expect(bestOf(values, false)).toEqual(["a"]);
    expect(bestOf(values, null)).toEqual([]);
    expect(bestOf({ a: null, b: Number.NaN }, true)).toEqual([]);
  });

  it("keeps the server's best and the runs that tie it", () => {
    expect([
      ...bestJobs({ values: { a: 1, b: 2, c: 2 }, higher_is_better: true, best: "b" }),
    ]).toEqual(["b", "c"]);
    expect([...bestJobs({ values: { a: 1, b: 2 }, higher_is_better: null, best: null })]).toEqual(
      [],
    );
    // Every run the same: nothing stands out.
    expect([...bestJobs({ values: { a: 0, b: 0 }, higher_is_better: false, best: "a" })]).toEqual(
      [],
    );
    // Without the server's pick, the client's.
    expect([...bestJobs({ values: { a: 3, b: 2 }, higher_is_better: false, best: null })]).toEqual([
      "b",
    ]);
  });

  it("formats metrics: fractions as percent, ratios, counts and money", () => {
    expect(formatMetric("total_returns", 1.690738)).toBe("169.07%");
    expect(formatMetric("max_drawdown", 0.4362)).toBe("43.62%");
    expect(formatMetric("sharpe", 0.95066)).toBe("0.951");
    expect(formatMetric("round_trips", 21)).toBe("21");
    expect(formatMetric("expectancy", 8051.1368)).toBe("8,051.14");
    expect(formatMetric("something_new", 123.456)).toBe("123.5");
    expect(formatMetric("sharpe", null)).toBe("—");
    expect(metricLabel("information_ratio")).toBe("Information ratio");
    expect(metricLabel("brand_new_metric")).toBe("Brand new metric");
  });

  it("formats inputs for a table cell", () => {
    expect(formatInput(["AAPL", "IBM"])).toBe("AAPL, IBM");
    expect(formatInput({ fast: 10, slow: 30 })).toBe("fast=10, slow=30");
    expect(formatInput({})).toBe("—");
    expect(formatInput(null)).toBe("—");
    expect(formatInput(100000)).toBe("100000");
    expect(inputLabel("start_date")).toBe("Start");
    expect(inputLabel("slippage")).toBe("Slippage");
    expect(humanize("min_commission")).toBe("Min commission");
  });

  it("reads the job ids of the URL and builds it back", () => {
    expect(parseJobIds(" a,b,,a , c ")).toEqual(["a", "b", "c"]);
    expect(parseJobIds(null)).toEqual([]);
    expect(compareUrl(["a", "b"])).toBe("/compare?jobs=a,b");
  });

  it("selects up to the maximum and deselects", () => {
    expect(toggleSelection([], "a")).toEqual(["a"]);
    expect(toggleSelection(["a", "b"], "a")).toEqual(["b"]);
    expect(toggleSelection(["a", "b"], "c", 2)).toEqual(["a", "b"]);
    expect(canCompare(1)).toBe(false);
    expect(canCompare(2)).toBe(true);
    expect(canCompare(10)).toBe(true);
    expect(canCompare(11)).toBe(false);
  });

  it("names and colors runs", () => {
    expect(runName({ title: " Fast ", strategy_name: "sma", strategy_id: "s" })).toBe("Fast");
    expect(runName({ title: "", strategy_name: "", strategy_id: "sma_aapl" })).toBe("sma_aapl");
    expect(runName({ title: "", strategy_name: "sma_crossover", strategy_id: "sma_aapl" })).toBe(
      "sma_aapl",
    );
    expect(runName({ title: "", strategy_name: "scratch", strategy_id: null })).toBe("scratch");
    expect(runName({ title: "", strategy_name: "", strategy_id: null })).toBe("inline run");
    expect(runLetter(0)).toBe("A");
    expect(runLetter(9)).toBe("J");
    expect(runColor(0)).not.toBe(runColor(1));
    expect(runColor(10)).toBe(runColor(0));
  });

  it("classifies the lines of a unified diff", () => {
    const diff = "--- a/s.py\n+++ b/s.py\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n";
    expect(diffLines(diff).map((l) => l.kind)).toEqual([
      "meta",
      "meta",
      "hunk",
      "context",
      "del",
      "add",
    ]);
    expect(diffStat(diff)).toEqual({ added: 1, removed: 1 });
  });

  it("shades correlations and converts fractions to percent points", () => {
    expect(correlationColor(1)).toBe("rgba(59,130,246,0.58)");
    expect(correlationColor(-0.5)).toBe("rgba(240,93,94,0.33)");
    expect(correlationColor(null)).toBe("transparent");
    expect(toPercent([1, 1.25, null], 1)).toEqual([0, 25, null]);
    expect(toPercent([0.1234567])).toEqual([12.3457]);
  });
});
