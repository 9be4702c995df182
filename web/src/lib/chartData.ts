/** Mapping of API data to chart series (pure functions, unit tested). */
import type { Bars, Equity, Trade } from "../api/models";

export interface EquitySeries {
  dates: string[];
  /** Cumulative return of the strategy, in percent (nav 1.25 → 25). */
  strategy: (number | null)[];
  /** Cumulative return of the benchmark, in percent; empty when there is none. */
  benchmark: (number | null)[];
  /** Drawdown from the running peak of nav, in percent (≤ 0). */
  drawdown: (number | null)[];
}

const round = (v: number, d = 4) => Math.round(v * 10 ** d) / 10 ** d;

export function drawdown(nav: (number | null)[]): (number | null)[] {
  let peak = -Infinity;
  return nav.map((v) => {
    if (v === null || !Number.isFinite(v)) return null;
    peak = Math.max(peak, v);
    return peak > 0 ? round((v / peak - 1) * 100) : null;
  });
}

export function equitySeries(equity: Equity): EquitySeries {
  const toPct = (v: number | null) =>
    v === null || !Number.isFinite(v) ? null : round((v - 1) * 100);
  const hasBenchmark = equity.benchmark_nav.some((v) => v !== null);
  return {
    dates: equity.dates,
    strategy: equity.nav.map(toPct),
    benchmark: hasBenchmark ? equity.benchmark_nav.map(toPct) : [],
    drawdown: drawdown(equity.nav),
  };
}

/** ECharts candlestick rows: [open, close, low, high] per date. */
export function candles(bars: Bars): {
  dates: string[];
  values: (number | null)[][];
  volume: (number | null)[];
} {
  const values = bars.dates.map((_, i) => [bars.open[i], bars.close[i], bars.low[i], bars.high[i]]);
  return { dates: bars.dates, values, volume: bars.volume };
}

export interface TradeMark {
  date: string;
  side: "BUY" | "SELL";
  price: number;
  quantity: number;
  count: number;
}

/**
 * One marker per (day, side) for the fills of `symbol`: quantity summed, price volume-weighted.
 * Fills on days missing from `dates` (outside the chart) are dropped.
 */
export function tradeMarks(trades: Trade[], symbol: string, dates: string[]): TradeMark[] {
  const known = new Set(dates);
  const byKey = new Map<string, TradeMark & { value: number }>();
  for (const t of trades) {
    if (t.order_book_id !== symbol) continue;
    const date = String(t.datetime ?? "").slice(0, 10);
    const side = String(t.side ?? "").toUpperCase() === "SELL" ? "SELL" : "BUY";
    const qty = Math.abs(Number(t.quantity ?? 0));
    const price = Number(t.price ?? NaN);
    if (!known.has(date) || !Number.isFinite(price)) continue;
    const key = `${date}|${side}`;
    const prev = byKey.get(key);
    if (prev) {
      prev.quantity += qty;
      prev.value += qty * price;
      prev.count += 1;
      prev.price = prev.quantity > 0 ? prev.value / prev.quantity : price;
    } else {
      byKey.set(key, { date, side, price, quantity: qty, count: 1, value: qty * price });
    }
  }
  return [...byKey.values()]
    .map(({ value: _value, ...mark }) => mark)
    .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.side.localeCompare(b.side)));
}

/** Downsample long daily series for the overview (keeps first and last points). */
export function everyNth<T>(values: T[], max: number): T[] {
  if (values.length <= max || max < 2) return values;
  const step = (values.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => values[Math.round(i * step)]);
}

/** 1, 2, 2.5 or 5 times a power of ten, at least `x` (> 0). */
export function niceStep(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  const f = x / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
}

/**
 * A value axis for `values` with round bounds and ticks (about five intervals) and room around
 * them, so that a flat series sits mid-height: `null` without values.
 */
export function paddedAxis(
  values: readonly number[],
  minPad = 0.5,
): { min: number; max: number; interval: number } | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo > hi) return null;
  const pad = Math.max((hi - lo) * 0.08, minPad);
  const interval = niceStep((hi - lo + 2 * pad) / 5);
  const snap = (v: number) => Number(v.toFixed(10));
  return {
    min: snap(Math.floor((lo - pad) / interval) * interval),
    max: snap(Math.ceil((hi + pad) / interval) * interval),
    interval,
  };
}
