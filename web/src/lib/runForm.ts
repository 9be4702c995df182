/** The Run panel's state: defaults from the catalog and options, validation, request body. */
import type {
  Adjust,
  EngineName,
  Frequency,
  InstrumentStats,
  MarketName,
  Matching,
  ParamSpec,
  RunBody,
  RunOptions,
} from "../api/models";
import { coerceParams, initialValues, type ParamValues } from "./params";

export interface RunForm {
  startDate: string;
  endDate: string;
  cash: string;
  universe: string[];
  benchmark: string;
  frequency: Frequency;
  market: MarketName;
  matching: Matching;
  adjust: Adjust;
  engine: EngineName;
  commission: string;
  minCommission: string;
  tax: string;
  slippage: string;
  riskFreeRate: string;
  params: ParamValues;
}

const MARKET_OF: Record<string, string> = { us: "us_stock", cn: "cn_stock" };

/** The run's market (`us_stock`) of an instrument's market (`us`). */
export function marketOf(ins: InstrumentStats): string {
  return MARKET_OF[ins.market] ?? ins.market;
}

/** Instruments of a run market, stocks before indexes. */
export function tradable(instruments: InstrumentStats[], market: string): InstrumentStats[] {
  const rows = instruments.filter((i) => marketOf(i) === market);
  return [...rows.filter((i) => i.type !== "INDX"), ...rows.filter((i) => i.type === "INDX")];
}

/** `value` if it is one of `choices` (a `<select>`'s value narrowed to the schema's enum). */
export function oneOf<T extends string>(choices: readonly T[], value: string): T | undefined {
  return choices.find((choice) => choice === value);
}

export function defaultRunForm(
  options: RunOptions | null,
  instruments: InstrumentStats[],
  schema: ParamSpec[],
  market: MarketName = "us_stock",
): RunForm {
  const profile = options?.markets.find((m) => m.name === market);
  const stocks = tradable(instruments, market);
  const first = stocks.find((i) => i.order_book_id === "AAPL") ?? stocks[0];
  const form: RunForm = {
    startDate: "",
    endDate: "",
    cash: market === "cn_stock" ? "1000000" : "100000",
    universe: first ? [first.order_book_id] : [],
    benchmark: profile?.benchmark ?? "",
    frequency: options?.frequencies[0] ?? "1d",
    market,
    matching: options?.matchings[0] ?? "current_bar",
    adjust: "pre",
    engine: options?.engines[0] ?? "auto",
    commission: "",
    minCommission: "",
    tax: "",
    slippage: "",
    riskFreeRate: "",
    params: initialValues(schema),
  };
  const range = dateRange(instruments, form.universe, form.benchmark);
  if (range) {
    form.endDate = range.max;
    form.startDate = clampDate(shiftYears(range.max, -5), range.min, range.max);
  }
  return form;
}

export function shiftYears(iso: string, years: number): string {
  const [y, m, d] = iso.split("-").map(Number);
  const date = new Date(Date.UTC(y + years, m - 1, Math.min(d, 28)));
  return date.toISOString().slice(0, 10);
}

function clampDate(v: string, lo: string, hi: string): string {
  return v < lo ? lo : v > hi ? hi : v;
}

/** The dates every chosen instrument (and the benchmark) has bars for; null if none overlap. */
export function dateRange(
  instruments: InstrumentStats[],
  universe: string[],
  benchmark: string,
): { min: string; max: string } | null {
  const ids = [
    ...universe,
    ...(benchmark && benchmark.toLowerCase() !== "none" ? [benchmark] : []),
  ];
  const rows = instruments.filter((i) => ids.includes(i.order_book_id));
  if (rows.length === 0) return null;
  let min = "";
  let max = "9999-12-31";
  for (const r of rows) {
    if (r.first_bar && r.first_bar > min) min = r.first_bar;
    if (r.last_bar && r.last_bar < max) max = r.last_bar;
  }
  if (!min || max === "9999-12-31" || min > max) return null;
  return { min, max };
}

export type FormErrors = Partial<Record<keyof RunForm | string, string>>;

export function validate(
  form: RunForm,
  instruments: InstrumentStats[],
  schema: ParamSpec[],
): FormErrors {
  const errors: FormErrors = {};
  const isDate = (v: string) => /^\d{4}-\d{2}-\d{2}$/.test(v);
  if (!isDate(form.startDate)) errors.startDate = "start date is required (YYYY-MM-DD)";
  if (!isDate(form.endDate)) errors.endDate = "end date is required (YYYY-MM-DD)";
  if (!errors.startDate && !errors.endDate && form.endDate < form.startDate)
    errors.endDate = "end date must be on or after the start date";
  const range = dateRange(instruments, form.universe, form.benchmark);
  if (range && !errors.startDate && form.startDate < range.min)
    errors.startDate = `the data starts on ${range.min}`;
  if (range && !errors.endDate && form.endDate > range.max)
    errors.endDate = `the data ends on ${range.max}`;
  const cash = Number(form.cash);
  if (!form.cash.trim() || !Number.isFinite(cash) || cash <= 0)
    errors.cash = "cash must be a positive number";
  if (form.universe.length === 0) errors.universe = "pick at least one instrument";
  for (const key of ["commission", "minCommission", "tax", "slippage"] as const) {
    const v = form[key].trim();
    if (v && (!Number.isFinite(Number(v)) || Number(v) < 0)) errors[key] = "must be a number ≥ 0";
  }
  const rate = form.riskFreeRate.trim();
  if (rate && !(Number.isFinite(Number(rate)) && Math.abs(Number(rate)) <= 1))
    errors.riskFreeRate = "must be a fraction between -1 and 1";
  const { errors: paramErrors } = coerceParams(schema, form.params);
  for (const [name, message] of Object.entries(paramErrors)) errors[`param.${name}`] = message;
  return errors;
}

const optionalNumber = (v: string): number | null => (v.trim() === "" ? null : Number(v));

export function toRunBody(strategyId: string, form: RunForm, schema: ParamSpec[]): RunBody {
  return {
    strategy_id: strategyId,
    start_date: form.startDate,
    end_date: form.endDate,
    cash: Number(form.cash),
    benchmark: form.benchmark.trim() || "none",
    frequency: form.frequency,
    universe: form.universe,
    market: form.market,
    matching: form.matching,
    adjust: form.adjust,
    commission: optionalNumber(form.commission),
    min_commission: optionalNumber(form.minCommission),
    tax: optionalNumber(form.tax),
    slippage: optionalNumber(form.slippage),
    risk_free_rate: optionalNumber(form.riskFreeRate) ?? 0, // the server's default
    params: coerceParams(schema, form.params).params,
    engine: form.engine,
  };
}
