/**
 * Names for the generated schema types, plus shapes of the routes the schema types only as
 * `{[key: string]: unknown}` (the contract's loosely typed answers).
 */
import type { Schemas } from "./client";

export type StrategyMeta = Schemas["StrategyMeta"];
export type Strategy = Schemas["Strategy"];
export type ParamSpec = Schemas["ParamSpec"];
export type RunBody = Schemas["RunBody"];
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

export type JobStatus = "QUEUED" | "RUNNING" | "FAILED" | "CANCELLED" | "FINISHED";
export const JOB_STATUSES: JobStatus[] = ["QUEUED", "RUNNING", "FINISHED", "FAILED", "CANCELLED"];
export const ACTIVE: readonly string[] = ["QUEUED", "RUNNING"];

export interface JobList {
  jobs: JobStatusView[];
  total: number;
}

export interface VersionMeta {
  version: number;
  created_at: string | null;
  size: number;
  sha256: string;
}

export interface VersionList {
  strategy_id: string;
  versions: VersionMeta[];
}

export interface VersionDetail {
  strategy_id: string;
  version: number;
  code: string;
  created_at: string | null;
  size: number;
  params_schema: ParamSpec[];
}

export interface Template {
  id: string;
  description: string;
  params_schema: ParamSpec[];
  code: string;
}

export interface Diagnostic {
  line: number;
  column: number;
  level: string;
  message: string;
}

export interface CompileResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  diagnostics: Diagnostic[];
  error?: { code: string; message: string };
}

export interface RenameResult {
  from_id: string;
  to_id: string;
  deleted_old: boolean;
  warning: string;
}

export type Trade = Record<string, unknown> & {
  datetime?: string;
  order_book_id?: string;
  side?: string;
  quantity?: number;
  price?: number;
};

/** `GET .../log?tail=` (the route answers text or JSON, so the schema leaves it untyped). */
export interface LogSlice {
  content: string;
  offset: number;
  next_offset: number;
  size: number;
}
