/** The event feed's filtering and merging (history over HTTP + pushes on `events`). */
import type { EventView } from "../api/models";

/** Rows kept in the feed. */
export const MAX_EVENTS = 500;

/** Whether `event` passes the feed's filters: a kind prefix (`job.`) and an exact subject. */
export function matchesFilter(event: EventView, kind: string, subject: string): boolean {
  if (kind && !(kind.endsWith(".") ? event.kind.startsWith(kind) : event.kind === kind))
    return false;
  return !subject || event.subject === subject;
}

/** The union of two lists by id, newest (highest id) first, at most `MAX_EVENTS`. */
export function mergeEvents(a: EventView[], b: EventView[]): EventView[] {
  const byId = new Map<number, EventView>();
  for (const e of b) byId.set(e.id, e);
  for (const e of a) byId.set(e.id, e);
  return [...byId.values()].sort((x, y) => y.id - x.id).slice(0, MAX_EVENTS);
}

/** A one-line summary of an event's data: `status=FINISHED · attempts=1 · error=CODE`. */
export function summarize(data: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (value === null || value === undefined || value === "") continue;
    if (typeof value === "object") {
      const code = "code" in value ? value.code : undefined;
      parts.push(`${key}=${typeof code === "string" ? code : JSON.stringify(value)}`);
    } else parts.push(`${key}=${String(value)}`);
  }
  return parts.join(" · ");
}

/** A CSS class for the kind's tone: failures red, successes green, the rest neutral. */
export function kindTone(kind: string): string {
  if (kind.endsWith("failed") || kind === "job.failed") return "down";
  if (kind === "job.finished" || kind === "auth.login") return "up";
  if (kind === "job.cancelled" || kind.endsWith("deleted") || kind === "job.requeued")
    return "warn";
  return "";
}
