/**
 * The admin import of a membership file (`POST /api/data/indexes/import`): the file, the
 * fields of a one-composition file, strict, the column mapping; Preview, then Import, with the
 * report (`IndexImportReport`).
 */
import { type DragEvent, useRef, useState } from "react";
import { api, type Schemas, unwrapData } from "../../api/client";
import { bytes } from "../../lib/format";
import {
  DEFAULT_INDEX_OPTIONS,
  INDEX_COLUMN_HINTS,
  INDEX_COLUMNS,
  type IndexColumn,
  type IndexImportFailure,
  type IndexImportOptions,
  type IndexMapping,
  type IndexUploadResult,
  indexImportFailure,
  indexImportFormData,
  indexImportKey,
  indexMappingOf,
  indexOptionProblems,
} from "../../lib/indexes";
import { csvHeader, isParquet } from "../../lib/upload";
import { IndexImportReport } from "./IndexImportReport";

/** What the last Preview or Import gave, and for which form. */
export interface IndexOutcome {
  kind: "preview" | "import";
  report: IndexUploadResult | null;
  failure: IndexImportFailure | null;
  /** The form it was for: the report is stale once the form changed. */
  key: string;
}

/** Bytes read off a CSV file for its header line. */
const HEAD_BYTES = 64 * 1024;

export function IndexImport({
  onImported,
  onShow,
  known,
}: {
  onImported: () => void;
  onShow: (indexId: string) => void;
  /** The indexes listed (a report links those). */
  known: ReadonlySet<string>;
}) {
  const [file, setFile] = useState<File | null>(null);
  const [parquet, setParquet] = useState(false);
  const [localColumns, setLocalColumns] = useState<string[]>([]);
  const [serverColumns, setServerColumns] = useState<string[] | null>(null);
  const [options, setOptions] = useState<IndexImportOptions>(DEFAULT_INDEX_OPTIONS);
  const [mapping, setMapping] = useState<IndexMapping>({});
  const [mappingTouched, setMappingTouched] = useState(false);
  const [showMapping, setShowMapping] = useState(false);
  const [busy, setBusy] = useState<"preview" | "import" | null>(null);
  const [outcome, setOutcome] = useState<IndexOutcome | null>(null);
  const [dragging, setDragging] = useState(false);
  const picks = useRef(0);

  const columns = serverColumns ?? localColumns;
  const problems = indexOptionProblems(options);
  const keyOf = (m: IndexMapping) => indexImportKey(file, options, m);
  const stale = outcome !== null && outcome.key !== keyOf(mapping);

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
      const head = new Uint8Array(await chosen.slice(0, HEAD_BYTES).arrayBuffer());
      if (mine !== picks.current) return; // another file was chosen meanwhile
      if (isParquet(head)) setParquet(true);
      else setLocalColumns(csvHeader(new TextDecoder().decode(head)));
    } catch {
      /* the server reads it anyway */
    }
  };

  const submit = async (dryRun: boolean) => {
    if (!file) return;
    const kind = dryRun ? "preview" : "import";
    const mine = picks.current;
    setBusy(kind);
    const form = indexImportFormData(file, file.name, options, mapping, dryRun);
    let sent = mapping;
    try {
      const report = await unwrapData(
        api.POST("/api/data/indexes/import", {
          // The body is multipart: openapi-fetch passes a FormData through as it is (the
          // schema types the file field as a string).
          body: form as unknown as Schemas["Body_import_index"],
        }),
      );
      if (report.committed) onImported();
      if (mine !== picks.current) return;
      setServerColumns(report.columns);
      if (!mappingTouched) {
        sent = indexMappingOf(report.mapping);
        setMapping(sent);
      }
      setOutcome({ kind, report, failure: null, key: keyOf(sent) });
    } catch (exc) {
      if (mine !== picks.current) return;
      const failure = indexImportFailure(exc);
      if (failure.columns) setServerColumns(failure.columns);
      if (failure.report && !mappingTouched) {
        sent = indexMappingOf(failure.report.mapping);
        setMapping(sent);
      }
      if (failure.missing.length) setShowMapping(true);
      setOutcome({ kind, report: failure.report, failure, key: keyOf(sent) });
    } finally {
      setBusy(null);
    }
  };

  const set = <K extends keyof IndexImportOptions>(key: K, value: IndexImportOptions[K]) =>
    setOptions((prev) => ({ ...prev, [key]: value }));

  const onDrop = (e: DragEvent<HTMLElement>) => {
    e.preventDefault();
    setDragging(false);
    const dropped = e.dataTransfer.files[0];
    if (dropped) void pick(dropped);
  };

  const blocked = !file || busy !== null || Object.keys(problems).length > 0;
  const missing = new Set<IndexColumn>(outcome?.failure?.missing ?? []);

  return (
    <div className="index-import">
      <div className="panel" data-testid="index-import-form">
        <div className="panel-head">
          <h2>Import membership</h2>
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
              type="file"
              accept=".csv,.txt,.tsv,.parquet,.pq,text/csv"
              aria-label="membership file"
              onChange={(e) => {
                const chosen = e.target.files?.[0];
                if (chosen) void pick(chosen);
                e.target.value = "";
              }}
              data-testid="index-import-file"
            />
            {file ? (
              <span className="dropzone-file">
                <span className="file-icon" aria-hidden="true">
                  {parquet ? "PQ" : "CSV"}
                </span>
                <span className="grow">
                  <span className="strong file-name" data-testid="index-import-file-name">
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
                <span className="strong">Choose a membership file</span>
                <span className="hint">or drop it here · CSV or Parquet</span>
              </span>
            )}
          </label>
          <p className="hint">
            Compositions: <code>index_id, date, order_book_id[, weight]</code> (Tushare's{" "}
            <code>index_code, con_code, trade_date, weight</code> too); or stays:{" "}
            <code>index_id, order_book_id, start_date[, end_date]</code>. A composition replaces a
            stored one of the same index and date.
          </p>

          <div className="form-grid">
            <label className="field">
              <span>Index id</span>
              <input
                name="index_id"
                value={options.indexId}
                placeholder="no column: 000300.XSHG"
                title="the index of a file without an index_id column"
                className={problems.indexId ? "invalid" : undefined}
                onChange={(e) => set("indexId", e.target.value)}
              />
              {problems.indexId && <span className="field-error">{problems.indexId}</span>}
            </label>
            <label className="field">
              <span>Date</span>
              <input
                type="date"
                name="date"
                value={options.date}
                title="the date of a file of one composition without a date column"
                className={problems.date ? "invalid" : undefined}
                onChange={(e) => set("date", e.target.value)}
              />
              {problems.date && <span className="field-error">{problems.date}</span>}
            </label>
          </div>
          <p className="hint">
            For a file of one composition without these columns; blank otherwise.
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

          {showMapping && file && (
            <div className="index-mapping" data-testid="index-mapping">
              <div className="row">
                <span className="strong grow">Column mapping</span>
                <button
                  type="button"
                  className="ghost small"
                  onClick={() => setShowMapping(false)}
                  aria-label="hide mapping"
                >
                  ✕
                </button>
              </div>
              <p className="hint">
                Which of the file's columns holds each one; blank: by its usual names.
              </p>
              <div className="mapping-grid">
                {INDEX_COLUMNS.map((c) => (
                  <div key={c} className="mapping-row">
                    <span className="mapping-target" title={INDEX_COLUMN_HINTS[c]}>
                      <span className="mono">{c}</span>
                      <span className="hint">{INDEX_COLUMN_HINTS[c]}</span>
                    </span>
                    <span className="mapping-arrow" aria-hidden="true">
                      ←
                    </span>
                    {columns.length ? (
                      <select
                        name={`map-${c}`}
                        aria-label={`file column for ${c}`}
                        value={mapping[c] ?? ""}
                        className={missing.has(c) && !mapping[c] ? "invalid" : undefined}
                        onChange={(e) => {
                          setMapping((prev) => ({ ...prev, [c]: e.target.value }));
                          setMappingTouched(true);
                        }}
                      >
                        <option value="">— by name —</option>
                        {columns.map((col) => (
                          <option key={col} value={col}>
                            {col}
                          </option>
                        ))}
                      </select>
                    ) : (
                      <input
                        name={`map-${c}`}
                        aria-label={`file column for ${c}`}
                        value={mapping[c] ?? ""}
                        placeholder="by name"
                        className={missing.has(c) && !mapping[c] ? "invalid" : undefined}
                        onChange={(e) => {
                          setMapping((prev) => ({ ...prev, [c]: e.target.value }));
                          setMappingTouched(true);
                        }}
                      />
                    )}
                  </div>
                ))}
              </div>
            </div>
          )}

          <div className="import-actions">
            <button
              type="button"
              disabled={blocked}
              onClick={() => void submit(true)}
              data-testid="index-import-preview"
              title="validate and report; nothing is written"
            >
              {busy === "preview" ? "Checking…" : "Preview"}
            </button>
            <button
              type="button"
              className="primary"
              disabled={blocked}
              onClick={() => void submit(false)}
              data-testid="index-import-commit"
              title="validate and write the compositions to the catalog"
            >
              {busy === "import" ? "Importing…" : "Import"}
            </button>
            <span className="grow" />
            {file && !showMapping && (
              <button
                type="button"
                className="ghost small"
                onClick={() => setShowMapping(true)}
                data-testid="index-show-mapping"
              >
                Map columns…
              </button>
            )}
          </div>
        </div>
      </div>

      {outcome && (
        <IndexImportReport
          outcome={outcome}
          stale={stale}
          busy={busy !== null}
          known={known}
          onShow={onShow}
        />
      )}
    </div>
  );
}
