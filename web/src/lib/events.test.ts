import { describe, expect, it } from "vitest";
import type { EventView } from "../api/models";
import { kindTone, MAX_EVENTS, matchesFilter, mergeEvents, summarize } from "./events";

const ev = (id: number, kind = "job.finished", subject = "j1"): EventView => ({
  id,
  kind,
  subject,
  created_at: null,
  user_id: 1,
  data: {},
});

describe("event feed", () => {
  it("filters by kind prefix or exact kind, and subject", () => {
    expect(matchesFilter(ev(1), "job.", "")).toBe(true);
    expect(matchesFilter(ev(1), "strategy.", "")).toBe(false);
    expect(matchesFilter(ev(1), "job.finished", "j1")).toBe(true);
    expect(matchesFilter(ev(1), "job.fin", "")).toBe(false);
    expect(matchesFilter(ev(1), "", "j2")).toBe(false);
  });

  it("merges history and pushes by id, newest first", () => {
    const merged = mergeEvents([ev(5), ev(3)], [ev(4), ev(5, "job.claimed")]);
    expect(merged.map((e) => e.id)).toEqual([5, 4, 3]);
    expect(merged[0].kind).toBe("job.finished"); // the first list wins
    const many = Array.from({ length: MAX_EVENTS + 10 }, (_, i) => ev(i));
    expect(mergeEvents(many, [])).toHaveLength(MAX_EVENTS);
    expect(mergeEvents(many, [])[0].id).toBe(MAX_EVENTS + 9);
  });

  it("summarizes data and tones kinds", () => {
    expect(
      summarize({
        status: "FAILED",
        attempts: 1,
        error: { code: "TIMEOUT", message: "x" },
        n: null,
      }),
    ).toBe("status=FAILED · attempts=1 · error=TIMEOUT");
    expect(kindTone("job.failed")).toBe("down");
    expect(kindTone("auth.login_failed")).toBe("down");
    expect(kindTone("job.finished")).toBe("up");
    expect(kindTone("strategy.saved")).toBe("");
  });
});
