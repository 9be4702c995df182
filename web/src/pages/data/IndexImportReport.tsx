/** The report of a membership import: verdict, figures, indexes, rejected lines, failures. */
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
import { FailureBanner, RejectedRows, ReportHead, Stat, Verdict } from "./reportParts";

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
      <ReportHead
        title={`${title} report`}
        report={report}
        stale={stale}
        staleLabel="out of date"
      />
      <div className="panel-body">
        {failure && !report && (
          <FailureBanner
            kind={kind}
            failure={failure}
            testId="index-import-error"
            help={
              failure.missing.length > 0 &&
              "Map the file's columns (Column mapping, above), or give the index id and date of a one-composition file, then Preview again."
            }
          />
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
  const renamed = renamedColumnsText(report.mapping);
  const linkable = importedIndexesListed(report, known);
  return (
    <>
      <Verdict
        tone={tone}
        headline={s.headline}
        testId="index-import-verdict"
        links={linkable.map((i) => i.index_id)}
        linkVerb="Show"
        onLink={onShow}
      >
        {report.refused && (
          <div className="verdict-sub" data-testid="index-import-refused">
            {refusalReason(report.refused)}
          </div>
        )}
        {!report.committed && s.verdict !== "refused" && (
          <div className="verdict-sub">Import writes these compositions to the catalog.</div>
        )}
      </Verdict>

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
        <RejectedRows
          rows={report.rejected}
          total={s.rejected}
          testId="index-import-rejected"
          head={<th>Line</th>}
          cells={(r) => <td className="mono">{lineText(r.line)}</td>}
        />
      )}
    </>
  );
}
