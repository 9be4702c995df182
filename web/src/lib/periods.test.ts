import { describe, expect, it } from "vitest";
import { monthlyGrid, returnColor } from "./periods";

describe("period tables", () => {
  it("lays monthly returns out by year, with the year's return", () => {
    const grid = monthlyGrid(
      [
        { year: 2009, month: 1, returns: 0.1 },
        { year: 2008, month: 12, returns: -0.05 },
        { year: 2008, month: 11, returns: null },
      ],
      [
        { year: 2008, returns: -0.2 },
        { year: 2009, returns: 0.3 },
      ],
    );
    expect(grid.map((r) => r.year)).toEqual([2008, 2009]);
    expect(grid[0].months[11]).toBe(-0.05);
    expect(grid[0].months[10]).toBeNull();
    expect(grid[0].months[0]).toBeNull();
    expect(grid[1].months[0]).toBe(0.1);
    expect(grid[1].total).toBe(0.3);
  });

  it("shades gains green and losses red, saturating at the full scale", () => {
    expect(returnColor(0.2)).toBe("rgba(38,194,129,0.60)");
    expect(returnColor(-0.05)).toBe("rgba(240,93,94,0.35)");
    expect(returnColor(0)).toBe("transparent");
    expect(returnColor(null)).toBe("transparent");
  });
});
