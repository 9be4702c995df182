/** The report of a membership import: verdict, figures, indexes, rejected lines, failures. */
import { useState } from "react";
import { int } from "../../lib/format";
import {
  type IndexUploadResult,
  importedIndexesListed,
  lineText,
  refusalReason,
  renamedColumnsText,
  summarizeIndexReport,
} from "../../lib/indexes";
import type { IndexOutcome } from "./IndexImport";

/** Rejected lines shown before "show all". */
const REJECTED_SHOWN = 50;

export function IndexImportReport({
  outcome,
  stale,
  busy,
  known,
  onShow,
}: {
  outcome: IndexOutcome;
  stale: boolean;
  busy: boolean;
  known: ReadonlySet<string>;
  onShow: (indexId: string) => void;
}) {
  const { report, failure, kind } = outcome;
  const title = kind === "preview" ? "Preview" : "Import";
  return (
    <section
      className={`panel import-report${busy ? " busy" : ""}`}
      data-testid="index-import-report"
      aria-label="membership import report"
    >
      <div className="panel-head">
        <h2>{`${title} report`}</h2>
        {report && (
          <span className="subtle">
            {report.format.toUpperCase()} · {report.columns.length} columns
          </span>
        )}
        <span className="grow" />
        {stale && (
          <span className="tag stale-tag" title="the file, fields or mapping changed since">
            out of date
          </span>
        )}
      </div>
      <div className="panel-body">
        {failure && !report && (
          <div className="error-banner" role="alert" data-testid="index-import-error">
            <div className="grow">
              <strong>{kind === "preview" ? "Preview failed" : "Import failed"}</strong>
              <div className="banner-message">{failure.message}</div>
              {failure.missing.length > 0 && (
                <div className="banner-help">
                  Map the file's columns (Column mapping, above), or give the index id and date of a
                  one-composition file, then Preview again.
                </div>
              )}
            </div>
            <span className="code">
              {failure.status ? `HTTP ${failure.status} · ` : ""}
              {failure.code}
            </span>
          </div>
        )}
        {report && <IndexReportBody report={report} known={known} onShow={onShow} />}
      </div>
    </section>
  );
}

function IndexReportBody({
  report,
  known,
  onShow,
}: {
  report: IndexUploadResult;
  known: ReadonlySet<string>;
  onShow: (indexId: string) => void;
}) {
  const s = summarizeIndexReport(report);
  const tone = s.tone;
  const [all, setAll] = useState(false);
  const shown = all ? report.rejected : report.rejected.slice(0, REJECTED_SHOWN);
  const renamed = renamedColumnsText(report.mapping);
  const linkable = importedIndexesListed(report, known);
  return (
    <>
      <div
        className={`verdict ${tone}`}
        role={tone === "error" ? "alert" : "status"}
        data-testid="index-import-verdict"
      >
        <span className="verdict-icon" aria-hidden="true">
          {tone === "ok" ? "✓" : tone === "error" ? "✕" : tone === "warn" ? "!" : "i"}
        </span>
        <div className="grow">
          <div className="strong">{s.headline}</div>
          {report.refused && (
            <div className="verdict-sub" data-testid="index-import-refused">
              {refusalReason(report.refused)}
            </div>
          )}
          {!report.committed && s.verdict !== "refused" && (
            <div className="verdict-sub">Import writes these compositions to the catalog.</div>
          )}
          {linkable.length > 0 && (
            <div className="verdict-links">
              {linkable.slice(0, 6).map((i) => (
                <button
                  key={i.index_id}
                  type="button"
                  className="small"
                  onClick={() => onShow(i.index_id)}
                >
                  Show {i.index_id} →
                </button>
              ))}
            </div>
          )}
        </div>
      </div>

      <div className="stat-strip index-report-strip" data-testid="index-import-figures">
        <Stat label="Layout" value={report.layout} testId="index-import-layout" />
        <Stat label="Rows in file" value={int(s.rowsIn)} />
        <Stat
          label={report.committed ? "Imported" : "Accepted"}
          value={int(s.accepted)}
          tone={s.accepted && !report.refused ? "up" : undefined}
          testId="index-rows-accepted"
        />
        <Stat
          label="Rejected"
          value={int(s.rejected)}
          tone={s.rejected ? "down" : undefined}
          testId="index-rows-rejected"
        />
      </div>
      {renamed && <p className="hint mapping-applied">Columns: {renamed}</p>}

      {report.indexes.length > 0 && (
        <>
          <h3 className="report-title">
            {report.refused ? "Indexes of the valid rows" : "Indexes"}{" "}
            <span className="subtle">({int(report.indexes.length)})</span>
          </h3>
          <div className="table-wrap report-table">
            <table className="grid compact" data-testid="index-import-indexes">
              <thead>
                <tr>
                  <th>Index</th>
                  <th title="compositions in the file: new to the catalog, replacing a stored one of the same date">
                    Compositions
                  </th>
                  <th>Dates</th>
                  <th className="num" title="members of the latest composition in the file">
                    Members
                  </th>
                </tr>
              </thead>
              <tbody>
                {report.indexes.map((i) => (
                  <tr key={i.index_id}>
                    <td className="mono">{i.index_id}</td>
                    <td>
                      <div className="cell-stack">
                        <span className="strong">{int(i.compositions)}</span>
                        <span className="cell-sub">
                          <span className={i.added && !report.refused ? "up" : undefined}>
                            {int(i.added)} new
                          </span>
                          {" · "}
                          <span className={i.replaced && !report.refused ? "warn" : undefined}>
                            {int(i.replaced)} replaced
                          </span>
                        </span>
                      </div>
                    </td>
                    <td>
                      <div className="cell-stack">
                        <span>{i.first}</span>
                        {i.last !== i.first && <span className="cell-sub">→ {i.last}</span>}
                      </div>
                    </td>
                    <td className="num">{int(i.members_latest)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}

      {report.rejected.length > 0 && (
        <>
          <h3 className="report-title">
            Rejected rows{" "}
            <span className="subtle">
              {s.rejected > report.rejected.length
                ? `(first ${int(report.rejected.length)} of ${int(s.rejected)})`
                : `(${int(s.rejected)})`}
            </span>
          </h3>
          <div className="table-wrap report-table rejected-table">
            <table className="grid compact" data-testid="index-import-rejected">
              <thead>
                <tr>
                  <th>Line</th>
                  <th>Reason</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((r, n) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: rules across rows share line 0; the list is read-only.
                  <tr key={n}>
                    <td className="mono">{lineText(r.line)}</td>
                    <td className="reason-cell">{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {report.rejected.length > REJECTED_SHOWN && (
            <button type="button" className="ghost small" onClick={() => setAll(!all)}>
              {all ? "Show fewer" : `Show all ${int(report.rejected.length)}`}
            </button>
          )}
        </>
      )}
    </>
  );
}

function Stat({
  label,
  value,
  tone,
  testId,
}: {
  label: string;
  value: string;
  tone?: "up" | "down";
  testId?: string;
}) {
  return (
    <div className="stat">
      <div className="label">{label}</div>
      <div className={`value${tone ? ` ${tone}` : ""}`} data-testid={testId}>
        {value}
      </div>
    </div>
  );
}
