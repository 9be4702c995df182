/**
 * The import of a file of daily bars (`POST /api/data/import`, admins): choose a CSV or Parquet
 * file and its reference fields, Preview (a dry run: the validation report, nothing written),
 * map the file's columns onto the catalog's when they are not recognised, then Import.
 */
import { useMemo, useRef } from "react";
import { api, type Schemas, unwrapData } from "../../api/client";
import { Empty } from "../../components/ui";
import {
  autoMapping,
  CATALOG_COLUMNS,
  type CatalogColumn,
  COLUMN_HINTS,
  catalogMapping,
  DEFAULT_OPTIONS,
  type ImportFailure,
  type ImportOptions,
  importFailure,
  importFormData,
  type Mapping,
  mappingJson,
  mappingProblems,
  optionProblems,
  REQUIRED_COLUMNS,
  type UploadResult,
} from "../../lib/upload";
import { ImportReport } from "./ImportReport";
import { FileDropZone, ImportActions, MappingGrid, StrictToggle } from "./importParts";
import { multipart, type Outcome, useImportForm } from "./useImportForm";

/** What the last Preview or Import gave, and for which form (`formKey`). */
export type ImportOutcome = Outcome<UploadResult, ImportFailure>;

export function ImportPanel({
  isAdmin,
  onImported,
  onOpen,
}: {
  isAdmin: boolean;
  onImported: () => void;
  onOpen: (orderBookId: string) => void;
}) {
  const form = useImportForm<ImportOptions, CatalogColumn, ImportOutcome>(DEFAULT_OPTIONS);
  const { file, options, set, mapping, columns, busy, outcome } = form;
  const input = useRef<HTMLInputElement>(null);

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

  /** The file's columns are known (from the server): pre-fill the mapping unless edited. */
  const learn = (cols: string[], reveal: boolean, applied?: Record<string, string>): Mapping => {
    form.setServerColumns(cols);
    const server = applied ? catalogMapping(applied) : null;
    const next = form.mappingTouched ? mapping : (server ?? autoMapping(cols));
    form.setMapping(next);
    if (reveal) form.setShowMapping(true);
    return next;
  };

  const submit = (dryRun: boolean) =>
    form.send(dryRun, {
      request: (chosen) => {
        const body = multipart<Schemas["Body_import_data"]>(
          importFormData(chosen, chosen.name, options, mapping, dryRun),
        );
        return unwrapData(api.POST("/api/data/import", { body }));
      },
      onImported,
      // The report is of the form as sent; the mapping pre-filled from the file's columns
      // (the matches by name) says the same.
      onReport: (kind, report) =>
        form.setOutcome({
          kind,
          report,
          failure: null,
          key: keyOf(learn(report.columns, true, report.mapping)),
        }),
      onError: (kind, exc) => {
        const failure = importFailure(exc);
        let sent = mapping;
        if (failure.report) sent = learn(failure.report.columns, true);
        else if (failure.columns) sent = learn(failure.columns, failure.needsMapping);
        else if (failure.needsMapping) {
          if (!form.mappingTouched && form.localColumns.length) {
            sent = autoMapping(form.localColumns);
            form.setMapping(sent);
          }
          form.setShowMapping(true);
        }
        form.setOutcome({ kind, report: failure.report, failure, key: keyOf(sent) });
      },
    });

  const blocked =
    !file ||
    busy !== null ||
    problems.duplicates.length > 0 ||
    Object.keys(fieldProblems).length > 0;
  const mappingVisible = form.showMapping && !!file;

  return (
    <div className="import-layout">
      <div className="import-side">
        <div className="panel" data-testid="import-form">
          <div className="panel-head">
            <h2>Import daily bars</h2>
            <span className="subtle">admins</span>
          </div>
          <div className="panel-body import-form">
            <FileDropZone
              {...form.dropZone}
              inputRef={input}
              testId="import-file"
              nameTestId="import-file-name"
              emptyTitle="Choose a file"
              emptyHint="or drop it here · CSV or Parquet, one instrument or many"
            />

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

            <StrictToggle checked={options.strict} onChange={(v) => set("strict", v)} />

            <ImportActions
              blocked={blocked}
              busy={busy}
              onSubmit={submit}
              previewTestId="import-preview"
              commitTestId="import-commit"
              commitTitle="validate and write the accepted rows to the catalog"
              onMap={
                file && !mappingVisible
                  ? () => {
                      if (!form.mappingTouched && columns.length) {
                        form.setMapping(autoMapping(columns));
                      }
                      form.setShowMapping(true);
                    }
                  : undefined
              }
              mapTestId="show-mapping"
            />
          </div>
        </div>

        {mappingVisible && (
          <MappingPanel
            columns={columns}
            fromServer={form.serverColumns !== null}
            mapping={mapping}
            missing={outcome?.failure?.missing ?? []}
            problems={problems}
            onChange={form.editMapping}
            onReset={() => {
              form.setMapping(autoMapping(columns));
              form.setMappingTouched(false);
            }}
            onHide={() => form.setShowMapping(false)}
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
  const required = (c: CatalogColumn) => REQUIRED_COLUMNS.includes(c);
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
        <MappingGrid
          targets={CATALOG_COLUMNS}
          hints={COLUMN_HINTS}
          mapping={mapping}
          columns={columns}
          required={required}
          invalid={(c) => dup.has(c) || (required(c) && !mapping[c] && unmatched.has(c))}
          emptyLabel={(c) => (required(c) ? "— choose a column —" : "— not in the file —")}
          placeholder={(c) => (required(c) ? "the file's column name" : "optional")}
          byName={autoMapping(columns)}
          onChange={onChange}
        />
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
