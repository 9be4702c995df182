/**
 * A strategy's parameter schema (read by the server from `PARAMS`) as form fields, and the
 * form's text values typed back into `params` for `POST /api/backtest/run`.
 */
import type { ParamSpec } from "../api/models";

export type ParamValues = Record<string, string | boolean>;

export function initialValues(schema: ParamSpec[]): ParamValues {
  const out: ParamValues = {};
  for (const p of schema) {
    if (p.type === "bool") out[p.name] = Boolean(p.default);
    else if (p.type === "list" || p.type === "any")
      out[p.name] = p.default === null || p.default === undefined ? "" : JSON.stringify(p.default);
    else out[p.name] = p.default === null || p.default === undefined ? "" : String(p.default);
  }
  return out;
}

export interface Coerced {
  params: Record<string, unknown>;
  errors: Record<string, string>;
}

/**
 * Typed params from the form. Fields equal to the default are still sent (the run records
 * exactly what was used); an empty field is left out so the strategy's default applies.
 */
export function coerceParams(schema: ParamSpec[], values: ParamValues): Coerced {
  const params: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const p of schema) {
    const raw = values[p.name];
    if (p.type === "bool") {
      params[p.name] = Boolean(raw);
      continue;
    }
    const text = typeof raw === "string" ? raw.trim() : "";
    if (text === "") continue;
    switch (p.type) {
      case "int": {
        if (!/^[-+]?\d+$/.test(text)) errors[p.name] = "must be a whole number";
        else params[p.name] = Number.parseInt(text, 10);
        break;
      }
      case "float": {
        const v = Number(text);
        if (!Number.isFinite(v)) errors[p.name] = "must be a number";
        else params[p.name] = v;
        break;
      }
      case "list": {
        try {
          const v: unknown = JSON.parse(text);
          if (!Array.isArray(v)) throw new Error("not a list");
          params[p.name] = v;
        } catch {
          // Also accept a comma-separated list: AAPL, MSFT
          params[p.name] = text
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
        }
        break;
      }
      case "any": {
        try {
          params[p.name] = JSON.parse(text);
        } catch {
          params[p.name] = text;
        }
        break;
      }
      default:
        params[p.name] = text;
    }
  }
  return { params, errors };
}
