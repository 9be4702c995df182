/** The validation report of an import: verdict, figures, instruments, rejected rows. */
import { useState } from "react";
import { int } from "../../lib/format";
import {
  firstFew,
  type ImportedInstrument,
  rejectedRows,
  summarizeReport,
  type UploadResult,
} from "../../lib/upload";
import type { ImportOutcome } from "./ImportPanel";

/** Rejected rows shown before "show all". */
const REJECTED_SHOWN = 50;

export function ImportReport({
  outcome,
  stale,
  busy,
  onOpen,
}: {
  outcome: ImportOutcome;
  stale: boolean;
  busy: boolean;
  onOpen: (orderBookId: string) => void;
}) {
  const { report, failure, kind } = outcome;
  const title = kind === "preview" ? "Preview" : "Import";
  return (
    <div className={`panel import-report${busy ? " busy" : ""}`} data-testid="import-report">
      <div className="panel-head">
        <h2>{report?.committed ? "Import report" : `${title} report`}</h2>
        {report && (
          <span className="subtle">
            {report.format.toUpperCase()} · {report.columns.length} columns
          </span>
        )}
        <span className="grow" />
        {stale && (
          <span className="tag stale-tag" title="the file, fields or mapping changed since">
            out of date: preview again
          </span>
        )}
      </div>
      <div className="panel-body">
        {failure && !report && (
          <div className="error-banner" role="alert" data-testid="import-error">
            <div className="grow">
              <strong>{kind === "preview" ? "Preview failed" : "Import failed"}</strong>
              <div className="banner-message">{failure.message}</div>
              {failure.needsMapping && (
                <div className="banner-help">
                  Map the file's columns in the Column mapping panel (under the form), or give the
                  instrument id of a one-instrument file, then Preview again.
                </div>
              )}
            </div>
            <span className="code">
              {failure.status ? `HTTP ${failure.status} · ` : ""}
              {failure.code}
            </span>
          </div>
        )}
        {report && <ReportBody report={report} onOpen={onOpen} />}
      </div>
    </div>
  );
}

function ReportBody({
  report,
  onOpen,
}: {
  report: UploadResult;
  onOpen: (orderBookId: string) => void;
}) {
  const s = summarizeReport(report);
  const tone = report.committed
    ? "ok"
    : s.verdict === "refused" || s.verdict === "empty"
      ? "error"
      : s.verdict === "partial"
        ? "warn"
        : "info";
  const rejected = rejectedRows(report);
  const [all, setAll] = useState(false);
  const shown = all ? rejected : rejected.slice(0, REJECTED_SHOWN);
  const withMissing = report.instruments.filter((i) => i.missing_sessions_total > 0);
  const imported = report.committed
    ? report.instruments.filter((i) => i.error === null && i.rows_accepted > 0)
    : [];
  return (
    <>
      <div
        className={`verdict ${tone}`}
        role={tone === "error" ? "alert" : "status"}
        data-testid="import-verdict"
      >
        <span className="verdict-icon" aria-hidden="true">
          {tone === "ok" ? "✓" : tone === "error" ? "✕" : tone === "warn" ? "!" : "i"}
        </span>
        <div className="grow">
          <div className="strong">{s.headline}</div>
          {!report.committed && s.verdict !== "refused" && s.verdict !== "empty" && (
            <div className="verdict-sub">Import writes the accepted rows to the catalog.</div>
          )}
          {imported.length > 0 && (
            <div className="verdict-links">
              {imported.slice(0, 6).map((i) => (
                <button
                  key={i.order_book_id}
                  type="button"
                  className="small"
                  onClick={() => onOpen(i.order_book_id)}
                >
                  Open {i.order_book_id} →
                </button>
              ))}
            </div>
          )}
        </div>
      </div>

      <div className="stat-strip report-strip" data-testid="import-figures">
        <Stat label="Rows in file" value={int(s.rowsIn)} />
        <Stat
          label={report.committed ? "Imported" : "Accepted"}
          value={int(s.accepted)}
          tone={s.accepted ? "up" : undefined}
          testId="rows-accepted"
        />
        <Stat label="Rejected" value={int(s.rejected)} tone={s.rejected ? "down" : undefined} />
        <Stat
          label="Missing sessions"
          value={int(s.missingSessions)}
          tone={s.missingSessions ? "warn" : undefined}
          title="calendar sessions between the first and last bar without a bar"
        />
        <Stat
          label="Problems"
          value={int(s.failed + s.warnings)}
          tone={s.failed ? "down" : s.warnings ? "warn" : undefined}
          title={`${s.failed} instrument(s) with an error, ${s.warnings} warning(s)`}
        />
      </div>

      <h3 className="report-title">
        Instruments <span className="subtle">({int(s.instruments)})</span>
      </h3>
      <div className="table-wrap report-table">
        <table className="grid compact" data-testid="import-instruments">
          <thead>
            <tr>
              <th>ID</th>
              <th className="num">Rows</th>
              <th className="num">Accepted</th>
              <th className="num">Rejected</th>
              <th className="num" title="calendar sessions without a bar">
                Missing
              </th>
              <th>Range</th>
            </tr>
          </thead>
          <tbody>
            {report.instruments.map((i) => (
              <InstrumentRow
                key={i.order_book_id}
                item={i}
                committed={report.committed}
                onOpen={onOpen}
              />
            ))}
          </tbody>
        </table>
      </div>

      {withMissing.length > 0 && (
        <>
          <h3 className="report-title">Sessions without a bar</h3>
          <ul className="missing-list" data-testid="missing-sessions">
            {withMissing.map((i) => (
              <li key={i.order_book_id}>
                <span className="mono">{i.order_book_id}</span>{" "}
                <span className="warn">{int(i.missing_sessions_total)}</span>
                <span className="subtle">
                  {" "}
                  — {firstFew(i.missing_sessions, i.missing_sessions_total, 6)}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}

      {rejected.length > 0 && (
        <>
          <h3 className="report-title">
            Rejected rows{" "}
            <span className="subtle">
              {s.rejected > rejected.length
                ? `(first ${int(rejected.length)} of ${int(s.rejected)})`
                : `(${int(s.rejected)})`}
            </span>
          </h3>
          <div className="table-wrap report-table rejected-table">
            <table className="grid compact" data-testid="rejected-rows">
              <thead>
                <tr>
                  {report.instruments.length > 1 && <th>Instrument</th>}
                  <th>Date</th>
                  <th>Reason</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((r, n) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: rows may repeat a date; the list is read-only.
                  <tr key={n}>
                    {report.instruments.length > 1 && <td className="mono">{r.order_book_id}</td>}
                    <td className="mono">{r.date}</td>
                    <td className="reason-cell">{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {rejected.length > REJECTED_SHOWN && (
            <button type="button" className="ghost small" onClick={() => setAll(!all)}>
              {all ? "Show fewer" : `Show all ${int(rejected.length)}`}
            </button>
          )}
        </>
      )}
    </>
  );
}

function InstrumentRow({
  item: i,
  committed,
  onOpen,
}: {
  item: ImportedInstrument;
  committed: boolean;
  onOpen: (orderBookId: string) => void;
}) {
  const openable = committed && i.error === null && i.rows_accepted > 0;
  const notes = [
    ...(i.error ? [{ text: i.error, tone: "down" }] : []),
    ...i.warnings.map((w) => ({ text: w, tone: "warn" })),
  ];
  return (
    <>
      <tr className={notes.length ? "has-notes" : undefined}>
        <td className="mono">
          {openable ? (
            <button type="button" className="link-button" onClick={() => onOpen(i.order_book_id)}>
              {i.order_book_id}
            </button>
          ) : (
            i.order_book_id
          )}
        </td>
        <td className="num">{int(i.rows_in)}</td>
        <td className={`num${i.rows_accepted ? " up" : ""}`}>{int(i.rows_accepted)}</td>
        <td className={`num${i.rejected_total ? " down" : ""}`}>{int(i.rejected_total)}</td>
        <td className={`num${i.missing_sessions_total ? " warn" : ""}`}>
          {int(i.missing_sessions_total)}
        </td>
        <td>{i.first ? `${i.first} → ${i.last ?? "…"}` : "—"}</td>
      </tr>
      {notes.length > 0 && (
        <tr className="notes-row">
          <td colSpan={6}>
            {notes.map((n) => (
              <div key={n.text} className={n.tone}>
                {n.tone === "down" ? "✕ " : "! "}
                {n.text}
              </div>
            ))}
          </td>
        </tr>
      )}
    </>
  );
}

function Stat({
  label,
  value,
  tone,
  testId,
  title,
}: {
  label: string;
  value: string;
  tone?: "up" | "down" | "warn";
  testId?: string;
  title?: string;
}) {
  return (
    <div className="stat" title={title}>
      <div className="label">{label}</div>
      <div className={`value${tone ? ` ${tone}` : ""}`} data-testid={testId}>
        {value}
      </div>
    </div>
  );
}
