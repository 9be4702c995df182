/** Runs side by side (`/compare?jobs=a,b,…`): equity and drawdown overlays, metrics with the best
 * value highlighted, correlation of daily returns, and the diff of inputs and code. */
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, type Schemas, unwrapData } from "../api/client";
import {
  type ChartRun,
  CompareDrawdownChart,
  CompareEquityChart,
} from "../components/CompareCharts";
import { Empty, ErrorBanner } from "../components/ui";
import {
  bestJobs,
  COMPARE_MAX,
  COMPARE_MIN,
  correlationColor,
  diffLines,
  diffStat,
  formatInput,
  formatMetric,
  inputLabel,
  metricLabel,
  parseJobIds,
  runColor,
  runLetter,
  runName,
} from "../lib/compare";
import { num } from "../lib/format";
import { useLoad } from "../lib/hooks";

type Comparison = Schemas["Comparison"];
type CompareRun = Schemas["CompareRun"];

export function ComparePage() {
  const [params] = useSearchParams();
  const ids = parseJobIds(params.get("jobs"));
  const key = ids.join(",");
  const valid = ids.length >= COMPARE_MIN && ids.length <= COMPARE_MAX;
  const data = useLoad(
    async () =>
      valid
        ? await unwrapData(
            api.GET("/api/backtest/compare", { params: { query: { job_ids: key } } }),
          )
        : null,
    [key, valid],
  );

  const head = (
    <div className="page-head">
      <Link to="/jobs" className="subtle">
        Jobs
      </Link>
      <span className="subtle">/</span>
      <h1>Compare runs</h1>
      {valid && <span className="subtle">{ids.length} runs</span>}
    </div>
  );

  if (!valid) {
    return (
      <div className="page">
        {head}
        <div className="panel">
          <Empty title={`Pick ${COMPARE_MIN} to ${COMPARE_MAX} finished runs to compare`}>
            <p>
              Tick the runs in the Jobs list (or a strategy's Jobs tab), then press Compare.
              {ids.length > COMPARE_MAX ? ` This link names ${ids.length}.` : ""}
            </p>
            <Link to="/jobs?status=FINISHED">
              <button type="button" className="primary">
                Go to the finished jobs
              </button>
            </Link>
          </Empty>
        </div>
      </div>
    );
  }
  if (data.error) {
    return (
      <div className="page">
        {head}
        <ErrorBanner error={data.error} />
        <div className="panel">
          <Empty title="These runs could not be compared">
            <p>Only finished runs have results to compare: pick others in the Jobs list.</p>
            <Link to="/jobs">
              <button type="button">Back to the jobs</button>
            </Link>
          </Empty>
        </div>
      </div>
    );
  }
  if (!data.data) {
    return (
      <div className="page">
        {head}
        <div className="loading">Comparing {ids.length} runs…</div>
      </div>
    );
  }
  return (
    <div className="page">
      {head}
      <CompareView data={data.data} />
    </div>
  );
}

function CompareView({ data }: { data: Comparison }) {
  const runs = data.runs;
  const chartRuns = useMemo<ChartRun[]>(
    () =>
      runs.map((r, i) => ({
        jobId: r.job_id,
        name: `${runLetter(i)} · ${runName(r)}`,
        color: runColor(i),
      })),
    [runs],
  );
  const index = new Map(runs.map((r, i) => [r.job_id, i]));
  return (
    <div className="compare" data-testid="compare">
      <RunsPanel runs={runs} />

      <div className="panel">
        <div className="panel-head">
          <h3>Equity, rebased</h3>
          <span className="hint">
            Cumulative return from the first session every run has; scroll to zoom.
          </span>
        </div>
        <div className="chart-box">
          <CompareEquityChart equity={data.equity} runs={chartRuns} />
        </div>
        <div className="panel-head compare-subhead">
          <h3>Drawdown</h3>
        </div>
        <div className="chart-box">
          <CompareDrawdownChart drawdowns={data.drawdowns} runs={chartRuns} />
        </div>
      </div>

      {/* Side by side while the tables are narrow; one under the other past three runs. */}
      <div className={`compare-grid${runs.length > 3 ? " stacked" : ""}`}>
        <MetricsPanel data={data} />
        <div className="compare-side">
          <CorrelationPanel data={data} index={index} />
          <InputsPanel data={data} />
        </div>
      </div>

      <CodePanel data={data} index={index} />
    </div>
  );
}

/** A run's colored letter, as in the charts' legend. */
function RunKey({ index }: { index: number }) {
  return (
    <span className="run-key" style={{ background: runColor(index) }}>
      {runLetter(index)}
    </span>
  );
}

function RunHead({ run, index }: { run: CompareRun; index: number }) {
  return (
    <th className="num run-col" title={`${runName(run)} (${run.job_id})`}>
      <span className="run-col-head">
        <RunKey index={index} />
        <span className="run-col-name">{runName(run)}</span>
      </span>
    </th>
  );
}

function RunsPanel({ runs }: { runs: CompareRun[] }) {
  return (
    <div className="panel">
      <div className="table-wrap">
        <table className="grid" data-testid="compare-runs">
          <thead>
            <tr>
              <th style={{ width: 1 }} />
              <th>Run</th>
              <th>Strategy</th>
              <th>Engine</th>
              <th>Range</th>
              <th>Job</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r, i) => (
              <tr key={r.job_id}>
                <td>
                  <RunKey index={i} />
                </td>
                <td>
                  <Link to={`/jobs/${r.job_id}`}>
                    {r.title || <span className="subtle">untitled</span>}
                  </Link>
                </td>
                <td>
                  {r.strategy_id === null ? (
                    <span>
                      {r.strategy_name || "inline run"} <span className="tag">inline</span>
                    </span>
                  ) : (
                    <>
                      <Link to={`/strategies/${encodeURIComponent(r.strategy_id)}`}>
                        {r.strategy_id}
                      </Link>
                      {r.strategy_name && r.strategy_name !== r.strategy_id && (
                        <span className="faint"> · {r.strategy_name}</span>
                      )}
                    </>
                  )}
                </td>
                <td>{r.engine ?? "—"}</td>
                <td className="mono">
                  {r.start_date ?? "?"} → {r.end_date ?? "?"}
                </td>
                <td>
                  <Link className="id-link" to={`/jobs/${r.job_id}`}>
                    {r.job_id.slice(0, 12)}
                  </Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function MetricsPanel({ data }: { data: Comparison }) {
  return (
    <div className="panel">
      <div className="panel-head">
        <h3>Metrics</h3>
        <span className="grow" />
        <span className="hint">
          <span className="best-swatch" /> best of the row
        </span>
      </div>
      <div className="table-wrap">
        <table className="grid compare-table" data-testid="compare-metrics">
          <thead>
            <tr>
              <th>Metric</th>
              {data.runs.map((r, i) => (
                <RunHead key={r.job_id} run={r} index={i} />
              ))}
            </tr>
          </thead>
          <tbody>
            {data.metrics.map((m) => {
              const best = bestJobs(m);
              return (
                <tr key={m.metric}>
                  <td
                    title={
                      m.higher_is_better === null
                        ? "neither higher nor lower is better"
                        : m.higher_is_better
                          ? "higher is better"
                          : "lower is better"
                    }
                  >
                    {metricLabel(m.metric)}{" "}
                    <span className="faint">
                      {m.higher_is_better === null ? "" : m.higher_is_better ? "↑" : "↓"}
                    </span>
                  </td>
                  {data.runs.map((r) => (
                    <td
                      key={r.job_id}
                      className={`num${best.has(r.job_id) ? " best" : ""}`}
                      data-best={best.has(r.job_id) ? "true" : undefined}
                    >
                      {formatMetric(m.metric, m.values[r.job_id])}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function CorrelationPanel({ data, index }: { data: Comparison; index: Map<string, number> }) {
  const c = data.correlation;
  return (
    <div className="panel">
      <div className="panel-head">
        <h3>Correlation of daily returns</h3>
        <span className="grow" />
        <span className="hint">{c.sessions.toLocaleString("en-US")} common sessions</span>
      </div>
      <div className="table-wrap">
        <table className="grid corr-table" data-testid="compare-correlation">
          <thead>
            <tr>
              <th />
              {c.job_ids.map((id) => (
                <th key={id} className="num">
                  <RunKey index={index.get(id) ?? 0} />
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {c.job_ids.map((id, i) => (
              <tr key={id}>
                <td>
                  <RunKey index={index.get(id) ?? 0} />
                </td>
                {c.matrix[i]?.map((v, j) => (
                  <td
                    key={c.job_ids[j]}
                    className="num mono"
                    style={{ background: i === j ? undefined : correlationColor(v) }}
                  >
                    {i === j ? <span className="faint">1</span> : num(v, 2)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function InputsPanel({ data }: { data: Comparison }) {
  const [onlyDiff, setOnlyDiff] = useState(true);
  const differing = data.inputs.filter((x) => x.differs).length;
  const rows = onlyDiff ? data.inputs.filter((x) => x.differs) : data.inputs;
  return (
    <div className="panel">
      <div className="panel-head">
        <h3>Inputs</h3>
        <span className="hint">
          {differing ? `${differing} of ${data.inputs.length} differ` : "the same for every run"}
        </span>
        <span className="grow" />
        <label className="row subtle toggle">
          <input
            type="checkbox"
            checked={onlyDiff}
            onChange={(e) => setOnlyDiff(e.target.checked)}
            data-testid="only-differences"
          />
          Only differences
        </label>
      </div>
      {rows.length === 0 ? (
        <p className="hint" style={{ padding: "10px 14px", margin: 0 }}>
          Every run had the same inputs.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="grid compare-table" data-testid="compare-inputs">
            <thead>
              <tr>
                <th>Input</th>
                {data.runs.map((r, i) => (
                  <RunHead key={r.job_id} run={r} index={i} />
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((x) => (
                <tr
                  key={x.field}
                  className={x.differs ? "differs" : ""}
                  data-differs={x.differs ? "true" : "false"}
                >
                  <td>{inputLabel(x.field)}</td>
                  {data.runs.map((r) => (
                    <td key={r.job_id} className="num mono wrap-cell">
                      {formatInput(x.values[r.job_id])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function CodePanel({ data, index }: { data: Comparison; index: Map<string, number> }) {
  const first = data.runs[0];
  if (!first) return null;
  return (
    <div className="panel">
      <div className="panel-head">
        <h3>Code</h3>
        <span className="hint">
          Each run's code snapshot against <RunKey index={0} /> {runName(first)}'s.
        </span>
      </div>
      <div className="panel-body code-diffs" data-testid="compare-code">
        {data.code.map((c) => {
          const i = index.get(c.job_id) ?? 0;
          const stat = diffStat(c.diff);
          return (
            <div key={c.job_id} className="code-diff">
              <div className="row code-diff-head">
                <RunKey index={i} />
                <strong>{runName(data.runs[i] ?? first)}</strong>
                <span className="subtle">vs</span>
                <RunKey index={0} />
                <span className="grow" />
                {c.identical ? (
                  <span className="tag">identical code</span>
                ) : (
                  <span className="mono">
                    <span className="up">+{stat.added}</span>{" "}
                    <span className="down">−{stat.removed}</span>
                  </span>
                )}
              </div>
              {!c.identical && (
                <pre className="udiff">
                  {diffLines(c.diff).map((l, n) => (
                    // biome-ignore lint/suspicious/noArrayIndexKey: the lines of one fixed diff text, never reordered.
                    <div key={n} className={`udiff-${l.kind}`}>
                      {l.text || " "}
                    </div>
                  ))}
                </pre>
              )}
            </div>
          );
        })}
        {data.code.length === 0 && <p className="hint">No code to compare.</p>}
      </div>
    </div>
  );
}
