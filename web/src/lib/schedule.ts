/**
 * Scheduled catalog updates (`GET /api/data/schedule`, the server's `DATA_UPDATE_*` settings)
 * and what an update fetches, as the Sources tab shows them.
 */
import type { Schemas } from "../api/client";
import { firstFew } from "./upload";

export type UpdateSchedule = Schemas["UpdateSchedule"];

/** The example cron expression the UI suggests (17:30 on weekdays). */
export const CRON_EXAMPLE = "30 17 * * 1-5";

const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const DAY_SHORT = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const DAY_PLURAL = [
  "Sundays",
  "Mondays",
  "Tuesdays",
  "Wednesdays",
  "Thursdays",
  "Fridays",
  "Saturdays",
];

/** A whole number `lo`..`hi` written as digits only, else null. */
function whole(text: string, lo: number, hi: number): number | null {
  if (!/^\d{1,2}$/.test(text)) return null;
  const n = Number(text);
  return n >= lo && n <= hi ? n : null;
}

/** A day of the week (0-7 or a name, 7 and 0 both Sunday) as 0-6, else null. */
function weekday(text: string): number | null {
  const named = DAY_NAMES.indexOf(text.toLowerCase());
  if (named >= 0) return named;
  const n = whole(text, 0, 7);
  return n === null ? null : n % 7;
}

/** "a, b and c". */
function andList(items: readonly string[]): string {
  return items.length < 2
    ? (items[0] ?? "")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] ?? "th");
  return `${n}${suffix}`;
}

/** The day-of-week field read: "on weekdays", "on Mondays", "on Mon, Wed and Fri"; or null. */
function daysOfWeek(field: string): string | null {
  if (field === "*" || field === "?") return "every day";
  const range = /^(\w+)-(\w+)$/.exec(field);
  if (range) {
    const a = weekday(range[1]);
    const b = range[2] === "7" ? 7 : weekday(range[2]);
    if (a === null || b === null) return null;
    const end = b === 0 ? 7 : b; // "6-0": Saturday to Sunday
    if (a === 1 && end === 5) return "on weekdays";
    if (a === 6 && end === 7) return "on weekends";
    if (a === 0 && end === 6) return "every day";
    if (a >= end) return null;
    return `on ${DAY_SHORT[a]}–${DAY_SHORT[end % 7]}`;
  }
  const days = field.split(",").map(weekday);
  if (days.some((d) => d === null)) return null;
  const set = [...new Set(days as number[])].sort((x, y) => x - y);
  if (set.length === 7) return "every day";
  if (set.length === 2 && set[0] === 0 && set[1] === 6) return "on weekends";
  if (set.length === 5 && set.join() === "1,2,3,4,5") return "on weekdays";
  if (set.length === 1) return `on ${DAY_PLURAL[set[0]]}`;
  // Monday first, as a week reads.
  const ordered = [...set.filter((d) => d > 0), ...set.filter((d) => d === 0)];
  return `on ${andList(ordered.map((d) => DAY_SHORT[d]))}`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/**
 * A short reading of a 5-field cron expression for common patterns ("at 17:30 on weekdays",
 * "at 09:00 every day", "every 15 minutes"); null for anything else (shown raw).
 */
export function describeCron(expr: string | null | undefined): string | null {
  const fields = (expr ?? "").trim().split(/\s+/);
  if (fields.length !== 5) return null;
  const [minute, hour, dom, month, dow] = fields;
  if (month !== "*") return null;

  let days: string | null;
  if (dom === "*" || dom === "?") days = daysOfWeek(dow);
  else {
    const day = whole(dom, 1, 31);
    days =
      day !== null && (dow === "*" || dow === "?") ? `on the ${ordinal(day)} of the month` : null;
  }
  if (days === null) return null;

  let time: string | null = null;
  const m = whole(minute, 0, 59);
  const step = /^\*\/(\d{1,2})$/.exec(minute);
  if (m !== null && hour !== "*") {
    const hours = hour.split(",").map((h) => whole(h, 0, 23));
    if (hours.length <= 4 && hours.every((h) => h !== null)) {
      time = `at ${andList((hours as number[]).map((h) => `${pad(h)}:${pad(m)}`))}`;
    }
  } else if (m !== null && hour === "*") {
    time = m === 0 ? "every hour" : `every hour at :${pad(m)}`;
  } else if (step && hour === "*" && Number(step[1]) > 0) {
    time = Number(step[1]) === 1 ? "every minute" : `every ${Number(step[1])} minutes`;
  } else if (minute === "*" && hour === "*") {
    time = "every minute";
  }
  if (time === null) return null;
  return days === "every day" && time.startsWith("every") ? time : `${time} ${days}`;
}

/** The browser's own IANA time zone ("Europe/Berlin"), or "UTC" when it does not say. */
export function localZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** An ISO time as "2026-02-17 17:30" in an IANA zone; null for a bad time or zone. */
export function zonedDateTime(iso: string | null | undefined, zone: string): string | null {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return null;
  try {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).formatToParts(d);
    const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
    return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}`;
  } catch {
    return null;
  }
}

/** How long until an ISO time: "in 45 min", "in 3 h 10 min", "in 2 d 4 h", "due now". */
export function until(iso: string | null | undefined, now: number = Date.now()): string | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return null;
  const min = Math.round((t - now) / 60_000);
  if (min <= 0) return "due now";
  if (min < 60) return `in ${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return min % 60 ? `in ${h} h ${min % 60} min` : `in ${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `in ${d} d ${h % 24} h` : `in ${d} d`;
}

/** The next run in the browser's zone and, when that differs, in the schedule's. */
export interface NextRun {
  /** "2026-02-17 10:30" in the browser's zone. */
  local: string;
  localZone: string;
  /** "2026-02-17 17:30" in the schedule's zone; null when it reads the same as `local`. */
  zoned: string | null;
  zone: string;
  /** "in 3 h", from `now`. */
  until: string | null;
}

export function nextRun(
  schedule: Pick<UpdateSchedule, "next_run" | "timezone">,
  browserZone: string = localZone(),
  now: number = Date.now(),
): NextRun | null {
  const local = zonedDateTime(schedule.next_run, browserZone);
  if (local === null) return null;
  const zoned = zonedDateTime(schedule.next_run, schedule.timezone);
  return {
    local,
    localZone: browserZone,
    zoned: zoned === local && browserZone === schedule.timezone ? null : zoned,
    zone: schedule.timezone,
    until: until(schedule.next_run, now),
  };
}

/** "last 10 days" (the window each scheduled run re-fetches). */
export function scheduleWindow(days: number): string {
  return days === 1 ? "last day" : `last ${days.toLocaleString("en-US")} days`;
}

/** What an update (or the schedule) fetches. */
export interface UpdateTargets {
  order_book_ids?: string[] | null;
  index_ids?: string[] | null;
  with_members?: boolean | null;
}

/** "000300.XSHG, 000905.XSHG with members" (the indexes part), "" without indexes. */
export function indexesText(t: UpdateTargets, n = 3): string {
  const ids = t.index_ids ?? [];
  if (ids.length === 0) return "";
  return `${firstFew(ids, ids.length, n)}${t.with_members ? " with members" : ""}`;
}

/** "AAPL, MSFT and 3 more" (the instruments part), "" without any. */
export function instrumentsText(t: UpdateTargets, n = 3): string {
  const ids = t.order_book_ids ?? [];
  return firstFew(ids, ids.length, n);
}

/**
 * One short line for a list row, indexes first: "000300.XSHG with members · 2 instruments",
 * "AAPL, MSFT and 3 more" ("—" for nothing).
 */
export function targetsLine(t: UpdateTargets, n = 2): string {
  const indexes = indexesText(t, n);
  if (!indexes) return instrumentsText(t, n) || "—";
  const ids = t.order_book_ids ?? [];
  if (ids.length === 0) return indexes;
  return `${indexes} · ${ids.length === 1 ? ids[0] : `${ids.length.toLocaleString("en-US")} instruments`}`;
}

/** The settings that turn scheduled updates on, with what each does (read-only in the UI). */
export const SCHEDULE_SETTINGS: readonly { name: string; does: string }[] = [
  { name: "DATA_UPDATE_CRON", does: `when, a cron expression (e.g. "${CRON_EXAMPLE}")` },
  { name: "DATA_UPDATE_SOURCE", does: "the source to fetch from (default baostock)" },
  { name: "DATA_UPDATE_IDS", does: "instruments whose bars to fetch" },
  { name: "DATA_UPDATE_INDEXES", does: "indexes whose membership to fetch" },
];
