/**
 * Pure helpers of the Data page's index membership: the import of a membership file
 * (`POST /api/data/indexes/import`: the multipart form, its failures, the report's summary),
 * the members of a day and the changes between compositions (`GET /api/data/indexes/...`),
 * and the index options of a source update.
 */
import { ApiError, type Schemas } from "../api/client";
import { columnsFromMessage } from "./upload";

export type IndexSummary = Schemas["IndexSummaryView"];
export type IndexComponents = Schemas["IndexComponents"];
export type IndexChange = Schemas["IndexChange"];
export type IndexSpell = Schemas["IndexSpell"];
export type IndexUploadResult = Schemas["IndexUploadResult"];
export type ImportedIndex = Schemas["ImportedIndex"];
export type RejectedLine = Schemas["RejectedLine"];

/** The columns of a membership file (`quantdesk.data.index_files.INDEX_ALIASES`), in order. */
export const INDEX_COLUMNS = [
  "index_id",
  "order_book_id",
  "date",
  "weight",
  "start_date",
  "end_date",
] as const;
export type IndexColumn = (typeof INDEX_COLUMNS)[number];

/** What each column of a membership file holds (the mapping form's hints). */
export const INDEX_COLUMN_HINTS: Record<IndexColumn, string> = {
  index_id: "the index (or the Index id field)",
  order_book_id: "a member",
  date: "composition date (or the Date field)",
  weight: "weight in percent",
  start_date: "spells: first day in the index",
  end_date: "spells: last day (empty: still in)",
};

/** `{file column}` per membership column; an empty entry leaves it to the server's names. */
export type IndexMapping = Partial<Record<IndexColumn, string>>;

/** The import form's fields besides the file ("" = not given). */
export interface IndexImportOptions {
  /** The index of a file without an index_id column. */
  indexId: string;
  /** YYYY-MM-DD: the date of a one-composition file without a date column. */
  date: string;
  strict: boolean;
}

export const DEFAULT_INDEX_OPTIONS: IndexImportOptions = { indexId: "", date: "", strict: true };

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Whether `text` is a real day as YYYY-MM-DD. */
export function isIsoDay(text: string): boolean {
  if (!ISO_DAY.test(text)) return false;
  const d = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === text;
}

/** Problems of the options the server would refuse (field → message). */
export function indexOptionProblems(
  options: IndexImportOptions,
): Partial<Record<keyof IndexImportOptions, string>> {
  const problems: Partial<Record<keyof IndexImportOptions, string>> = {};
  const id = options.indexId.trim();
  if (id.length > 32) problems.indexId = "at most 32 characters";
  else if (/\s/.test(id)) problems.indexId = "no spaces";
  const date = options.date.trim();
  if (date && !isIsoDay(date)) problems.date = "a date, YYYY-MM-DD";
  return problems;
}

/** The mapping's chosen entries as the form field's JSON (`undefined`: nothing chosen). */
export function indexMappingJson(mapping: IndexMapping): string | undefined {
  const chosen: Record<string, string> = {};
  for (const c of INDEX_COLUMNS) {
    const value = mapping[c]?.trim();
    if (value) chosen[c] = value;
  }
  return Object.keys(chosen).length ? JSON.stringify(chosen) : undefined;
}

/**
 * What a Preview or Import was for (the file, the fields, the chosen mapping), as a string to
 * compare: a report is out of date once the form's key changed.
 */
export function indexImportKey(
  file: { name: string; size: number; lastModified: number } | null,
  options: IndexImportOptions,
  mapping: IndexMapping,
): string {
  return JSON.stringify([
    file?.name,
    file?.size,
    file?.lastModified,
    options,
    indexMappingJson(mapping),
  ]);
}

/** The mapping the server applied (`IndexUploadResult.mapping`) as a form mapping. */
export function indexMappingOf(applied: Record<string, string>): IndexMapping {
  const known = new Set<string>(INDEX_COLUMNS);
  const out: IndexMapping = {};
  for (const [ours, theirs] of Object.entries(applied)) {
    if (known.has(ours)) out[ours as IndexColumn] = theirs;
  }
  return out;
}

/**
 * The multipart body of `POST /api/data/indexes/import`: the file, the given fields (blank
 * ones left out, so the server reads them from the file), the chosen mapping, `strict` and
 * `dry_run`.
 */
export function indexImportFormData(
  file: Blob,
  filename: string,
  options: IndexImportOptions,
  mapping: IndexMapping,
  dryRun: boolean,
): FormData {
  const form = new FormData();
  form.append("file", file, filename);
  const indexId = options.indexId.trim();
  if (indexId) form.append("index_id", indexId);
  const date = options.date.trim();
  if (date) form.append("date", date);
  const json = indexMappingJson(mapping);
  if (json) form.append("mapping", json);
  form.append("strict", options.strict ? "true" : "false");
  form.append("dry_run", dryRun ? "true" : "false");
  return form;
}

/** A failed membership import, as the page shows it. */
export interface IndexImportFailure {
  message: string;
  /** `DATA_INVALID`, `PAYLOAD_TOO_LARGE`, `FORBIDDEN`, `NETWORK`... */
  code: string;
  status: number;
  /** The report of a refused file (strict and a row rejected, or no valid row). */
  report: IndexUploadResult | null;
  /** The membership columns the server said are missing. */
  missing: IndexColumn[];
  /** The file's columns, when the server named them. */
  columns: string[] | null;
}

function isIndexUploadResult(v: unknown): v is IndexUploadResult {
  return (
    !!v &&
    typeof v === "object" &&
    Array.isArray((v as IndexUploadResult).indexes) &&
    Array.isArray((v as IndexUploadResult).rejected) &&
    typeof (v as IndexUploadResult).layout === "string"
  );
}

/** The missing columns a "missing column(s) order_book_id, date (…)" answer names. */
function missingIndexColumns(data: unknown, message: string): IndexColumn[] {
  const known = new Set<string>(INDEX_COLUMNS);
  let names: string[] = [];
  if (data && typeof data === "object" && Array.isArray((data as { missing?: unknown }).missing)) {
    names = (data as { missing: unknown[] }).missing.map(String);
  } else {
    const m = /missing column\(s\) ([^(;]*)/.exec(message);
    if (m?.[1]) names = m[1].split(",").map((c) => c.trim());
  }
  return names.filter((c): c is IndexColumn => known.has(c));
}

/** A membership import's error (`ApiError` or anything thrown) as an `IndexImportFailure`. */
export function indexImportFailure(exc: unknown): IndexImportFailure {
  const status = exc instanceof ApiError ? exc.status : 0;
  const code = exc instanceof ApiError ? exc.code : "ERROR";
  const data = exc instanceof ApiError ? exc.data : undefined;
  let message = exc instanceof Error ? exc.message : String(exc);
  if (status === 413) message = `The file is too large for the server: ${message}`;
  else if (status === 403) message = `Only admins import index membership: ${message}`;
  const report = isIndexUploadResult(data) ? data : null;
  let columns: string[] | null = null;
  if (data && typeof data === "object" && Array.isArray((data as { columns?: unknown }).columns)) {
    columns = (data as { columns: unknown[] }).columns.map(String);
  } else if (!report) {
    columns = columnsFromMessage(message);
  }
  return {
    message,
    code,
    status,
    report,
    missing: report ? [] : missingIndexColumns(data, message),
    columns: report ? report.columns : columns,
  };
}

/** The numbers and verdict of a membership report, for its banner and figures. */
export interface IndexReportSummary {
  compositions: number;
  indexes: number;
  rowsIn: number;
  accepted: number;
  rejected: number;
  /** ok: every row valid; partial: some rows left out; refused: nothing written. */
  verdict: "ok" | "partial" | "refused";
  /** The banner's tone: ok once imported, then by the verdict (info: a clean preview). */
  tone: "ok" | "error" | "warn" | "info";
  headline: string;
}

/** "1 index", "3 compositions" (`many` for an irregular plural). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** The summary of a membership import's report (a preview's, a commit's, a refused file's). */
export function summarizeIndexReport(report: IndexUploadResult): IndexReportSummary {
  const compositions = report.indexes.reduce((n, i) => n + i.compositions, 0);
  const rejected = report.rejected_total;
  const what = `${plural(compositions, "composition")} of ${plural(report.indexes.length, "index", "indexes")}`;
  const skipped = rejected ? ` (${plural(rejected, "rejected row")} left out)` : "";
  let verdict: IndexReportSummary["verdict"];
  if (report.refused) verdict = "refused";
  else if (rejected > 0) verdict = "partial";
  else verdict = "ok";
  let headline: string;
  if (verdict === "refused") headline = "Refused: nothing was imported.";
  else if (report.committed) headline = `Imported ${what}${skipped}.`;
  else if (verdict === "ok")
    headline = `Preview: all ${plural(report.rows_in, "row")} are valid: ${what}; nothing written yet.`;
  else
    headline = `Preview: ${report.rows_accepted.toLocaleString("en-US")} of ${plural(report.rows_in, "row")} would give ${what}; nothing written yet.`;
  const tone = report.committed
    ? "ok"
    : verdict === "refused"
      ? "error"
      : verdict === "partial"
        ? "warn"
        : "info";
  return {
    compositions,
    indexes: report.indexes.length,
    rowsIn: report.rows_in,
    accepted: report.rows_accepted,
    rejected,
    verdict,
    tone,
    headline,
  };
}

/** The columns the server renamed, "con_code → order_book_id, …" ("" when none). */
export function renamedColumnsText(mapping: Record<string, string>): string {
  return Object.entries(mapping)
    .filter(([ours, theirs]) => ours !== theirs)
    .map(([ours, theirs]) => `${theirs} → ${ours}`)
    .join(", ");
}

/** The indexes an import wrote that the list has (the report links them), none before. */
export function importedIndexesListed(
  report: IndexUploadResult,
  known: ReadonlySet<string>,
): ImportedIndex[] {
  return report.committed ? report.indexes.filter((i) => known.has(i.index_id)) : [];
}

/** Why a file was refused, without the server's closing "; nothing was imported". */
export function refusalReason(refused: string): string {
  return refused.replace(/;\s*nothing was imported\.?\s*$/, "");
}

/** A rejected line's place: "line 7", or "file" for a rule across rows (line 0). */
export function lineText(line: number): string {
  return line > 0 ? `line ${line}` : "file";
}

/** The first `n` of `ids` and how many more there are. */
export function fewIds(ids: readonly string[], n = 4): { shown: string[]; more: number } {
  // One more than `n` would only say "+1 more": show it instead.
  const cut = ids.length === n + 1 ? n + 1 : n;
  return { shown: ids.slice(0, cut), more: Math.max(0, ids.length - cut) };
}

/** "600000.XSHG, 600036.XSHG +3 more" (the first `n`), "" for none. */
export function fewIdsText(ids: readonly string[], n = 4): string {
  const { shown, more } = fewIds(ids, n);
  return shown.join(", ") + (more ? ` +${more.toLocaleString("en-US")} more` : "");
}

/** One member of a composition, as the members list shows it. */
export interface Member {
  order_book_id: string;
  /** Percent, or null when the composition has none for it. */
  weight: number | null;
  inCatalog: boolean;
}

/** The members of a day with their weights and whether the catalog has them. */
export function membersOf(components: IndexComponents): Member[] {
  const missing = new Set(components.not_in_catalog);
  return components.order_book_ids.map((oid, i) => ({
    order_book_id: oid,
    weight: components.weights?.[i] ?? null,
    inCatalog: !missing.has(oid),
  }));
}

/** Members whose id contains `filter` (case-insensitive), by id or by weight (largest first). */
export function sortMembers(
  members: readonly Member[],
  by: "id" | "weight",
  filter = "",
): Member[] {
  const needle = filter.trim().toUpperCase();
  const out = needle
    ? members.filter((m) => m.order_book_id.toUpperCase().includes(needle))
    : [...members];
  if (by === "weight")
    out.sort(
      (a, b) =>
        (b.weight ?? -1) - (a.weight ?? -1) || a.order_book_id.localeCompare(b.order_book_id),
    );
  return out;
}

/** Stays of members whose id contains `filter` (case-insensitive), in their order. */
export function spellsMatching(spells: readonly IndexSpell[], filter = ""): IndexSpell[] {
  const needle = filter.trim().toUpperCase();
  return spells.filter((s) => !needle || s.order_book_id.toUpperCase().includes(needle));
}

/** The sum of the weights given (percent), or null when none are. */
export function weightTotal(weights: readonly (number | null)[] | null | undefined): number | null {
  const given = (weights ?? []).filter((w): w is number => typeof w === "number");
  return given.length ? given.reduce((a, b) => a + b, 0) : null;
}

/** 1.2345 → "1.23%"; null → "". */
export function weightText(weight: number | null | undefined, digits = 2): string {
  return typeof weight === "number" && Number.isFinite(weight) ? `${weight.toFixed(digits)}%` : "";
}

/** The composition dates before and after `effective` among `dates` (any order). */
export function neighbourDates(
  dates: readonly string[],
  effective: string | null | undefined,
): { previous: string | null; next: string | null } {
  const sorted = [...new Set(dates)].sort();
  if (!effective) return { previous: null, next: null };
  const before = sorted.filter((d) => d < effective);
  const after = sorted.filter((d) => d > effective);
  return { previous: before.at(-1) ?? null, next: after[0] ?? null };
}

/** A-share suffixes: their "today" is Beijing's. */
const CN_SUFFIXES = ["XSHG", "XSHE", "BJSE"];

/**
 * Today's date, YYYY-MM-DD, where `orderBookId` trades (the server's default day): Beijing
 * for an A-share id, New York otherwise.
 */
export function todayIso(orderBookId: string, now: Date = new Date()): string {
  const suffix = (orderBookId.split(".").at(-1) ?? "").toUpperCase();
  const timeZone = CN_SUFFIXES.includes(suffix) ? "Asia/Shanghai" : "America/New_York";
  // en-CA formats dates as YYYY-MM-DD
  return new Intl.DateTimeFormat("en-CA", { timeZone }).format(now);
}

/** Whether a source gives index membership (its `indexes` non-empty). */
export function givesIndexes(source: { indexes?: string[] } | undefined): boolean {
  return (source?.indexes ?? []).length > 0;
}

/** The index ids field's placeholder: the source's indexes, or an example for `["*"]`. */
export function indexPlaceholder(indexes: readonly string[] | undefined): string {
  const list = indexes ?? [];
  if (list.length === 0) return "";
  if (list.includes("*")) return "000300.XSHG";
  return list.join(", ");
}

/** The ids a source does not give membership of (none when it takes any, `["*"]`). */
export function indexesLacking(indexes: readonly string[] | undefined, ids: readonly string[]) {
  const list = indexes ?? [];
  if (list.includes("*")) return [];
  const has = new Set(list);
  return ids.filter((id) => !has.has(id));
}

/** One index of a finished update's report (`report.indexes[]`), read defensively. */
export interface UpdatedIndex {
  index_id: string;
  added: number | null;
  replaced: number | null;
  first: string | null;
  last: string | null;
}

const optNum = (v: unknown): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;
const optStr = (v: unknown): string | null => (typeof v === "string" && v ? v : null);

/** The indexes of an update's report (the schema types it as a free-form object). */
export function updateReportIndexes(
  report: Record<string, unknown> | null | undefined,
): UpdatedIndex[] {
  const list = report?.indexes;
  if (!Array.isArray(list)) return [];
  return list.flatMap((item): UpdatedIndex[] => {
    if (!item || typeof item !== "object") return [];
    const o = item as Record<string, unknown>;
    const id = optStr(o.index_id);
    if (!id) return [];
    return [
      {
        index_id: id,
        added: optNum(o.added),
        replaced: optNum(o.replaced),
        first: optStr(o.first),
        last: optStr(o.last),
      },
    ];
  });
}
