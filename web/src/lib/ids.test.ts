import { describe, expect, it } from "vitest";
import { checkId } from "./ids";

describe("checkId", () => {
  it("accepts every CJK Unified Ideographs block, extensions included", () => {
    for (const id of [
      "中文_ok-1",
      "\u3400x",
      "\u{20000}ext",
      "\u{2a700}\u{2ebf0}",
      "\u{30000}\u{31350}",
    ]) {
      expect(checkId(id)).toBeNull();
    }
  });

  it("counts characters, not UTF-16 units", () => {
    expect(checkId("\u{20000}".repeat(64))).toBeNull();
    expect(checkId("\u{20000}".repeat(65))).toBe("at most 64 characters");
  });

  it("refuses spaces, symbols and emoji", () => {
    for (const id of ["a b", "€", "\u{1f600}", ""]) {
      expect(checkId(id)).not.toBeNull();
    }
  });
});
