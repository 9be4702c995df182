/**
 * Pure helpers of a running job's live view: the ETA from the progress rate, the log tail, the
 * equity curve so far.
 */
import type { EquityPoint } from "../api/live";

/** One progress reading: when (epoch seconds) and which bar. */
export interface ProgressSample {
  t: number;
  bar: number;
}

/** Seconds of samples the rate is measured over. */
export const RATE_WINDOW_S = 15;

/** Add `sample`, keeping the readings of the last `RATE_WINDOW_S` seconds (and at least two). */
export function addSample(samples: ProgressSample[], sample: ProgressSample): ProgressSample[] {
  const last = samples.at(-1);
  if (last && (sample.bar < last.bar || sample.t < last.t)) return [sample]; // restarted
  const kept = [...samples, sample];
  while (kept.length > 2 && sample.t - kept[0].t > RATE_WINDOW_S) kept.shift();
  return kept;
}

/** Bars per second over the samples (`null`: not measurable yet). */
export function barRate(samples: ProgressSample[]): number | null {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || last.t - first.t < 0.5 || last.bar <= first.bar) return null;
  return (last.bar - first.bar) / (last.t - first.t);
}

/** Seconds left at the current rate (`null`: unknown). */
export function etaSeconds(samples: ProgressSample[], totalBars: number): number | null {
  const rate = barRate(samples);
  const last = samples.at(-1);
  if (rate === null || !last || totalBars <= 0) return null;
  return Math.max(0, (totalBars - last.bar) / rate);
}

/** "3s", "1m 05s", "2h 10m". */
export function shortDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** The lines of a log slice's text (a slice not from the start drops its cut first line). */
export function sliceLines(content: string, fromStart: boolean): string[] {
  if (!content) return [];
  const lines = content.split("\n");
  if (lines.at(-1) === "") lines.pop();
  if (!fromStart && lines.length > 1) lines.shift();
  return lines;
}

/** Lines kept in a live log view. */
export const MAX_LINES = 20_000;

/**
 * `incoming` appended to `lines`; with `overlap`, the longest head of `incoming` that `lines`
 * already ends with is skipped (pushed lines that the HTTP snapshot already had).
 */
export function appendLines(lines: string[], incoming: string[], overlap = false): string[] {
  let skip = 0;
  if (overlap) {
    const max = Math.min(lines.length, incoming.length);
    for (let k = max; k > 0; k--) {
      let same = true;
      for (let i = 0; i < k && same; i++) same = lines[lines.length - k + i] === incoming[i];
      if (same) {
        skip = k;
        break;
      }
    }
  }
  if (skip >= incoming.length) return lines;
  const out = lines.concat(skip ? incoming.slice(skip) : incoming);
  return out.length > MAX_LINES ? out.slice(out.length - MAX_LINES) : out;
}

/**
 * `incoming` merged into `points`: one point per date, in date order; a date already there
 * takes the incoming NAV (a replay repeats points, a restarted run sends them again). Returns
 * `points` itself when nothing changed.
 */
export function mergeEquity(
  points: EquityPoint[],
  incoming: readonly EquityPoint[],
): EquityPoint[] {
  if (incoming.length === 0) return points;
  // The usual case: the next sessions, in order.
  let last = points.at(-1)?.[0] ?? "";
  let appended = true;
  for (const [day] of incoming) {
    if (day <= last) {
      appended = false;
      break;
    }
    last = day;
  }
  if (appended) return points.concat(incoming);
  const byDate = new Map(points);
  let changed = false;
  for (const [day, nav] of incoming) {
    if (byDate.get(day) === nav) continue;
    byDate.set(day, nav);
    changed = true;
  }
  if (!changed) return points;
  return [...byDate].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The window a run's request asks for (`null` where it does not say). */
export function runWindow(request: Record<string, unknown>): {
  start: string | null;
  end: string | null;
} {
  const day = (v: unknown) =>
    typeof v === "string" && /^\d{4}-\d{2}-\d{2}/.test(v) ? v.slice(0, 10) : null;
  return { start: day(request.start_date), end: day(request.end_date) };
}

/** Whether a run's engine pushes its equity while it runs (only the native one does). */
export function pushesEquity(request: Record<string, unknown>): boolean {
  const engine = request.engine;
  return engine === undefined || engine === null || engine === "auto" || engine === "native";
}
