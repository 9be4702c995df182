/** Number, date and size formatting for tables, cards and charts. */

export function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** 0.1234 → "12.34%". */
export function pct(v: unknown, digits = 2): string {
  return isNum(v) ? `${(v * 100).toFixed(digits)}%` : "—";
}

export function num(v: unknown, digits = 2): string {
  if (!isNum(v)) return "—";
  return v.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function int(v: unknown): string {
  return isNum(v) ? Math.round(v).toLocaleString("en-US") : "—";
}

export function bytes(v: unknown): string {
  if (!isNum(v)) return "—";
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KB`;
  return `${(v / 1024 / 1024).toFixed(1)} MB`;
}

/** ISO time → "2026-02-16 10:00" in local time. */
export function dateTime(v: string | null | undefined): string {
  if (!v) return "—";
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return v;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** "3 min ago" style, falling back to the date after a week. */
export function ago(v: string | null | undefined, now: number = Date.now()): string {
  if (!v) return "—";
  const t = Date.parse(v);
  if (Number.isNaN(t)) return v;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 7 * 86400) return `${Math.floor(s / 86400)} d ago`;
  return dateTime(v).slice(0, 10);
}

/** Seconds between two ISO times as "1m 05s". */
export function duration(from: string | null | undefined, to: string | null | undefined): string {
  if (!from || !to) return "—";
  const s = Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
  if (!Number.isFinite(s)) return "—";
  if (s < 60) return `${s.toFixed(1)}s`;
  return `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

/** A table cell for any JSON value. */
export function cell(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? int(v) : num(v, 4);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** ISO time → "10:00:05" today, else "2026-02-16 10:00:05" (local time). */
export function clockTime(v: string | null | undefined, now: Date = new Date()): string {
  if (!v) return "—";
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return v;
  const p = (n: number) => String(n).padStart(2, "0");
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return d.toDateString() === now.toDateString() ? time : `${dateTime(v).slice(0, 10)} ${time}`;
}

/** Seconds as "3d 04h", "5h 02m", "4m 10s", "12s". */
export function uptime(v: unknown): string {
  if (!isNum(v)) return "—";
  const s = Math.max(0, Math.round(v));
  const p = (n: number) => String(n).padStart(2, "0");
  if (s >= 86400) return `${Math.floor(s / 86400)}d ${p(Math.floor((s % 86400) / 3600))}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${p(Math.floor((s % 3600) / 60))}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${p(s % 60)}s`;
  return `${s}s`;
}

/** Seconds as "0.3s", "12.4s", "1m 05s", "2h 03m" (the style of `duration`). */
export function seconds(v: unknown): string {
  if (!isNum(v) || v < 0) return "—";
  if (v < 60) return `${v.toFixed(1)}s`;
  const s = Math.round(v);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
