import { describe, expect, it } from "vitest";
import { toApiError } from "./client";

describe("API errors", () => {
  it("carry the contract's code, message and data", () => {
    const e = toApiError(409, {
      ok: false,
      error: { code: "CONFLICT", message: "strategy has jobs" },
      data: { job_ids: ["a"] },
    });
    expect([e.status, e.code, e.message]).toEqual([409, "CONFLICT", "strategy has jobs"]);
    expect(e.data).toEqual({ job_ids: ["a"] });
  });

  it("fall back to text or the status", () => {
    expect(toApiError(502, "Bad gateway").message).toBe("Bad gateway");
    expect(toApiError(500, undefined).message).toBe("request failed with HTTP 500");
  });
});
