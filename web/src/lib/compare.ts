/** Run comparison (`GET /api/backtest/compare`) and job selection: pure helpers, unit tested. */
import { isNum, num, pct } from "./format";

/** The fewest and the most runs `GET /api/backtest/compare` takes. */
export const COMPARE_MIN = 2;
export const COMPARE_MAX = 10;

/** One color per run, in the order of the comparison (charts, legends, column heads). */
export const RUN_COLORS = [
  "#3b82f6",
  "#f0b429",
  "#26c281",
  "#a78bfa",
  "#f472b6",
  "#38bdf8",
  "#fb923c",
  "#94a3b8",
  "#e879f9",
  "#a3e635",
];

export function runColor(index: number): string {
  return RUN_COLORS[index % RUN_COLORS.length] ?? RUN_COLORS[0];
}

/** "A", "B", … "J": a run's short name in the comparison's tables. */
export function runLetter(index: number): string {
  return String.fromCharCode(65 + (index % 26));
}

/** What a run is called: its title, else its strategy's id (an inline run: its name). */
export function runName(run: {
  title?: string | null;
  strategy_name?: string | null;
  strategy_id?: string | null;
}): string {
  return run.title?.trim() || run.strategy_id || run.strategy_name?.trim() || "inline run";
}

/** The job ids of `?jobs=a,b,c` (blank and repeated ids dropped, order kept). */
export function parseJobIds(value: string | null | undefined): string[] {
  const seen = new Set<string>();
  for (const part of (value ?? "").split(",")) {
    const id = part.trim();
    if (id) seen.add(id);
  }
  return [...seen];
}

export function compareUrl(ids: readonly string[]): string {
  return `/compare?jobs=${ids.map(encodeURIComponent).join(",")}`;
}

/** `selected` with `id` added (up to `max`) or removed. */
export function toggleSelection(
  selected: readonly string[],
  id: string,
  max = COMPARE_MAX,
): string[] {
  if (selected.includes(id)) return selected.filter((s) => s !== id);
  return selected.length >= max ? [...selected] : [...selected, id];
}

export function canCompare(count: number): boolean {
  return count >= COMPARE_MIN && count <= COMPARE_MAX;
}

type MetricKind = "pct" | "ratio" | "int" | "money";

/** Label and format of the metrics the comparison lists (others: their key, as a ratio). */
const METRICS: Record<string, [string, MetricKind]> = {
  total_returns: ["Total return", "pct"],
  annualized_returns: ["Annual return", "pct"],
  volatility: ["Volatility", "pct"],
  sharpe: ["Sharpe", "ratio"],
  sortino: ["Sortino", "ratio"],
  max_drawdown: ["Max drawdown", "pct"],
  calmar: ["Calmar", "ratio"],
  alpha: ["Alpha", "ratio"],
  beta: ["Beta", "ratio"],
  information_ratio: ["Information ratio", "ratio"],
  win_rate: ["Win rate", "pct"],
  profit_factor: ["Profit factor", "ratio"],
  profit_loss_ratio: ["P/L ratio", "ratio"],
  expectancy: ["Expectancy (per trip)", "money"],
  sqn: ["SQN", "ratio"],
  round_trips: ["Round trips", "int"],
  exposure_time: ["Exposure time", "pct"],
  turnover: ["Turnover", "ratio"],
  total_commission: ["Commission paid", "money"],
  benchmark_total_returns: ["Benchmark return", "pct"],
  trade_count: ["Fills", "int"],
};

export function metricLabel(metric: string): string {
  return METRICS[metric]?.[0] ?? humanize(metric);
}

/** A metric's value as the tables show it: percent for fractions, 2-3 decimals for ratios. */
export function formatMetric(metric: string, value: unknown): string {
  if (!isNum(value)) return "—";
  switch (METRICS[metric]?.[1] ?? "ratio") {
    case "pct":
      return pct(value);
    case "int":
      return Math.round(value).toLocaleString("en-US");
    case "money":
      return num(value, 2);
    default:
      return num(value, Math.abs(value) >= 100 ? 1 : 3);
  }
}

/**
 * The job(s) with the best value of a metric: the highest when `higherIsBetter`, the lowest
 * when not; none when neither way is better or no run has a value (ties: all of them).
 */
export function bestOf(
  values: Record<string, number | null | undefined>,
  higherIsBetter: boolean | null | undefined,
): string[] {
  if (higherIsBetter === null || higherIsBetter === undefined) return [];
  let best: number | null = null;
  for (const v of Object.values(values)) {
    if (!isNum(v)) continue;
    if (best === null || (higherIsBetter ? v > best : v < best)) best = v;
  }
  if (best === null) return [];
  return Object.entries(values)
    .filter(([, v]) => v === best)
    .map(([k]) => k);
}

/**
 * The runs to highlight in a metric row: the server's `best` and any run that ties it; none
 * when every run has the same value (nothing stands out).
 */
export function bestJobs(row: {
  values: Record<string, number | null>;
  higher_is_better: boolean | null;
  best: string | null;
}): Set<string> {
  const tied = bestOf(row.values, row.higher_is_better);
  const best =
    row.best === null
      ? tied
      : [
          row.best,
          ...tied.filter(
            (id) => id !== row.best && row.values[id] === row.values[row.best as string],
          ),
        ];
  const valued = Object.values(row.values).filter(isNum).length;
  return new Set(valued > 1 && best.length === valued ? [] : best);
}

/** An input's value in a table cell. */
export function formatInput(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.map((v) => formatInput(v)).join(", ");
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    return entries.length ? entries.map(([k, v]) => `${k}=${formatInput(v)}`).join(", ") : "—";
  }
  return String(value);
}

/** Readable name of an input field of the comparison. */
export function inputLabel(field: string): string {
  const known: Record<string, string> = {
    start_date: "Start",
    end_date: "End",
    cash: "Starting cash",
    min_commission: "Min commission",
    version: "Code version",
    params: "Parameters",
  };
  return known[field] ?? humanize(field);
}

export type DiffLineKind = "add" | "del" | "hunk" | "meta" | "context";

/** The lines of a unified diff, each with what it is (for +/- coloring). */
export function diffLines(diff: string): { kind: DiffLineKind; text: string }[] {
  const lines = diff.replace(/\n$/, "").split("\n");
  return lines.map((text) => {
    if (text.startsWith("+++") || text.startsWith("---")) return { kind: "meta", text };
    if (text.startsWith("@@")) return { kind: "hunk", text };
    if (text.startsWith("+")) return { kind: "add", text };
    if (text.startsWith("-")) return { kind: "del", text };
    return { kind: "context", text };
  });
}

/** Lines added and removed by a unified diff. */
export function diffStat(diff: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of diffLines(diff)) {
    if (line.kind === "add") added += 1;
    else if (line.kind === "del") removed += 1;
  }
  return { added, removed };
}

/** Background of a correlation cell: blue for positive, red for negative, by strength. */
export function correlationColor(value: number | null | undefined): string {
  if (!isNum(value)) return "transparent";
  const a = Math.min(1, Math.abs(value));
  const alpha = (0.08 + 0.5 * a).toFixed(2);
  return value >= 0 ? `rgba(59,130,246,${alpha})` : `rgba(240,93,94,${alpha})`;
}

/** Fractions to percent points, rounded for charts (null stays null): 1.25 → 125. */
export function toPercent(values: readonly (number | null)[], offset = 0): (number | null)[] {
  return values.map((v) => (isNum(v) ? Math.round((v - offset) * 1e6) / 1e4 : null));
}

/** "max_drawdown" → "Max drawdown". */
export function humanize(key: string): string {
  const words = key.replace(/[_-]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : key;
}
