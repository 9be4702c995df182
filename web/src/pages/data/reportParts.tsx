/**
 * The parts of the Data page's import reports (daily bars: `ImportReport`, membership:
 * `IndexImportReport`): the head, the failure banner, the verdict, the figures and the rejected
 * rows. Each report keeps its own texts and test ids.
 */
import { type ReactNode, useState } from "react";
import { ShowAllToggle } from "../../components/ui";
import { int } from "../../lib/format";

/** Rejected rows shown before "show all". */
const REJECTED_SHOWN = 50;

/** The report's title, the file's format and columns, and whether the form changed since. */
export function ReportHead({
  title,
  report,
  stale,
  staleLabel,
}: {
  title: string;
  report: { format: string; columns: string[] } | null;
  stale: boolean;
  staleLabel: string;
}) {
  return (
    <div className="panel-head">
      <h2>{title}</h2>
      {report && (
        <span className="subtle">
          {report.format.toUpperCase()} · {report.columns.length} columns
        </span>
      )}
      <span className="grow" />
      {stale && (
        <span className="tag stale-tag" title="the file, fields or mapping changed since">
          {staleLabel}
        </span>
      )}
    </div>
  );
}

/** A Preview or Import that gave no report (a 413, a 403, a file it could not read...). */
export function FailureBanner({
  kind,
  failure,
  testId,
  help,
}: {
  kind: "preview" | "import";
  failure: { message: string; code: string; status: number };
  testId: string;
  /** What to do about it, when there is something. */
  help?: ReactNode;
}) {
  return (
    <div className="error-banner" role="alert" data-testid={testId}>
      <div className="grow">
        <strong>{kind === "preview" ? "Preview failed" : "Import failed"}</strong>
        <div className="banner-message">{failure.message}</div>
        {help && <div className="banner-help">{help}</div>}
      </div>
      <span className="code">
        {failure.status ? `HTTP ${failure.status} · ` : ""}
        {failure.code}
      </span>
    </div>
  );
}

/** The report's verdict: its headline, notes (`children`) and links to what was imported. */
export function Verdict({
  tone,
  headline,
  testId,
  links,
  linkVerb,
  onLink,
  children,
}: {
  tone: "ok" | "error" | "warn" | "info";
  headline: string;
  testId: string;
  /** The ids to link, the first six shown. */
  links: string[];
  linkVerb: string;
  onLink: (id: string) => void;
  children?: ReactNode;
}) {
  return (
    <div
      className={`verdict ${tone}`}
      role={tone === "error" ? "alert" : "status"}
      data-testid={testId}
    >
      <span className="verdict-icon" aria-hidden="true">
        {tone === "ok" ? "✓" : tone === "error" ? "✕" : tone === "warn" ? "!" : "i"}
      </span>
      <div className="grow">
        <div className="strong">{headline}</div>
        {children}
        {links.length > 0 && (
          <div className="verdict-links">
            {links.slice(0, 6).map((id) => (
              <button key={id} type="button" className="small" onClick={() => onLink(id)}>
                {linkVerb} {id} →
              </button>
            ))}
          </div>
        )}
      </div>
    </div>
  );
}

/** One figure of the report's strip. */
export function Stat({
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

/**
 * The rejected rows listed (the first 50, then "show all"), each with its reason after the
 * report's own cells (`head`, `cells`); `total` counts those not listed too.
 */
export function RejectedRows<R extends { reason: string }>({
  rows,
  total,
  testId,
  head,
  cells,
}: {
  rows: R[];
  total: number;
  testId: string;
  head: ReactNode;
  cells: (row: R) => ReactNode;
}) {
  const [all, setAll] = useState(false);
  const shown = all ? rows : rows.slice(0, REJECTED_SHOWN);
  return (
    <>
      <h3 className="report-title">
        Rejected rows{" "}
        <span className="subtle">
          {total > rows.length ? `(first ${int(rows.length)} of ${int(total)})` : `(${int(total)})`}
        </span>
      </h3>
      <div className="table-wrap report-table rejected-table">
        <table className="grid compact" data-testid={testId}>
          <thead>
            <tr>
              {head}
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r, n) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: rows may repeat a date or line; the list is read-only.
              <tr key={n}>
                {cells(r)}
                <td className="reason-cell">{r.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ShowAllToggle total={rows.length} shown={REJECTED_SHOWN} all={all} onToggle={setAll} />
    </>
  );
}
