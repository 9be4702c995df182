/**
 * Names for the generated schema types (`src/api/schema.d.ts`), plus the shapes of the few
 * routes the schema leaves untyped (`compile_strategy` and the `log` text/JSON route), each
 * with a type guard: those answers are checked at run time, never cast.
 */
import type { Schemas } from "./client";

export type StrategyMeta = Schemas["StrategyMeta"];
export type Strategy = Schemas["Strategy"];
export type ParamSpec = Schemas["ParamSpec"];
export type RunBody = Schemas["RunRequest"];
export type JobStatusView = Schemas["JobStatusView"];
export type ResultView = Schemas["ResultView"];
export type Equity = Schemas["Equity"];
export type InstrumentStats = Schemas["InstrumentStats"];
export type Bars = Schemas["Bars"];
export type RunOptions = Schemas["RunOptions"];
export type MarketOption = Schemas["MarketOption"];
export type LastRun = Schemas["LastRun"];
export type RunInfo = Schemas["RunInfo"];
export type PositionPage = Schemas["PositionPage"];
export type TradePage = Schemas["TradePage"];
export type InstrumentList = Schemas["InstrumentList"];
export type LastRuns = Schemas["LastRuns"];
export type JobList = Schemas["JobList"];
export type VersionInfo = Schemas["VersionInfo"];
export type StrategyVersions = Schemas["StrategyVersions"];
export type StrategyVersion = Schemas["StrategyVersion"];
export type Template = Schemas["Template"];
export type TemplateList = Schemas["TemplateList"];
/** One fill: the schema types rows as `{[key: string]: unknown}`; readers convert fields. */
export type Trade = TradePage["trades"][number];

/** The contract's job states (the schema's `JobStatus` enum). */
export type JobStatus = Schemas["JobStatus"];
export const JOB_STATUSES: JobStatus[] = ["QUEUED", "RUNNING", "FINISHED", "FAILED", "CANCELLED"];
export const ACTIVE: readonly string[] = ["QUEUED", "RUNNING"];

/** A compile diagnostic (1-based line and column). */
export interface Diagnostic {
  line: number;
  column: number;
  level: string;
  message: string;
}

/**
 * `POST .../compile`: the schema leaves it untyped (the route answers this shape with 200 or
 * 422, and the contract's error envelope otherwise), so answers go through `isCompileResult`.
 */
export interface CompileResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  diagnostics: Diagnostic[];
  error?: { code: string; message: string };
}

/** Whether an untyped compile answer is a `CompileResult` (it carries its `diagnostics`). */
export function isCompileResult(body: unknown): body is CompileResult {
  return (
    typeof body === "object" &&
    body !== null &&
    "diagnostics" in body &&
    Array.isArray(body.diagnostics)
  );
}

/** `GET .../log?tail=` (the route answers text or JSON, so the schema leaves it untyped). */
export interface LogSlice {
  content: string;
  offset: number;
  next_offset: number;
  size: number;
}

/** Whether an untyped log answer is a `LogSlice`. */
export function isLogSlice(body: unknown): body is LogSlice {
  if (typeof body !== "object" || body === null) return false;
  const b: Partial<Record<keyof LogSlice, unknown>> = body;
  return (
    typeof b.content === "string" &&
    typeof b.offset === "number" &&
    typeof b.next_offset === "number" &&
    typeof b.size === "number"
  );
}
