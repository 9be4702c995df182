import { describe, expect, it } from "vitest";
import type { NotebookSession, Research } from "../api/models";
import {
  checkNotebookPath,
  checkTags,
  countdown,
  createBody,
  EMPTY_FORM,
  expiryText,
  formOf,
  parseTags,
  reconcile,
  secondsLeft,
  sessionPhase,
  updateBody,
} from "./research";

const item: Research = {
  id: "momentum",
  title: "Momentum",
  description: "sector rotation",
  notebook_path: "momentum.ipynb",
  kernel: "python3",
  status: "ACTIVE",
  session_status: null,
  tags: ["a", "b"],
  created_at: "2026-02-18T07:00:00+00:00",
  updated_at: "2026-02-18T07:00:00+00:00",
};

const NOW = Date.parse("2026-02-18T07:00:00+00:00");

const session = (
  status: NotebookSession["status"],
  expires = "2026-02-18T09:00:00+00:00",
): NotebookSession => ({
  session_id: "sess_1",
  notebook_url: "http://x/jupyter/sess_1/lab/tree/momentum.ipynb",
  embed_url: "http://x/jupyter/sess_1/lab/tree/momentum.ipynb",
  status,
  started_at: "2026-02-18T07:00:00+00:00",
  last_active_at: "2026-02-18T07:00:00+00:00",
  expires_at: expires,
});

describe("the item form", () => {
  it("splits tags at ASCII and CJK commas, trimmed, without blanks or repeats", () => {
    expect(parseTags(" momentum, A股，factors、 momentum ,, mean reversion ")).toEqual([
      "momentum",
      "A股",
      "factors",
      "mean reversion",
    ]);
    expect(parseTags("")).toEqual([]);
  });

  it("checks the server's tag limits", () => {
    expect(checkTags("a, b")).toBeNull();
    expect(checkTags(Array.from({ length: 33 }, (_, i) => `t${i}`).join(","))).toMatch("32");
    expect(checkTags("x".repeat(65))).toMatch("64");
  });

  it("accepts blank or relative .ipynb notebook paths", () => {
    expect(checkNotebookPath("")).toBeNull();
    expect(checkNotebookPath("studies/momentum.ipynb")).toBeNull();
    expect(checkNotebookPath("/etc/x.ipynb")).toMatch("relative");
    expect(checkNotebookPath("~/x.ipynb")).toMatch("relative");
    expect(checkNotebookPath("a/../../x.ipynb")).toMatch("..");
    expect(checkNotebookPath(".hidden/x.ipynb")).toMatch("hidden");
    expect(checkNotebookPath("x.py")).toMatch(".ipynb");
  });

  it("creates with only the fields given", () => {
    expect(createBody({ ...EMPTY_FORM, title: " Study " })).toEqual({
      title: "Study",
      description: "",
      status: "ACTIVE",
      tags: [],
    });
    expect(
      createBody({
        id: "s1",
        title: "Study",
        description: "why",
        notebookPath: "s/one.ipynb",
        tags: "x, y",
        status: "ACTIVE",
      }),
    ).toEqual({
      id: "s1",
      title: "Study",
      description: "why",
      notebook_path: "s/one.ipynb",
      status: "ACTIVE",
      tags: ["x", "y"],
    });
  });

  it("updates only what changed", () => {
    expect(updateBody(item, formOf(item))).toEqual({});
    expect(updateBody(item, { ...formOf(item), title: "Momentum 2", tags: "b, a" })).toEqual({
      title: "Momentum 2",
      tags: ["b", "a"],
    });
    expect(updateBody(item, { ...formOf(item), status: "ARCHIVED", description: "" })).toEqual({
      status: "ARCHIVED",
      description: "",
    });
    // a blank title keeps the old one; a blank path asks for the default (<id>.ipynb)
    expect(updateBody(item, { ...formOf(item), title: " ", notebookPath: "" })).toEqual({});
    const moved = { ...item, notebook_path: "other.ipynb" };
    expect(updateBody(moved, { ...formOf(moved), notebookPath: "" })).toEqual({
      notebook_path: null,
    });
  });
});

describe("a notebook session", () => {
  it("has a phase from its status", () => {
    expect(sessionPhase(null)).toBe("none");
    expect(sessionPhase(session("STARTING"))).toBe("starting");
    expect(sessionPhase(session("RUNNING"))).toBe("live");
    for (const s of ["STOPPED", "EXPIRED", "FAILED"] as const)
      expect(sessionPhase(session(s))).toBe("ended");
  });

  it("stays on screen, ended, when the server no longer has it", () => {
    const running = session("RUNNING");
    expect(reconcile(null, null, NOW)).toBeNull();
    expect(reconcile(null, running, NOW)).toBe(running);
    // vanished before its time: stopped elsewhere; after it: expired
    expect(reconcile(running, null, NOW)?.status).toBe("STOPPED");
    expect(reconcile(running, null, Date.parse(running.expires_at))?.status).toBe("EXPIRED");
    const stopped = session("STOPPED");
    expect(reconcile(stopped, null, NOW)).toBe(stopped);
    expect(reconcile(stopped, running, NOW)).toBe(running);
  });

  it("counts down to its expiry", () => {
    expect(secondsLeft("2026-02-18T07:00:30+00:00", NOW)).toBe(30);
    expect(secondsLeft("2026-02-18T06:00:00+00:00", NOW)).toBe(0);
    expect(secondsLeft("soon", NOW)).toBe(0);
    expect([countdown(7), countdown(249), countdown(3600), countdown(7140)]).toEqual([
      "0:07",
      "4:09",
      "1h 00m",
      "1h 59m",
    ]);
    // local times on one day: "HH:MM" without a date
    const now = new Date(2026, 1, 18, 10, 0, 0).getTime();
    const at = new Date(2026, 1, 18, 12, 5, 0);
    expect(expiryText(at.toISOString(), now)).toBe("expires at 12:05 (in 2h 05m)");
    expect(expiryText(at.toISOString(), at.getTime() + 1000)).toBe("expired at 12:05");
  });
});
