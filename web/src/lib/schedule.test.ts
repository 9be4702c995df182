import { describe, expect, it } from "vitest";
import {
  CRON_EXAMPLE,
  describeCron,
  indexesText,
  instrumentsText,
  nextRun,
  SCHEDULE_SETTINGS,
  scheduleWindow,
  targetsLine,
  until,
  zonedDateTime,
} from "./schedule";

describe("describeCron", () => {
  it("reads common daily and weekly patterns", () => {
    expect(describeCron(CRON_EXAMPLE)).toBe("at 17:30 on weekdays");
    expect(describeCron("0 9 * * *")).toBe("at 09:00 every day");
    expect(describeCron("5 16 * * mon-fri")).toBe("at 16:05 on weekdays");
    expect(describeCron("0 18 * * 6,0")).toBe("at 18:00 on weekends");
    expect(describeCron("0 18 * * 6-7")).toBe("at 18:00 on weekends");
    expect(describeCron("0 18 * * SAT,SUN")).toBe("at 18:00 on weekends");
    expect(describeCron("0 7 * * 1")).toBe("at 07:00 on Mondays");
    expect(describeCron("0 7 * * 7")).toBe("at 07:00 on Sundays");
    expect(describeCron("0 7 * * 0,1,3,5")).toBe("at 07:00 on Mon, Wed, Fri and Sun");
    expect(describeCron("0 7 * * 1-4")).toBe("at 07:00 on Mon–Thu");
    expect(describeCron("0 7 * * 0-6")).toBe("at 07:00 every day");
    expect(describeCron("  30   17 * * 1-5 ")).toBe("at 17:30 on weekdays");
  });

  it("reads a few hours, hourly and every-n-minutes patterns", () => {
    expect(describeCron("30 9,15 * * 1-5")).toBe("at 09:30 and 15:30 on weekdays");
    expect(describeCron("15 * * * *")).toBe("every hour at :15");
    expect(describeCron("0 * * * 1-5")).toBe("every hour on weekdays");
    expect(describeCron("*/15 * * * *")).toBe("every 15 minutes");
    expect(describeCron("* * * * *")).toBe("every minute");
  });

  it("reads a day of the month", () => {
    expect(describeCron("0 6 1 * *")).toBe("at 06:00 on the 1st of the month");
    expect(describeCron("0 6 22 * *")).toBe("at 06:00 on the 22nd of the month");
    expect(describeCron("0 6 13 * *")).toBe("at 06:00 on the 13th of the month");
  });

  it("gives up (null) on anything else", () => {
    for (const expr of [
      null,
      "",
      "30 17 * *",
      "30 17 * * 1-5 2026",
      "30 17 * 1 *",
      "30 17 1 * 1",
      "30 17 L * *",
      "30 17 * * 5#3",
      "0-30/5 17 * * *",
      "30 */2 * * *",
      "30 17 * * 5-1",
      "61 17 * * *",
      "30 24 * * *",
      "30 1,2,3,4,5 * * *",
      "30 17 * * funday",
    ]) {
      expect(describeCron(expr), String(expr)).toBeNull();
    }
  });
});

describe("zonedDateTime and until", () => {
  it("formats a UTC time in a zone", () => {
    expect(zonedDateTime("2026-02-17T09:30:00Z", "Asia/Shanghai")).toBe("2026-02-17 17:30");
    expect(zonedDateTime("2026-02-17T23:30:00Z", "Asia/Shanghai")).toBe("2026-02-18 07:30");
    expect(zonedDateTime("2026-02-17T00:05:00Z", "UTC")).toBe("2026-02-17 00:05");
    expect(zonedDateTime("2026-07-01T21:30:00Z", "America/New_York")).toBe("2026-07-01 17:30");
  });

  it("gives null for a bad time or zone", () => {
    expect(zonedDateTime(null, "UTC")).toBeNull();
    expect(zonedDateTime("not a time", "UTC")).toBeNull();
    expect(zonedDateTime("2026-02-17T09:30:00Z", "Not/AZone")).toBeNull();
  });

  it("says how long until a time", () => {
    const now = Date.parse("2026-02-17T09:00:00Z");
    expect(until("2026-02-17T09:45:00Z", now)).toBe("in 45 min");
    expect(until("2026-02-17T12:00:00Z", now)).toBe("in 3 h");
    expect(until("2026-02-17T12:10:00Z", now)).toBe("in 3 h 10 min");
    expect(until("2026-02-19T13:00:00Z", now)).toBe("in 2 d 4 h");
    expect(until("2026-02-18T09:00:00Z", now)).toBe("in 1 d");
    expect(until("2026-02-17T08:00:00Z", now)).toBe("due now");
    expect(until(null, now)).toBeNull();
  });
});

describe("nextRun", () => {
  const now = Date.parse("2026-02-17T06:00:00Z");

  it("gives the local time and the schedule's", () => {
    const run = nextRun(
      { next_run: "2026-02-17T09:30:00Z", timezone: "Asia/Shanghai" },
      "Europe/Berlin",
      now,
    );
    expect(run).toEqual({
      local: "2026-02-17 10:30",
      localZone: "Europe/Berlin",
      zoned: "2026-02-17 17:30",
      zone: "Asia/Shanghai",
      until: "in 3 h 30 min",
    });
  });

  it("drops the schedule's time when the browser is in the same zone", () => {
    const run = nextRun(
      { next_run: "2026-02-17T09:30:00Z", timezone: "Asia/Shanghai" },
      "Asia/Shanghai",
      now,
    );
    expect(run?.local).toBe("2026-02-17 17:30");
    expect(run?.zoned).toBeNull();
  });

  it("is null without a next run", () => {
    expect(nextRun({ next_run: null, timezone: "UTC" }, "UTC", now)).toBeNull();
  });
});

describe("what an update fetches", () => {
  it("words the window", () => {
    expect(scheduleWindow(10)).toBe("last 10 days");
    expect(scheduleWindow(1)).toBe("last day");
    expect(scheduleWindow(1200)).toBe("last 1,200 days");
  });

  it("words the instruments and indexes", () => {
    const t = {
      order_book_ids: ["AAPL", "MSFT", "NVDA", "TSLA"],
      index_ids: ["000300.XSHG"],
      with_members: true,
    };
    expect(instrumentsText(t)).toBe("AAPL, MSFT, NVDA and 1 more");
    expect(indexesText(t)).toBe("000300.XSHG with members");
    expect(indexesText({ ...t, with_members: false })).toBe("000300.XSHG");
    expect(indexesText({ index_ids: [] })).toBe("");
    expect(instrumentsText({})).toBe("");
  });

  it("makes one line for a list row", () => {
    expect(targetsLine({ order_book_ids: ["AAPL"], index_ids: [], with_members: false })).toBe(
      "AAPL",
    );
    expect(
      targetsLine({
        order_book_ids: ["AAPL", "MSFT", "NVDA"],
        index_ids: ["000300.XSHG", "000905.XSHG"],
        with_members: true,
      }),
    ).toBe("000300.XSHG, 000905.XSHG with members · 3 instruments");
    expect(targetsLine({ order_book_ids: ["AAPL"], index_ids: ["000300.XSHG"] })).toBe(
      "000300.XSHG · AAPL",
    );
    expect(targetsLine({ index_ids: ["000016.XSHG"], with_members: false })).toBe("000016.XSHG");
    expect(targetsLine({ order_book_ids: ["AAPL", "MSFT", "NVDA"] })).toBe("AAPL, MSFT and 1 more");
    expect(targetsLine({})).toBe("—");
  });

  it("names the settings that turn the schedule on", () => {
    const names = SCHEDULE_SETTINGS.map((s) => s.name);
    expect(names).toEqual([
      "DATA_UPDATE_CRON",
      "DATA_UPDATE_SOURCE",
      "DATA_UPDATE_IDS",
      "DATA_UPDATE_INDEXES",
    ]);
    expect(SCHEDULE_SETTINGS[0].does).toContain(CRON_EXAMPLE);
  });
});
