/** Result tables: readable column heads and client-side sorting (pure, unit tested). */
import { humanize } from "./compare";

/** Column heads of the result's tables (fills, positions, round trips) by API field. */
const LABELS: Record<string, string> = {
  datetime: "Time",
  date: "Date",
  order_id: "Order",
  order_book_id: "Symbol",
  side: "Side",
  direction: "Side",
  quantity: "Qty",
  sellable: "Sellable",
  price: "Price",
  avg_price: "Avg price",
  last_price: "Last price",
  market_value: "Market value",
  commission: "Commission",
  tax: "Tax",
  reason: "Reason",
  realized_pnl: "Realized P&L",
  entry_datetime: "Entry",
  exit_datetime: "Exit",
  entry_price: "Entry price",
  exit_price: "Exit price",
  entry_order_id: "Entry order",
  exit_order_id: "Exit order",
  costs: "Costs",
  pnl: "P&L",
  return: "Return",
  holding_sessions: "Held (sessions)",
  holding_days: "Held (days)",
  mae: "MAE",
  mfe: "MFE",
};

/** Tooltips of the heads whose meaning is not obvious. */
const HINTS: Record<string, string> = {
  realized_pnl: "profit or loss realized by this fill",
  costs: "both legs' commission and tax allocated to this round trip",
  pnl: "profit or loss net of costs",
  return: "P&L / (quantity × entry price)",
  holding_sessions: "trading sessions from entry to exit",
  holding_days: "calendar days from entry to exit",
  mae: "maximum adverse excursion: the worst move against the trade, from the entry price",
  mfe: "maximum favourable excursion: the best move for the trade, from the entry price",
  sellable: "quantity that may be sold that day (T+1 markets hold back today's buys)",
  reason: "why the fill happened at that price (the matching rule)",
};

export function columnLabel(key: string): string {
  return LABELS[key] ?? humanize(key);
}

export function columnHint(key: string): string | undefined {
  return HINTS[key];
}

export type SortDir = "asc" | "desc";

/**
 * `rows` sorted by `key` (a copy): numbers numerically, anything else as text; missing values
 * (null, undefined, NaN) last in either direction; ties keep their order.
 */
export function sortRows<T extends object>(rows: readonly T[], key: string, dir: SortDir): T[] {
  const sign = dir === "asc" ? 1 : -1;
  const value = (row: T): unknown => (row as Record<string, unknown>)[key];
  const missing = (v: unknown) =>
    v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));
  return rows
    .map((row, i) => ({ row, i }))
    .sort((a, b) => {
      const x = value(a.row);
      const y = value(b.row);
      const mx = missing(x);
      const my = missing(y);
      if (mx || my) return mx && my ? a.i - b.i : mx ? 1 : -1;
      const c =
        typeof x === "number" && typeof y === "number"
          ? x - y
          : String(x).localeCompare(String(y), "en");
      return c !== 0 ? c * sign : a.i - b.i;
    })
    .map(({ row }) => row);
}

/** The next sort after a click on `key`'s head: a new column sorts descending, then flips. */
export function nextSort(
  current: { key: string; dir: SortDir },
  key: string,
  first: SortDir = "desc",
): { key: string; dir: SortDir } {
  if (current.key !== key) return { key, dir: first };
  return { key, dir: current.dir === "asc" ? "desc" : "asc" };
}

/** "2008-01-02T16:00:00" → "2008-01-02 16:00" (a daily fill's time is the session close). */
export function shortDateTime(v: unknown): string {
  if (typeof v !== "string" || !v) return "—";
  return v.replace("T", " ").slice(0, 16);
}
