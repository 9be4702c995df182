/**
 * Pure helpers of the Data page's import (`POST /api/data/import`) and source updates: the
 * multipart form, the column mapping (the server's automatic matches, mirrored so the form can
 * show them), the columns and missing columns read off an error, and a report's summary.
 */
import { ApiError, type Schemas } from "../api/client";

export type UploadResult = Schemas["UploadResult"];
export type ImportedInstrument = Schemas["ImportedInstrument"];
export type RejectedRow = Schemas["RejectedRow"];
export type SourceView = Schemas["SourceView"];
export type UpdateStatus = Schemas["UpdateStatus"];

/** The catalog's columns a file's columns are mapped onto, in the form's order. */
export const CATALOG_COLUMNS = [
  "date",
  "open",
  "high",
  "low",
  "close",
  "volume",
  "adj_close",
  "limit_up",
  "limit_down",
  "order_book_id",
] as const;
export type CatalogColumn = (typeof CATALOG_COLUMNS)[number];

/** Columns every file needs (`quantdesk.data.validation.REQUIRED`). */
export const REQUIRED_COLUMNS: readonly CatalogColumn[] = [
  "date",
  "open",
  "high",
  "low",
  "close",
  "volume",
];

/** What each catalog column holds (the mapping form's hints). */
export const COLUMN_HINTS: Record<CatalogColumn, string> = {
  date: "trading day",
  open: "open price",
  high: "high price",
  low: "low price",
  close: "close price (as traded)",
  volume: "volume",
  adj_close: "split/dividend-adjusted close",
  limit_up: "A-shares: limit-up price",
  limit_down: "A-shares: limit-down price",
  order_book_id: "instrument id (multi-instrument files)",
};

/**
 * The names the server recognises for each catalog column (`quantdesk.data.uploads.
 * COLUMN_ALIASES`), compared after `columnKey`. Mirrored to pre-fill the mapping form; the
 * server applies its own list whatever this one says.
 */
export const COLUMN_ALIASES: Record<CatalogColumn, readonly string[]> = {
  order_book_id: ["order_book_id", "symbol", "ticker", "code", "ts_code", "代码", "股票代码"],
  date: ["date", "datetime", "trade_date", "time", "timestamp", "日期", "交易日期"],
  open: ["open", "开盘", "开盘价"],
  high: ["high", "最高", "最高价"],
  low: ["low", "最低", "最低价"],
  close: ["close", "收盘", "收盘价"],
  volume: ["volume", "vol", "成交量"],
  adj_close: ["adj_close", "adjclose", "adjusted_close"],
  limit_up: ["limit_up", "high_limit", "up_limit", "涨停价"],
  limit_down: ["limit_down", "low_limit", "down_limit", "跌停价"],
};

/** The server's comparison key of a column name: trimmed, lower case, spaces and dashes → `_`. */
export function columnKey(name: string): string {
  return name.trim().toLowerCase().replaceAll(" ", "_").replaceAll("-", "_");
}

/** `{catalog column: file column}`; an absent or empty entry leaves it to the server. */
export type Mapping = Partial<Record<CatalogColumn, string>>;

/**
 * The file columns the server would match to each catalog column by name, as
 * `normalize_columns` does: per catalog column (in the server's order) the first of its
 * aliases the file has, unless that column is already taken.
 */
export function autoMapping(columns: readonly string[]): Mapping {
  const byKey = new Map<string, string>();
  for (const c of columns) byKey.set(columnKey(c), c);
  const taken = new Set<string>();
  const result: Mapping = {};
  for (const [ours, aliases] of Object.entries(COLUMN_ALIASES) as [
    CatalogColumn,
    readonly string[],
  ][]) {
    for (const alias of aliases) {
      const source = byKey.get(alias);
      if (source !== undefined && !taken.has(source)) {
        result[ours] = source;
        taken.add(source);
        break;
      }
    }
  }
  return result;
}

/** What is wrong with a mapping before it is sent. */
export interface MappingProblems {
  /** Required catalog columns with no file column, by choice or by name. */
  missing: CatalogColumn[];
  /** File columns chosen for more than one catalog column. */
  duplicates: { column: string; targets: CatalogColumn[] }[];
}

/**
 * The problems of `mapping` over a file with `columns`: a required column neither mapped nor
 * matched by name, or one file column mapped twice. `columns` empty (unknown): only duplicates.
 */
export function mappingProblems(mapping: Mapping, columns: readonly string[]): MappingProblems {
  const auto = autoMapping(columns);
  const effective: Mapping = { ...auto };
  for (const c of CATALOG_COLUMNS) {
    const chosen = mapping[c];
    if (chosen) effective[c] = chosen;
  }
  const missing = columns.length === 0 ? [] : REQUIRED_COLUMNS.filter((c) => !effective[c]);
  const users = new Map<string, CatalogColumn[]>();
  for (const c of CATALOG_COLUMNS) {
    const chosen = mapping[c];
    if (!chosen) continue;
    users.set(chosen, [...(users.get(chosen) ?? []), c]);
  }
  const duplicates = [...users.entries()]
    .filter(([, targets]) => targets.length > 1)
    .map(([column, targets]) => ({ column, targets }));
  return { missing, duplicates };
}

/** The mapping's chosen entries as the form field's JSON (`undefined`: nothing chosen). */
export function mappingJson(mapping: Mapping): string | undefined {
  const chosen: Record<string, string> = {};
  for (const c of CATALOG_COLUMNS) {
    const value = mapping[c]?.trim();
    if (value) chosen[c] = value;
  }
  return Object.keys(chosen).length ? JSON.stringify(chosen) : undefined;
}

/** The import form's fields besides the file and the mapping ("" = not given). */
export interface ImportOptions {
  orderBookId: string;
  market: "" | "us" | "cn";
  type: "" | "CS" | "INDX" | "ETF";
  lotSize: string;
  board: "" | "MainBoard" | "GEM" | "KSH" | "BJS";
  name: string;
  strict: boolean;
}

export const DEFAULT_OPTIONS: ImportOptions = {
  orderBookId: "",
  market: "",
  type: "",
  lotSize: "",
  board: "",
  name: "",
  strict: true,
};

/** Problems of the options the server would refuse (field → message). */
export function optionProblems(
  options: ImportOptions,
): Partial<Record<keyof ImportOptions, string>> {
  const problems: Partial<Record<keyof ImportOptions, string>> = {};
  const lot = options.lotSize.trim();
  if (lot && !(/^\d+$/.test(lot) && Number(lot) >= 1 && Number(lot) <= 1_000_000)) {
    problems.lotSize = "a whole number from 1 to 1,000,000";
  }
  const id = options.orderBookId.trim();
  if (id.length > 32) problems.orderBookId = "at most 32 characters";
  else if (/\s/.test(id)) problems.orderBookId = "no spaces";
  if (options.name.trim().length > 200) problems.name = "at most 200 characters";
  return problems;
}

/**
 * The multipart body of `POST /api/data/import`: the file, the given options (blank ones left
 * out, so the server's defaults apply), the chosen mapping, `strict` and `dry_run`.
 */
export function importFormData(
  file: Blob,
  filename: string,
  options: ImportOptions,
  mapping: Mapping,
  dryRun: boolean,
): FormData {
  const form = new FormData();
  form.append("file", file, filename);
  const text: [string, string][] = [
    ["order_book_id", options.orderBookId.trim()],
    ["market", options.market],
    ["type", options.type],
    ["lot_size", options.lotSize.trim()],
    ["board", options.board],
    ["name", options.name.trim()],
  ];
  for (const [key, value] of text) if (value) form.append(key, value);
  const json = mappingJson(mapping);
  if (json) form.append("mapping", json);
  form.append("strict", options.strict ? "true" : "false");
  form.append("dry_run", dryRun ? "true" : "false");
  return form;
}

/** The file's columns named in a "missing column(s) … (the file has A, B, C)" message. */
export function columnsFromMessage(message: string): string[] | null {
  const m = /\(the file has (.*)\)(?:;|$)/.exec(message) ?? /\(it has (.*)\)\s*$/.exec(message);
  if (!m?.[1]) return null;
  const cols = m[1]
    .split(", ")
    .map((c) => c.trim())
    .filter(Boolean);
  return cols.length ? cols : null;
}

/** The catalog columns a "missing column(s) date, volume (…)" message names. */
export function missingFromMessage(message: string): CatalogColumn[] {
  const m = /missing column\(s\) ([^(;]*)/.exec(message);
  if (!m?.[1]) return [];
  const known = new Set<string>(CATALOG_COLUMNS);
  return m[1]
    .split(",")
    .map((c) => c.trim())
    .filter((c): c is CatalogColumn => known.has(c));
}

/**
 * The column names of a CSV file's first line (its separator guessed among `, ; tab |`, quotes
 * and a byte-order mark removed): the mapping form's choices before the server has read it.
 */
export function csvHeader(text: string): string[] {
  const first = text.replace(/^\uFEFF/, "").split(/\r?\n/, 1)[0] ?? "";
  if (!first.trim()) return [];
  const seps = [",", ";", "\t", "|"];
  let sep = ",";
  let best = 0;
  for (const s of seps) {
    const n = first.split(s).length - 1;
    if (n > best) {
      best = n;
      sep = s;
    }
  }
  const cells: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < first.length; i++) {
    const ch = first[i];
    if (ch === '"') {
      if (quoted && first[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === sep && !quoted) {
      cells.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  cells.push(cur.trim());
  return cells.filter(Boolean);
}

/** True for a Parquet file's first bytes (`PAR1`). */
export function isParquet(head: Uint8Array): boolean {
  return (
    head.length >= 4 && head[0] === 0x50 && head[1] === 0x41 && head[2] === 0x52 && head[3] === 0x31
  );
}

/** A failed import, as the page shows it. */
export interface ImportFailure {
  /** What went wrong, in words. */
  message: string;
  /** The error code (`DATA_INVALID`, `PAYLOAD_TOO_LARGE`, `FORBIDDEN`, `HTTP_413`...). */
  code: string;
  status: number;
  /** The validation report of a refused file (strict, or nothing usable). */
  report: UploadResult | null;
  /** The file's columns could not be matched: show the mapping form. */
  needsMapping: boolean;
  /** The catalog columns the server said are missing. */
  missing: CatalogColumn[];
  /** The file's columns, when the message names them. */
  columns: string[] | null;
}

function isUploadResult(v: unknown): v is UploadResult {
  return (
    !!v &&
    typeof v === "object" &&
    Array.isArray((v as UploadResult).instruments) &&
    Array.isArray((v as UploadResult).columns)
  );
}

/** An import's error (`ApiError` or anything thrown) as an `ImportFailure`. */
export function importFailure(exc: unknown): ImportFailure {
  const status = exc instanceof ApiError ? exc.status : 0;
  const code = exc instanceof ApiError ? exc.code : "ERROR";
  let message = exc instanceof Error ? exc.message : String(exc);
  const report = exc instanceof ApiError && isUploadResult(exc.data) ? exc.data : null;
  if (status === 413) {
    message = `The file is too large for the server: ${message}`;
  } else if (status === 403) {
    message = `Not allowed: ${message}`;
  }
  // The server names the file's columns and the missing ones in `data` (the message is the
  // fallback of older servers).
  const detail = exc instanceof ApiError ? missingColumnsDetail(exc.data) : null;
  const missing = detail ? detail.missing : missingFromMessage(message);
  const needsMapping =
    !report &&
    (missing.length > 0 || /^mapping[: ]/.test(message) || /no order_book_id column/.test(message));
  return {
    message,
    code,
    status,
    report,
    needsMapping,
    missing,
    columns: detail ? detail.columns : columnsFromMessage(message),
  };
}

/** The mapping the server applied (`UploadResult.mapping`) as a form mapping; null if empty. */
export function catalogMapping(applied: Record<string, string>): Mapping | null {
  const known = new Set<string>(CATALOG_COLUMNS);
  const out: Mapping = {};
  for (const [ours, theirs] of Object.entries(applied)) {
    if (known.has(ours)) out[ours as CatalogColumn] = theirs;
  }
  return Object.keys(out).length ? out : null;
}

/** `{columns, missing}` of a "missing column(s)" answer, or null. */
export function missingColumnsDetail(
  data: unknown,
): { columns: string[]; missing: CatalogColumn[] } | null {
  if (!data || typeof data !== "object") return null;
  const { columns, missing } = data as { columns?: unknown; missing?: unknown };
  if (!Array.isArray(columns) || !Array.isArray(missing)) return null;
  const known = new Set<string>(CATALOG_COLUMNS);
  return {
    columns: columns.map(String),
    missing: missing.map(String).filter((c): c is CatalogColumn => known.has(c)),
  };
}

/** The numbers and verdict of a report, for its banner and summary strip. */
export interface ReportSummary {
  instruments: number;
  rowsIn: number;
  accepted: number;
  rejected: number;
  missingSessions: number;
  /** Instruments none of whose rows can be used. */
  failed: number;
  warnings: number;
  /** ok: everything valid; partial: some rows/instruments left out; refused: nothing written
   * (strict) ; empty: nothing usable. */
  verdict: "ok" | "partial" | "refused" | "empty";
  /** One sentence for the banner. */
  headline: string;
}

const plural = (n: number, one: string, many = `${one}s`) =>
  `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;

/** The summary of an import's report (a preview's, a commit's, or a refused file's). */
export function summarizeReport(report: UploadResult): ReportSummary {
  const list = report.instruments;
  const rejected = list.reduce((n, i) => n + i.rejected_total, 0);
  const missingSessions = list.reduce((n, i) => n + i.missing_sessions_total, 0);
  const failed = list.filter((i) => i.error !== null).length;
  const warnings = list.reduce((n, i) => n + i.warnings.length, 0);
  const rows = plural(report.rows_accepted, "row");
  const of = `${report.rows_accepted.toLocaleString("en-US")} of ${plural(report.rows_in, "row")}`;
  const instruments = plural(list.length, "instrument");
  let verdict: ReportSummary["verdict"];
  if (report.refused) verdict = "refused";
  else if (report.rows_accepted === 0) verdict = "empty";
  else if (rejected > 0 || failed > 0 || warnings > 0) verdict = "partial";
  else verdict = "ok";
  let headline: string;
  if (verdict === "refused") headline = `Refused: nothing was imported. ${report.refused}`;
  else if (verdict === "empty") headline = "Nothing in this file can be imported.";
  else if (report.committed)
    headline = `Imported ${rows} into ${instruments}${rejected ? ` (${plural(rejected, "row")} rejected)` : ""}.`;
  else if (verdict === "ok")
    headline = `Preview: all ${rows} of ${instruments} are valid; nothing written yet.`;
  else headline = `Preview: ${of} would be imported into ${instruments}; nothing written yet.`;
  return {
    instruments: list.length,
    rowsIn: report.rows_in,
    accepted: report.rows_accepted,
    rejected,
    missingSessions,
    failed,
    warnings,
    verdict,
    headline,
  };
}

/** Every rejected row of a report with its instrument, in report order. */
export function rejectedRows(
  report: UploadResult,
): { order_book_id: string; date: string; reason: string }[] {
  return report.instruments.flatMap((i) =>
    i.rejected.map((r) => ({ order_book_id: i.order_book_id, date: r.date, reason: r.reason })),
  );
}

/** "2024-01-03, 2024-01-04, 2024-01-05 and 9 more" (the first `n` of `total`). */
export function firstFew(items: readonly string[], total: number, n = 5): string {
  if (total === 0 || items.length === 0) return "";
  const shown = items.slice(0, n).join(", ");
  const more = total - Math.min(n, items.length);
  return more > 0 ? `${shown} and ${more.toLocaleString("en-US")} more` : shown;
}

/** "AAPL, msft  600519.XSHG" → ["AAPL", "msft", "600519.XSHG"] (commas, spaces or lines; once each). */
export function parseIds(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,;]+/)
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}

/** "data update: yfinance" → "yfinance" (an update job's name says its source). */
export function updateSource(strategyName: string): string {
  return strategyName.replace(/^data update:\s*/, "");
}

/** One instrument of a finished update's report (`report.instruments[]`), read defensively. */
export interface UpdatedInstrument {
  order_book_id: string;
  rows_in: number | null;
  rows_accepted: number | null;
  rejected: number | null;
  missing_sessions: number | null;
  first: string | null;
  last: string | null;
}

const optNum = (v: unknown): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;
const optStr = (v: unknown): string | null => (typeof v === "string" && v ? v : null);

/** The instruments of an update's report (the schema types it as a free-form object). */
export function updateReportRows(
  report: Record<string, unknown> | null | undefined,
): UpdatedInstrument[] {
  const list = report?.instruments;
  if (!Array.isArray(list)) return [];
  return list.flatMap((item): UpdatedInstrument[] => {
    if (!item || typeof item !== "object") return [];
    const o = item as Record<string, unknown>;
    const id = optStr(o.order_book_id);
    if (!id) return [];
    return [
      {
        order_book_id: id,
        rows_in: optNum(o.rows_in),
        rows_accepted: optNum(o.rows_accepted),
        rejected: optNum(o.rejected),
        missing_sessions: optNum(o.missing_sessions),
        first: optStr(o.first),
        last: optStr(o.last),
      },
    ];
  });
}

/** A-share board names (`InstrumentStats.board_type`). */
export const BOARD_LABELS: Record<string, string> = {
  MainBoard: "Main board",
  GEM: "ChiNext (GEM)",
  KSH: "STAR (KSH)",
  BJS: "Beijing (BJS)",
};

/** A period under special treatment, as text ("2009-01-05 → 2010-12-31", "since 2024-05-06"). */
export function stPeriodText(p: { start: string; end: string | null }): string {
  return p.end ? `${p.start} → ${p.end}` : `since ${p.start}`;
}

/** A tag for ST periods: "ST 2009–2010", "ST since 2024", "+1" per further period. */
export function stShort(periods: readonly { start: string; end: string | null }[]): string {
  const last = periods.at(-1);
  if (!last) return "";
  const from = last.start.slice(0, 4);
  const span =
    last.end === null
      ? `since ${from}`
      : from === last.end.slice(0, 4)
        ? from
        : `${from}–${last.end.slice(0, 4)}`;
  return `ST ${span}${periods.length > 1 ? ` +${periods.length - 1}` : ""}`;
}

/** Whether an instrument is under special treatment on `day` (YYYY-MM-DD). */
export function isStOn(
  periods: readonly { start: string; end: string | null }[],
  day: string,
): boolean {
  return periods.some((p) => p.start <= day && (p.end === null || day <= p.end));
}
