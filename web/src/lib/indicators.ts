/** Chart overlays computed in the browser: moving averages, plot() series on a date axis. */
import { isNum } from "./format";

/** The moving averages the K-line offers. */
export const MA_WINDOWS = [5, 20, 60] as const;
export const MA_COLORS: Record<number, string> = { 5: "#f0b429", 20: "#a78bfa", 60: "#38bdf8" };

/**
 * Simple moving average of `values` over `window` points: null until `window` values have
 * been seen, and over any window holding a gap (null or non-finite value).
 */
export function movingAverage(
  values: readonly (number | null | undefined)[],
  window: number,
  digits = 6,
): (number | null)[] {
  const out: (number | null)[] = [];
  if (window < 1) return values.map(() => null);
  let sum = 0;
  let gaps = 0;
  const scale = 10 ** digits;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (isNum(v)) sum += v;
    else gaps += 1;
    if (i >= window) {
      const old = values[i - window];
      if (isNum(old)) sum -= old;
      else gaps -= 1;
    }
    out.push(i >= window - 1 && gaps === 0 ? Math.round((sum / window) * scale) / scale : null);
  }
  return out;
}

/**
 * A series recorded on some dates (`plot()`: a value per session it was called) laid on a
 * chart's date axis: null on the axis dates it has no value for. Dates compare on their first
 * ten characters (`YYYY-MM-DD`).
 */
export function alignSeries(
  axis: readonly string[],
  dates: readonly string[],
  values: readonly (number | null)[],
): (number | null)[] {
  const byDay = new Map<string, number | null>();
  dates.forEach((d, i) => {
    byDay.set(d.slice(0, 10), values[i] ?? null);
  });
  return axis.map((d) => {
    const v = byDay.get(d.slice(0, 10));
    return isNum(v) ? v : null;
  });
}

/** The `q` quantile (0-1) of the finite values, by nearest rank; null without any. */
export function quantile(values: readonly (number | null | undefined)[], q: number): number | null {
  const xs = values.filter(isNum).sort((a, b) => a - b);
  if (!xs.length) return null;
  const i = Math.min(xs.length - 1, Math.max(0, Math.round(q * (xs.length - 1))));
  return xs[i];
}

/**
 * Whether `series` lives on the scale of `reference` (a price, or another series): its bulk
 * (5th to 95th percentile) within a factor `tolerance` of the reference's range. A moving
 * average of the price is; cash, a position size or an oscillator is not.
 */
export function onPriceScale(
  series: readonly (number | null | undefined)[],
  reference: readonly (number | null | undefined)[],
  tolerance = 3,
): boolean {
  const lo = quantile(series, 0.05);
  const hi = quantile(series, 0.95);
  const refLo = quantile(reference, 0.05);
  const refHi = quantile(reference, 0.95);
  if (lo === null || hi === null || refLo === null || refHi === null) return false;
  if (lo <= 0 || refLo <= 0) return false;
  return lo >= refLo / tolerance && hi <= refHi * tolerance;
}

/** The 95th percentile of a series' magnitudes: its scale, robust to a few spikes. */
function magnitude(series: readonly (number | null | undefined)[]): number | null {
  return quantile(
    series.map((v) => (isNum(v) ? Math.abs(v) : null)),
    0.95,
  );
}

/**
 * Which of two value axes each series goes on: the series of the largest magnitude on the
 * first with those within a factor `tolerance` of it, the smaller ones on the second.
 */
export function axisGroups(
  series: readonly (readonly (number | null | undefined)[])[],
  tolerance = 10,
): number[] {
  const sizes = series.map(magnitude);
  const top = Math.max(0, ...sizes.map((m) => m ?? 0));
  if (top === 0) return series.map(() => 0);
  return sizes.map((m) => (m !== null && m < top / tolerance ? 1 : 0));
}
