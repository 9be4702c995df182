/** The validation report of an import: verdict, figures, instruments, rejected rows. */
import { int } from "../../lib/format";
import {
  firstFew,
  type ImportedInstrument,
  rejectedRows,
  summarizeReport,
  type UploadResult,
} from "../../lib/upload";
import type { ImportOutcome } from "./ImportPanel";
import { FailureBanner, RejectedRows, ReportHead, Stat, Verdict } from "./reportParts";

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
      <ReportHead
        title={report?.committed ? "Import report" : `${title} report`}
        report={report}
        stale={stale}
        staleLabel="out of date: preview again"
      />
      <div className="panel-body">
        {failure && !report && (
          <FailureBanner
            kind={kind}
            failure={failure}
            testId="import-error"
            help={
              failure.needsMapping &&
              "Map the file's columns in the Column mapping panel (under the form), or give the instrument id of a one-instrument file, then Preview again."
            }
          />
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
  const withMissing = report.instruments.filter((i) => i.missing_sessions_total > 0);
  const imported = report.committed
    ? report.instruments.filter((i) => i.error === null && i.rows_accepted > 0)
    : [];
  return (
    <>
      <Verdict
        tone={tone}
        headline={s.headline}
        testId="import-verdict"
        links={imported.map((i) => i.order_book_id)}
        linkVerb="Open"
        onLink={onOpen}
      >
        {!report.committed && s.verdict !== "refused" && s.verdict !== "empty" && (
          <div className="verdict-sub">Import writes the accepted rows to the catalog.</div>
        )}
      </Verdict>

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
        <RejectedRows
          rows={rejected}
          total={s.rejected}
          testId="rejected-rows"
          head={
            <>
              {report.instruments.length > 1 && <th>Instrument</th>}
              <th>Date</th>
            </>
          }
          cells={(r) => (
            <>
              {report.instruments.length > 1 && <td className="mono">{r.order_book_id}</td>}
              <td className="mono">{r.date}</td>
            </>
          )}
        />
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
