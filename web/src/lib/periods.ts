/** The period tables of `GET /api/backtest/jobs/{id}/analysis` laid out for the page. */
import { isNum } from "./format";

export const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

export interface MonthRow {
  year: number;
  /** Twelve returns, January first (null: no session that month). */
  months: (number | null)[];
  /** The year's return (from the yearly table), null without one. */
  total: number | null;
}

/** One row per year, oldest first, of the monthly returns and the year's return. */
export function monthlyGrid(
  monthly: readonly { year: number; month: number; returns: number | null }[],
  yearly: readonly { year: number; returns: number | null }[],
): MonthRow[] {
  const rows = new Map<number, MonthRow>();
  const row = (year: number) => {
    let r = rows.get(year);
    if (!r) {
      r = { year, months: Array(12).fill(null), total: null };
      rows.set(year, r);
    }
    return r;
  };
  for (const m of monthly) {
    if (m.month >= 1 && m.month <= 12) row(m.year).months[m.month - 1] = m.returns ?? null;
  }
  for (const y of yearly) row(y.year).total = y.returns ?? null;
  return [...rows.values()].sort((a, b) => a.year - b.year);
}

/**
 * Background of a return cell: green for gains, red for losses, stronger up to `full`
 * (a fraction: 0.1 = a 10% month is fully saturated).
 */
export function returnColor(v: number | null | undefined, full = 0.1): string {
  if (!isNum(v) || v === 0) return "transparent";
  const a = (0.1 + 0.5 * Math.min(1, Math.abs(v) / full)).toFixed(2);
  return v > 0 ? `rgba(38,194,129,${a})` : `rgba(240,93,94,${a})`;
}
