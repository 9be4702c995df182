import { describe, expect, it } from "vitest";
import { coerceParams, initialValues } from "./params";

const schema = [
  { name: "fast", type: "int", default: 10 },
  { name: "ratio", type: "float", default: 0.5 },
  { name: "long_only", type: "bool", default: true },
  { name: "label", type: "str", default: "x" },
  { name: "symbols", type: "list", default: ["AAPL", "MSFT"] },
  { name: "extra", type: "any", default: null },
];

describe("parameter schema", () => {
  it("starts from the defaults as form text", () => {
    expect(initialValues(schema)).toEqual({
      fast: "10",
      ratio: "0.5",
      long_only: true,
      label: "x",
      symbols: '["AAPL","MSFT"]',
      extra: "",
    });
  });

  it("types the values back after the schema", () => {
    const { params, errors } = coerceParams(schema, {
      fast: " 12 ",
      ratio: "1e-3",
      long_only: false,
      label: "abc",
      symbols: "IBM, GOOG",
      extra: '{"a": 1}',
    });
    expect(errors).toEqual({});
    expect(params).toEqual({
      fast: 12,
      ratio: 0.001,
      long_only: false,
      label: "abc",
      symbols: ["IBM", "GOOG"],
      extra: { a: 1 },
    });
  });

  it("leaves empty fields out so the strategy's default applies", () => {
    expect(
      coerceParams(schema, { ...initialValues(schema), fast: "", label: "" }).params,
    ).not.toHaveProperty("fast");
  });

  it("names the bad fields", () => {
    const { errors } = coerceParams(schema, {
      ...initialValues(schema),
      fast: "1.5",
      ratio: "abc",
    });
    expect(errors).toEqual({ fast: "must be a whole number", ratio: "must be a number" });
  });

  it("keeps JSON lists and free text for any", () => {
    const { params } = coerceParams(schema, {
      ...initialValues(schema),
      symbols: '["A"]',
      extra: "plain",
    });
    expect(params.symbols).toEqual(["A"]);
    expect(params.extra).toBe("plain");
  });
});
