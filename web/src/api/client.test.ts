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

describe("research errors", () => {
  it("carry the research format's message ({message}, not {ok, error})", () => {
    const e = toApiError(409, { message: "research item 'x' already exists" });
    expect([e.status, e.code, e.message]).toEqual([
      409,
      "HTTP_409",
      "research item 'x' already exists",
    ]);
    expect(toApiError(404, { message: "" }).message).toBe("request failed with HTTP 404");
  });
});
