import { describe, expect, it } from "vitest";
import { columnHint, columnLabel, nextSort, shortDateTime, sortRows } from "./tables";

describe("result tables", () => {
  it("gives the API's fields readable heads", () => {
    expect(columnLabel("holding_sessions")).toBe("Held (sessions)");
    expect(columnLabel("pnl")).toBe("P&L");
    expect(columnLabel("order_book_id")).toBe("Symbol");
    expect(columnLabel("brand_new")).toBe("Brand new");
    expect(columnHint("mae")).toContain("adverse");
    expect(columnHint("order_book_id")).toBeUndefined();
  });

  it("sorts numbers and text, missing values last either way, ties stable", () => {
    const rows = [
      { id: 1, pnl: 5, s: "b" },
      { id: 2, pnl: null, s: "a" },
      { id: 3, pnl: -2, s: "c" },
      { id: 4, pnl: 5, s: "a" },
    ];
    expect(sortRows(rows, "pnl", "asc").map((r) => r.id)).toEqual([3, 1, 4, 2]);
    expect(sortRows(rows, "pnl", "desc").map((r) => r.id)).toEqual([1, 4, 3, 2]);
    expect(sortRows(rows, "s", "asc").map((r) => r.id)).toEqual([2, 4, 1, 3]);
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4]); // a copy
  });

  it("flips the direction on the same column, starts a new one descending", () => {
    expect(nextSort({ key: "pnl", dir: "desc" }, "pnl")).toEqual({ key: "pnl", dir: "asc" });
    expect(nextSort({ key: "pnl", dir: "asc" }, "mae")).toEqual({ key: "mae", dir: "desc" });
    expect(nextSort({ key: "pnl", dir: "asc" }, "exit", "asc")).toEqual({
      key: "exit",
      dir: "asc",
    });
  });

  it("shortens ISO times", () => {
    expect(shortDateTime("2008-01-02T16:00:00")).toBe("2008-01-02 16:00");
    expect(shortDateTime(null)).toBe("—");
  });
});
