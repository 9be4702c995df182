/**
 * The admin import of a membership file (`POST /api/data/indexes/import`): the file, the
 * fields of a one-composition file, strict, the column mapping; Preview, then Import, with the
 * report (`IndexImportReport`).
 */
import { api, type Schemas, unwrapData } from "../../api/client";
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
import { IndexImportReport } from "./IndexImportReport";
import { FileDropZone, ImportActions, MappingGrid, StrictToggle } from "./importParts";
import { multipart, type Outcome, useImportForm } from "./useImportForm";

/** What the last Preview or Import gave, and for which form. */
export type IndexOutcome = Outcome<IndexUploadResult, IndexImportFailure>;

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
  const form = useImportForm<IndexImportOptions, IndexColumn, IndexOutcome>(DEFAULT_INDEX_OPTIONS);
  const { file, options, set, mapping, columns, busy, outcome } = form;
  const problems = indexOptionProblems(options);
  const keyOf = (m: IndexMapping) => indexImportKey(file, options, m);
  const stale = outcome !== null && outcome.key !== keyOf(mapping);

  const submit = (dryRun: boolean) =>
    form.send(dryRun, {
      request: (chosen) => {
        const body = multipart<Schemas["Body_import_index"]>(
          indexImportFormData(chosen, chosen.name, options, mapping, dryRun),
        );
        return unwrapData(api.POST("/api/data/indexes/import", { body }));
      },
      onImported,
      onReport: (kind, report) => {
        let sent = mapping;
        form.setServerColumns(report.columns);
        if (!form.mappingTouched) {
          sent = indexMappingOf(report.mapping);
          form.setMapping(sent);
        }
        form.setOutcome({ kind, report, failure: null, key: keyOf(sent) });
      },
      onError: (kind, exc) => {
        let sent = mapping;
        const failure = indexImportFailure(exc);
        if (failure.columns) form.setServerColumns(failure.columns);
        if (failure.report && !form.mappingTouched) {
          sent = indexMappingOf(failure.report.mapping);
          form.setMapping(sent);
        }
        if (failure.missing.length) form.setShowMapping(true);
        form.setOutcome({ kind, report: failure.report, failure, key: keyOf(sent) });
      },
    });

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
          <FileDropZone
            {...form.dropZone}
            ariaLabel="membership file"
            testId="index-import-file"
            nameTestId="index-import-file-name"
            emptyTitle="Choose a membership file"
            emptyHint="or drop it here · CSV or Parquet"
          />
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

          <StrictToggle checked={options.strict} onChange={(v) => set("strict", v)} />

          {form.showMapping && file && (
            <div className="index-mapping" data-testid="index-mapping">
              <div className="row">
                <span className="strong grow">Column mapping</span>
                <button
                  type="button"
                  className="ghost small"
                  onClick={() => form.setShowMapping(false)}
                  aria-label="hide mapping"
                >
                  ✕
                </button>
              </div>
              <p className="hint">
                Which of the file's columns holds each one; blank: by its usual names.
              </p>
              <MappingGrid
                targets={INDEX_COLUMNS}
                hints={INDEX_COLUMN_HINTS}
                mapping={mapping}
                columns={columns}
                invalid={(c) => missing.has(c) && !mapping[c]}
                emptyLabel={() => "— by name —"}
                placeholder={() => "by name"}
                onChange={form.editMapping}
              />
            </div>
          )}

          <ImportActions
            blocked={blocked}
            busy={busy}
            onSubmit={submit}
            previewTestId="index-import-preview"
            commitTestId="index-import-commit"
            commitTitle="validate and write the compositions to the catalog"
            onMap={file && !form.showMapping ? () => form.setShowMapping(true) : undefined}
            mapTestId="index-show-mapping"
          />
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
