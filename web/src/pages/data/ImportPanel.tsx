/**
 * The import of a file of daily bars (`POST /api/data/import`, admins): choose a CSV or Parquet
 * file and its reference fields, Preview (a dry run: the validation report, nothing written),
 * map the file's columns onto the catalog's when they are not recognised, then Import.
 */
import { type DragEvent, useMemo, useRef, useState } from "react";
import { api, type Schemas, unwrapData } from "../../api/client";
import { Empty } from "../../components/ui";
import { bytes } from "../../lib/format";
import {
  autoMapping,
  CATALOG_COLUMNS,
  type CatalogColumn,
  COLUMN_HINTS,
  catalogMapping,
  csvHeader,
  DEFAULT_OPTIONS,
  type ImportFailure,
  type ImportOptions,
  importFailure,
  importFormData,
  isParquet,
  type Mapping,
  mappingJson,
  mappingProblems,
  optionProblems,
  REQUIRED_COLUMNS,
  type UploadResult,
} from "../../lib/upload";
import { ImportReport } from "./ImportReport";

/** What the last Preview or Import gave, and for which form. */
export interface ImportOutcome {
  kind: "preview" | "import";
  report: UploadResult | null;
  failure: ImportFailure | null;
  /** The form it was for (`formKey`): the report is stale once the form changed. */
  key: string;
}

/** Bytes read off a CSV file for its header line. */
const HEAD_BYTES = 64 * 1024;

async function readColumns(file: File): Promise<{ columns: string[]; parquet: boolean }> {
  const head = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  if (isParquet(head)) return { columns: [], parquet: true };
  return { columns: csvHeader(new TextDecoder().decode(head)), parquet: false };
}

export function ImportPanel({
  isAdmin,
  onImported,
  onOpen,
}: {
  isAdmin: boolean;
  onImported: () => void;
  onOpen: (orderBookId: string) => void;
}) {
  const [file, setFile] = useState<File | null>(null);
  const [parquet, setParquet] = useState(false);
  /** The file's columns as read here (a CSV's header), before the server answered. */
  const [localColumns, setLocalColumns] = useState<string[]>([]);
  /** The file's columns as the server read them (a report's `columns`, an error's message). */
  const [serverColumns, setServerColumns] = useState<string[] | null>(null);
  const [options, setOptions] = useState<ImportOptions>(DEFAULT_OPTIONS);
  const [mapping, setMapping] = useState<Mapping>({});
  const [mappingTouched, setMappingTouched] = useState(false);
  const [showMapping, setShowMapping] = useState(false);
  const [busy, setBusy] = useState<"preview" | "import" | null>(null);
  const [outcome, setOutcome] = useState<ImportOutcome | null>(null);
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const picks = useRef(0);

  const columns = serverColumns ?? localColumns;
  const problems = useMemo(() => mappingProblems(mapping, columns), [mapping, columns]);
  const fieldProblems = optionProblems(options);
  const keyOf = (m: Mapping) =>
    JSON.stringify([file?.name, file?.size, file?.lastModified, options, mappingJson(m)]);
  const formKey = keyOf(mapping);
  const stale = outcome !== null && outcome.key !== formKey;

  if (!isAdmin) {
    return (
      <div className="panel">
        <Empty title="Importing data is for admins">
          <p>
            The catalog is shared by every user, so only admins add or replace bars. Ask an admin,
            or use <code>quantdesk data import</code> on a catalog of your own.
          </p>
        </Empty>
      </div>
    );
  }

  const pick = async (chosen: File) => {
    const mine = ++picks.current;
    setFile(chosen);
    setOutcome(null);
    setServerColumns(null);
    setMapping({});
    setMappingTouched(false);
    setShowMapping(false);
    setLocalColumns([]);
    setParquet(false);
    try {
      const read = await readColumns(chosen);
      if (mine !== picks.current) return; // another file was chosen meanwhile
      setLocalColumns(read.columns);
      setParquet(read.parquet);
    } catch {
      /* the server reads it anyway */
    }
  };

  /** The file's columns are known (from the server): pre-fill the mapping unless edited. */
  const learn = (cols: string[], reveal: boolean, applied?: Record<string, string>): Mapping => {
    setServerColumns(cols);
    const server = applied ? catalogMapping(applied) : null;
    const next = mappingTouched ? mapping : (server ?? autoMapping(cols));
    setMapping(next);
    if (reveal) setShowMapping(true);
    return next;
  };

  const submit = async (dryRun: boolean) => {
    if (!file) return;
    const kind = dryRun ? "preview" : "import";
    const mine = picks.current;
    setBusy(kind);
    const form = importFormData(file, file.name, options, mapping, dryRun);
    try {
      const report = await unwrapData(
        api.POST("/api/data/import", {
          // The body is multipart: openapi-fetch passes a FormData through as it is (the
          // schema types the file field as a string).
          body: form as unknown as Schemas["Body_import_data"],
        }),
      );
      if (report.committed) onImported();
      if (mine !== picks.current) return; // another file was chosen meanwhile
      // The report is of the form as sent; the mapping pre-filled from the file's columns
      // (the matches by name) says the same.
      setOutcome({
        kind,
        report,
        failure: null,
        key: keyOf(learn(report.columns, true, report.mapping)),
      });
    } catch (exc) {
      if (mine !== picks.current) return;
      const failure = importFailure(exc);
      let sent = mapping;
      if (failure.report) sent = learn(failure.report.columns, true);
      else if (failure.columns) sent = learn(failure.columns, failure.needsMapping);
      else if (failure.needsMapping) {
        if (!mappingTouched && localColumns.length) {
          sent = autoMapping(localColumns);
          setMapping(sent);
        }
        setShowMapping(true);
      }
      setOutcome({ kind, report: failure.report, failure, key: keyOf(sent) });
    } finally {
      setBusy(null);
    }
  };

  const set = <K extends keyof ImportOptions>(key: K, value: ImportOptions[K]) =>
    setOptions((prev) => ({ ...prev, [key]: value }));

  const onDrop = (e: DragEvent<HTMLElement>) => {
    e.preventDefault();
    setDragging(false);
    const dropped = e.dataTransfer.files[0];
    if (dropped) void pick(dropped);
  };

  const blocked =
    !file ||
    busy !== null ||
    problems.duplicates.length > 0 ||
    Object.keys(fieldProblems).length > 0;
  const mappingVisible = showMapping && !!file;

  return (
    <div className="import-layout">
      <div className="import-side">
        <div className="panel" data-testid="import-form">
          <div className="panel-head">
            <h2>Import daily bars</h2>
            <span className="subtle">admins</span>
          </div>
          <div className="panel-body import-form">
            <label
              className={`dropzone${dragging ? " over" : ""}${file ? " has-file" : ""}`}
              onDragOver={(e) => {
                e.preventDefault();
                setDragging(true);
              }}
              onDragLeave={() => setDragging(false)}
              onDrop={onDrop}
            >
              <input
                ref={input}
                type="file"
                accept=".csv,.txt,.tsv,.parquet,.pq,text/csv"
                onChange={(e) => {
                  const chosen = e.target.files?.[0];
                  if (chosen) void pick(chosen);
                  e.target.value = "";
                }}
                data-testid="import-file"
              />
              {file ? (
                <span className="dropzone-file">
                  <span className="file-icon" aria-hidden="true">
                    {parquet ? "PQ" : "CSV"}
                  </span>
                  <span className="grow">
                    <span className="strong file-name" data-testid="import-file-name">
                      {file.name}
                    </span>
                    <span className="hint">
                      {bytes(file.size)}
                      {localColumns.length > 0 && ` · ${localColumns.length} columns`}
                      {" · click or drop to replace"}
                    </span>
                  </span>
                </span>
              ) : (
                <span className="dropzone-empty">
                  <span className="strong">Choose a file</span>
                  <span className="hint">
                    or drop it here · CSV or Parquet, one instrument or many
                  </span>
                </span>
              )}
            </label>

            <div className="import-fields">
              <label className="field span-2">
                <span>Instrument id</span>
                <input
                  name="order_book_id"
                  value={options.orderBookId}
                  placeholder="one-instrument file: AAPL"
                  title="the id of a file of one instrument (without an id column)"
                  className={fieldProblems.orderBookId ? "invalid" : undefined}
                  onChange={(e) => set("orderBookId", e.target.value)}
                />
                {fieldProblems.orderBookId && (
                  <span className="field-error">{fieldProblems.orderBookId}</span>
                )}
              </label>
              <label className="field span-2">
                <span>Name</span>
                <input
                  name="name"
                  value={options.name}
                  placeholder="optional"
                  className={fieldProblems.name ? "invalid" : undefined}
                  onChange={(e) => set("name", e.target.value)}
                />
              </label>
              <label className="field">
                <span>Market</span>
                <select
                  name="market"
                  value={options.market}
                  title="auto: from an A-share suffix (.XSHG, .XSHE, .BJSE), else US"
                  onChange={(e) => set("market", e.target.value as ImportOptions["market"])}
                >
                  <option value="">auto</option>
                  <option value="us">US</option>
                  <option value="cn">China A</option>
                </select>
              </label>
              <label className="field">
                <span>Type</span>
                <select
                  name="type"
                  value={options.type}
                  title="auto: stock"
                  onChange={(e) => set("type", e.target.value as ImportOptions["type"])}
                >
                  <option value="">auto</option>
                  <option value="CS">Stock</option>
                  <option value="INDX">Index</option>
                  <option value="ETF">ETF</option>
                </select>
              </label>
              <label className="field">
                <span>Lot size</span>
                <input
                  name="lot_size"
                  inputMode="numeric"
                  value={options.lotSize}
                  placeholder="auto"
                  title="auto: 100 for A-share stocks, else 1"
                  className={fieldProblems.lotSize ? "invalid" : undefined}
                  onChange={(e) => set("lotSize", e.target.value)}
                />
              </label>
              <label className="field">
                <span>Board</span>
                <select
                  name="board"
                  value={options.board}
                  title="A-shares; auto: from the code"
                  onChange={(e) => set("board", e.target.value as ImportOptions["board"])}
                >
                  <option value="">auto</option>
                  <option value="MainBoard">Main</option>
                  <option value="GEM">ChiNext</option>
                  <option value="KSH">STAR</option>
                  <option value="BJS">Beijing</option>
                </select>
              </label>
            </div>
            {fieldProblems.lotSize && (
              <span className="field-error">Lot size: {fieldProblems.lotSize}</span>
            )}
            <p className="hint">
              <strong>auto</strong>: an instrument already in the catalog keeps its reference data;
              a new one takes it from its id (A-share suffix, board from the code).
            </p>

            <label className="check-row">
              <input
                type="checkbox"
                name="strict"
                checked={options.strict}
                onChange={(e) => set("strict", e.target.checked)}
              />
              <span>
                <span className="strong">Strict</span>
                <span className="hint block">
                  {options.strict
                    ? "Any invalid row refuses the whole file; nothing changes."
                    : "Valid rows are imported; invalid ones are skipped and reported."}
                </span>
              </span>
            </label>

            <div className="import-actions">
              <button
                type="button"
                disabled={blocked}
                onClick={() => void submit(true)}
                data-testid="import-preview"
                title="validate and report; nothing is written"
              >
                {busy === "preview" ? "Checking…" : "Preview"}
              </button>
              <button
                type="button"
                className="primary"
                disabled={blocked}
                onClick={() => void submit(false)}
                data-testid="import-commit"
                title="validate and write the accepted rows to the catalog"
              >
                {busy === "import" ? "Importing…" : "Import"}
              </button>
              <span className="grow" />
              {file && !mappingVisible && (
                <button
                  type="button"
                  className="ghost small"
                  onClick={() => {
                    if (!mappingTouched && columns.length) setMapping(autoMapping(columns));
                    setShowMapping(true);
                  }}
                  data-testid="show-mapping"
                >
                  Map columns…
                </button>
              )}
            </div>
          </div>
        </div>

        {mappingVisible && (
          <MappingPanel
            columns={columns}
            fromServer={serverColumns !== null}
            mapping={mapping}
            missing={outcome?.failure?.missing ?? []}
            problems={problems}
            onChange={(col, value) => {
              setMapping((prev) => ({ ...prev, [col]: value }));
              setMappingTouched(true);
            }}
            onReset={() => {
              setMapping(autoMapping(columns));
              setMappingTouched(false);
            }}
            onHide={() => setShowMapping(false)}
          />
        )}
      </div>

      <div className="import-main">
        {outcome ? (
          <ImportReport outcome={outcome} stale={stale} busy={busy !== null} onOpen={onOpen} />
        ) : (
          <div className="panel">
            <Empty title={file ? "Preview the file" : "No file yet"}>
              <p>
                {file
                  ? "Preview checks every row against the import rules and reports what would be imported, without writing anything."
                  : "Choose a CSV or Parquet file of daily bars: columns date, open, high, low, close, volume (and optionally adj_close, limit_up, limit_down, order_book_id). Common names such as Date, Adj Close, trade_date or 日期/开盘/收盘 are recognised."}
              </p>
              {!file && (
                <button type="button" onClick={() => input.current?.click()}>
                  Choose a file…
                </button>
              )}
            </Empty>
          </div>
        )}
      </div>
    </div>
  );
}

function MappingPanel({
  columns,
  fromServer,
  mapping,
  missing,
  problems,
  onChange,
  onReset,
  onHide,
}: {
  columns: string[];
  fromServer: boolean;
  mapping: Mapping;
  missing: CatalogColumn[];
  problems: ReturnType<typeof mappingProblems>;
  onChange: (column: CatalogColumn, value: string) => void;
  onReset: () => void;
  onHide: () => void;
}) {
  const auto = autoMapping(columns);
  const dup = new Set(problems.duplicates.flatMap((d) => d.targets));
  const unmatched = new Set<CatalogColumn>([...problems.missing, ...missing]);
  const used = new Set(Object.values(mapping).filter(Boolean));
  const unusedFile = columns.filter((c) => !used.has(c));
  return (
    <div className="panel" data-testid="column-mapping">
      <div className="panel-head">
        <h2>Column mapping</h2>
        <span className="subtle">
          {columns.length ? `${columns.length} columns in the file` : "file columns unknown"}
        </span>
        <span className="grow" />
        <button type="button" className="ghost small" onClick={onReset} title="the matches by name">
          Reset
        </button>
        <button type="button" className="ghost small" onClick={onHide} aria-label="hide mapping">
          ✕
        </button>
      </div>
      <div className="panel-body">
        <p className="hint mapping-intro">
          {fromServer
            ? "Which of the file's columns holds each catalog column. Pre-filled with the matches by name; change any, then Preview again."
            : "Read from the file's first line. Pick the column that holds each catalog column, then Preview."}
        </p>
        <div className="mapping-grid">
          {CATALOG_COLUMNS.map((c) => {
            const required = REQUIRED_COLUMNS.includes(c);
            const value = mapping[c] ?? "";
            const bad = dup.has(c) || (required && !value && unmatched.has(c));
            return (
              <div key={c} className="mapping-row">
                <span className="mapping-target" title={COLUMN_HINTS[c]}>
                  <span className="mono">
                    {c}
                    {required && <span className="req">*</span>}
                  </span>
                  <span className="hint">{COLUMN_HINTS[c]}</span>
                </span>
                <span className="mapping-arrow" aria-hidden="true">
                  ←
                </span>
                {columns.length ? (
                  <select
                    name={`map-${c}`}
                    aria-label={`file column for ${c}`}
                    value={value}
                    className={bad ? "invalid" : undefined}
                    onChange={(e) => onChange(c, e.target.value)}
                  >
                    <option value="">
                      {required ? "— choose a column —" : "— not in the file —"}
                    </option>
                    {columns.map((col) => (
                      <option key={col} value={col}>
                        {col}
                        {auto[c] === col ? " (by name)" : ""}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    name={`map-${c}`}
                    aria-label={`file column for ${c}`}
                    value={value}
                    placeholder={required ? "the file's column name" : "optional"}
                    className={bad ? "invalid" : undefined}
                    onChange={(e) => onChange(c, e.target.value)}
                  />
                )}
              </div>
            );
          })}
        </div>
        {problems.duplicates.map((d) => (
          <div key={d.column} className="field-error">
            “{d.column}” is chosen for {d.targets.join(" and ")}: a column maps to one catalog
            column.
          </div>
        ))}
        {problems.missing.length > 0 && (
          <div className="field-error" data-testid="mapping-missing">
            Required, not found in the file: {problems.missing.join(", ")}.
          </div>
        )}
        {unusedFile.length > 0 && columns.length > 0 && (
          <p className="hint">Not imported: {unusedFile.join(", ")}</p>
        )}
      </div>
    </div>
  );
}
