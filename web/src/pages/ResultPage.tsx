/** One job: live status while it runs, then the result (metrics, charts with the strategy's
 * plot() series, K-lines with indicators, round trips, fills, positions, period tables,
 * parameters, log, downloads and the HTML report); its title and notes; retry or run again. */
import {
  type ReactNode,
  type UIEvent,
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
} from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, download, errorMessage, type Schemas, unwrap, unwrapData } from "../api/client";
import {
  type ChannelFrame,
  decodeEquity,
  decodeLogLines,
  decodeProgress,
  decodeStatus,
  type EquityPoint,
  type JobProgress,
  useChannel,
} from "../api/live";
import type { JobStatusView, RunInfo } from "../api/models";
import { ACTIVE, FINAL } from "../api/models";
import {
  DrawdownChart,
  EquityChart,
  KlineChart,
  type KlineOverlay,
  LiveEquityChart,
  PLOT_COLORS,
  type PlotLine,
  PlotSeriesChart,
} from "../components/ResultCharts";
import { PeriodsTab, RoundTripsTab } from "../components/ResultTables";
import { RunAnnotationForm } from "../components/RunAnnotation";
import {
  Empty,
  ErrorBanner,
  LiveBadge,
  Pager,
  Progress,
  StatusBadge,
  Tabs,
} from "../components/ui";
import { cell, dateTime, duration, int, isNum, num, pct } from "../lib/format";
import { useInterval, useLoad } from "../lib/hooks";
import { alignSeries, MA_COLORS, MA_WINDOWS, movingAverage, onPriceScale } from "../lib/indicators";
import {
  addSample,
  appendLines,
  barRate,
  etaSeconds,
  mergeEquity,
  type ProgressSample,
  pushesEquity,
  runWindow,
  shortDuration,
  sliceLines,
} from "../lib/jobLive";
import { columnHint, columnLabel } from "../lib/tables";

type Plots = Schemas["PlotSeries"];

type Tab =
  | "overview"
  | "kline"
  | "roundtrips"
  | "trades"
  | "positions"
  | "periods"
  | "params"
  | "log";
/** The tabs that need a result. */
const RESULT_TABS: readonly Tab[] = ["kline", "roundtrips", "trades", "positions", "periods"];

export function ResultPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const [tab, setTab] = useState<Tab>("overview");
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const job = useLoad(
    () => unwrap(api.GET("/api/backtest/jobs/{job_id}", { params: { path: { job_id: id } } })),
    [id],
  );
  const status = job.data?.status;
  const active = status ? ACTIVE.includes(status) : false;
  const live = useJobLive(id, job.data, active, job.reload, job.setData);
  useInterval(() => void job.reload(), 2000, active && !live.channelLive);
  const finished = status === "FINISHED";
  const result = useLoad(
    async () =>
      finished
        ? await unwrap(
            api.GET("/api/backtest/jobs/{job_id}/result", {
              params: { path: { job_id: id }, query: { page: 1, page_size: 1 } },
            }),
          )
        : null,
    [id, finished],
  );
  const info = useLoad(
    () =>
      unwrapData(
        api.GET("/api/backtest/jobs/{job_id}/run-info", { params: { path: { job_id: id } } }),
      ),
    [id, finished],
  );

  const plots = useLoad(
    async () =>
      finished
        ? await unwrapData(
            api.GET("/api/backtest/jobs/{job_id}/plots", { params: { path: { job_id: id } } }),
          )
        : null,
    [id, finished],
  );

  useEffect(() => {
    if (status && !finished && RESULT_TABS.includes(tab)) setTab("overview");
  }, [status, finished, tab]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: another job closes the form.
  useEffect(() => setEditing(false), [id]);

  async function act(action: "cancel" | "retry" | "rerun") {
    setError(null);
    setBusy(action);
    try {
      const path = { params: { path: { job_id: id } } };
      if (action === "cancel") {
        await unwrap(api.POST("/api/backtest/jobs/{job_id}/cancel", path));
        await job.reload();
      } else {
        const res = await unwrap(
          action === "retry"
            ? api.POST("/api/backtest/jobs/{job_id}/retry", path)
            : api.POST("/api/backtest/jobs/{job_id}/rerun", path),
        );
        navigate(`/jobs/${res.job_id}`);
      }
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(null);
    }
  }

  async function save(kind: "json" | "csv" | "report") {
    setError(null);
    setBusy(kind);
    try {
      if (kind === "json")
        await download(`/api/backtest/jobs/${id}/files/result.json`, `${id}-result.json`);
      else if (kind === "csv")
        await download(`/api/backtest/jobs/${id}/files/trades.csv`, `${id}-trades.csv`);
      // The tear sheet: one self-contained HTML file (it opens offline).
      else await download(`/api/backtest/jobs/${id}/report`, `${id}-report.html`);
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(null);
    }
  }

  if (job.error && !job.data) {
    return (
      <div className="page">
        <ErrorBanner error={job.error} />
        <Empty title="This job could not be opened">
          <p>
            <Link to="/jobs">Back to the jobs</Link>
          </p>
        </Empty>
      </div>
    );
  }
  const j = job.data;
  if (!j) return <div className="page loading">Loading job…</div>;
  const request = info.data?.request ?? {};
  const summary = result.data?.summary ?? {};

  const inline = j.inline || j.strategy_id === null;
  const ended = !active && !finished; // FAILED or CANCELLED
  const version = j.strategy_version ?? (isNum(request.version) ? request.version : null);
  const rerunButtons = (
    <>
      <button
        type="button"
        className={ended && j.status === "CANCELLED" ? "primary" : ""}
        onClick={() => act("retry")}
        disabled={busy !== null}
        title="the same code snapshot and the same inputs"
        data-testid="retry-snapshot"
      >
        ↻ Retry (same code snapshot)
      </button>
      {!inline && (
        <button
          type="button"
          className={ended && j.status === "FAILED" ? "primary" : ""}
          onClick={() => act("rerun")}
          disabled={busy !== null}
          title="the strategy's current saved code, with the same inputs"
          data-testid="rerun-current"
        >
          ▶ Run again with current code
        </button>
      )}
    </>
  );

  return (
    <div className="page">
      <div className="page-head">
        <Link to="/jobs" className="subtle">
          Jobs
        </Link>
        <span className="subtle">/</span>
        <h1 className="run-heading" title={j.title || j.job_id} data-testid="run-title">
          {j.title || (
            <span className="mono" style={{ fontSize: 14 }}>
              {j.job_id.slice(0, 12)}
            </span>
          )}
        </h1>
        {!editing && (
          <button
            type="button"
            className="small ghost"
            onClick={() => setEditing(true)}
            data-testid="edit-annotation"
            title="the run's title and notes (shown in lists, comparisons and the report)"
          >
            ✎ {j.title || j.notes ? "Edit" : "Add title & notes"}
          </button>
        )}
        <StatusBadge status={j.status} />
        <span className="grow" />
        {active && (
          <button type="button" onClick={() => act("cancel")} data-testid="cancel-job">
            Cancel
          </button>
        )}
        {finished && (
          <>
            <button
              type="button"
              className="primary"
              onClick={() => save("report")}
              disabled={busy === "report"}
              data-testid="download-report"
              title="a self-contained HTML tear sheet to keep or share (opens offline)"
            >
              {busy === "report" ? "Preparing…" : "⤓ Report"}
            </button>
            <button type="button" onClick={() => save("json")} data-testid="download-json">
              ⤓ Result JSON
            </button>
            <button type="button" onClick={() => save("csv")} data-testid="download-csv">
              ⤓ Fills CSV
            </button>
          </>
        )}
      </div>
      <div className="row result-sub">
        <span className="subtle result-meta">
          {j.strategy_id === null ? (
            <span>{j.strategy_name || "inline run"}</span>
          ) : (
            <Link
              to={`/strategies/${encodeURIComponent(j.strategy_id)}`}
              title={j.strategy_name ? `name: ${j.strategy_name}` : undefined}
            >
              {j.strategy_id}
            </Link>
          )}
          {inline && <span className="tag inline-tag">inline</span>}
          {version ? ` · v${version}` : ""}
          {request.start_date
            ? ` · ${String(request.start_date)} → ${String(request.end_date)}`
            : ""}
          {Array.isArray(request.universe) ? ` · ${request.universe.join(", ")}` : ""}
          {request.benchmark ? ` vs ${String(request.benchmark)}` : ""}
          {j.engine ? ` · ${j.engine}` : ""}
          {j.title ? (
            <>
              {" · "}
              <span className="mono" title={j.job_id}>
                {j.job_id.slice(0, 12)}
              </span>
            </>
          ) : null}
        </span>
        <span className="grow" />
        {finished && <span className="row result-sub-actions">{rerunButtons}</span>}
      </div>
      {editing ? (
        <RunAnnotationForm
          job={j}
          onCancel={() => setEditing(false)}
          onSaved={(saved) => {
            job.setData(saved);
            setEditing(false);
          }}
        />
      ) : (
        j.notes && (
          <div className="run-notes" data-testid="run-notes">
            {j.notes}
          </div>
        )
      )}
      <ErrorBanner
        error={error || result.error || info.error}
        onClose={error ? () => setError(null) : undefined}
      />

      {active && <JobLivePanel job={j} live={live} />}
      {j.error && (
        <div className="error-banner" data-testid="job-error">
          <div>
            <strong>{j.error.code}</strong>
            <div>{j.error.message}</div>
          </div>
        </div>
      )}

      {finished && result.data && (
        <MetricCards summary={summary} trades={result.data.trades_total} />
      )}
      {ended && (
        <RerunHelp job={j} version={version} inline={inline}>
          {rerunButtons}
        </RerunHelp>
      )}

      <div className="panel">
        <Tabs<Tab>
          value={tab}
          onChange={setTab}
          tabs={[
            { id: "overview", label: "Overview" },
            { id: "kline", label: "K-line", disabled: !finished },
            {
              id: "roundtrips",
              label: `Round trips${isNum(summary.round_trips) ? ` (${summary.round_trips})` : ""}`,
              disabled: !finished,
            },
            {
              id: "trades",
              label: `Fills${result.data ? ` (${result.data.trades_total})` : ""}`,
              disabled: !finished,
            },
            { id: "positions", label: "Positions", disabled: !finished },
            { id: "periods", label: "Periods", disabled: !finished },
            { id: "params", label: "Parameters" },
            { id: "log", label: "Log" },
          ]}
        />
        <div className="panel-body">
          {tab === "overview" &&
            (finished && result.data ? (
              result.data.equity.dates.length ? (
                <>
                  <EquityChart
                    equity={result.data.equity}
                    benchmark={typeof summary.benchmark === "string" ? summary.benchmark : null}
                  />
                  <h3 style={{ margin: "6px 0 0 4px" }}>Drawdown</h3>
                  <DrawdownChart equity={result.data.equity} />
                  <PlotPane
                    dates={result.data.equity.dates}
                    plots={plots.data}
                    error={plots.error}
                  />
                </>
              ) : (
                <Empty title="The run has no sessions" />
              )
            ) : finished ? (
              <div className="loading">Loading the result…</div>
            ) : active ? (
              <>
                {pushesEquity(request) && <LiveEquity points={live.equity} request={request} />}
                <LogView jobId={id} live />
              </>
            ) : (
              <LogView jobId={id} live={false} />
            ))}
          {tab === "kline" && finished && info.data && (
            <KlineTab jobId={id} info={info.data} plots={plots.data} />
          )}
          {tab === "roundtrips" && finished && (
            <RoundTripsTab jobId={id} symbols={info.data?.symbols ?? []} summary={summary} />
          )}
          {tab === "trades" && finished && <TradesTab jobId={id} />}
          {tab === "positions" && finished && <PositionsTab jobId={id} />}
          {tab === "periods" && finished && <PeriodsTab jobId={id} />}
          {tab === "params" && <ParamsTab job={j} info={info.data} summary={summary} />}
          {tab === "log" && <LogView jobId={id} live={active} />}
        </div>
      </div>
    </div>
  );
}

/**
 * What a FAILED or CANCELLED job's two buttons do: Retry runs the job's own code snapshot again,
 * "Run again with current code" the strategy's saved code of today (both with the same inputs).
 */
function RerunHelp({
  job,
  version,
  inline,
  children,
}: {
  job: JobStatusView;
  version: number | null;
  inline: boolean;
  children: ReactNode;
}) {
  return (
    <div className="panel rerun-help" data-testid="rerun-help">
      <div className="panel-body">
        <p style={{ marginTop: 0 }}>
          This job {job.status === "FAILED" ? "failed" : "was cancelled"} and has no result. Its log
          is below.
        </p>
        <ul className="rerun-list">
          <li>
            <strong>Retry (same code snapshot)</strong> runs the very code this job ran
            {version ? ` (version ${version})` : ""} again, with the same inputs: for a failure that
            was not the code's (a worker that died, a timeout, a cancelled run). A bug in the
            strategy fails again.
          </li>
          {inline ? (
            <li>
              This is an inline run: its code came with the request, so there is no saved strategy
              to take newer code from, and only Retry is offered.
            </li>
          ) : (
            <li>
              <strong>Run again with current code</strong> runs the strategy's code as saved now,
              with the same inputs: fix the strategy in the{" "}
              {job.strategy_id !== null ? (
                <Link to={`/strategies/${encodeURIComponent(job.strategy_id)}`}>editor</Link>
              ) : (
                "editor"
              )}
              , save it, then press it.
            </li>
          )}
        </ul>
        <div className="row">{children}</div>
      </div>
    </div>
  );
}

/** The strategy's plot() series under the equity chart (nothing when it recorded none). */
function PlotPane({
  dates,
  plots,
  error,
}: {
  dates: string[];
  plots: Plots | null;
  error: string | null;
}) {
  const lines = useMemo<PlotLine[]>(
    () =>
      Object.keys(plots?.series ?? {})
        .sort()
        .map((name, i) => {
          const line = plots?.series[name] ?? { dates: [], values: [] };
          return {
            name,
            values: alignSeries(dates, line.dates, line.values),
            color: PLOT_COLORS[i % PLOT_COLORS.length],
          };
        }),
    [dates, plots],
  );
  if (error)
    return <p className="hint">The strategy's plot() series could not be loaded: {error}</p>;
  if (!lines.length) return null;
  return (
    <div data-testid="plot-pane">
      <h3 style={{ margin: "10px 0 0 4px" }}>
        Strategy series <span className="hint plot-hint">recorded with plot()</span>
      </h3>
      <PlotSeriesChart dates={dates} lines={lines} />
    </div>
  );
}

function MetricCards({ summary, trades }: { summary: Record<string, unknown>; trades: number }) {
  const sign = (v: unknown) => (isNum(v) ? (v > 0 ? "up" : v < 0 ? "down" : "") : "");
  const cards: [string, string, string, string?][] = [
    [
      "Total return",
      pct(summary.total_returns),
      sign(summary.total_returns),
      `final ${num(summary.total_value, 0)}`,
    ],
    ["Annual return", pct(summary.annualized_returns), sign(summary.annualized_returns)],
    [
      "Benchmark",
      pct(summary.benchmark_total_returns),
      sign(summary.benchmark_total_returns),
      `annual ${pct(summary.benchmark_annualized_returns)}`,
    ],
    ["Alpha", num(summary.alpha, 4), sign(summary.alpha)],
    ["Beta", num(summary.beta, 3), ""],
    ["Sharpe", num(summary.sharpe, 3), sign(summary.sharpe)],
    ["Sortino", num(summary.sortino, 3), sign(summary.sortino)],
    [
      "Max drawdown",
      isNum(summary.max_drawdown) ? pct(-summary.max_drawdown) : "—",
      isNum(summary.max_drawdown) && summary.max_drawdown > 0 ? "down" : "",
      summary.max_drawdown_start
        ? `${String(summary.max_drawdown_start)} → ${String(summary.max_drawdown_end)}`
        : undefined,
    ],
    [
      "Win rate",
      pct(summary.win_rate, 1),
      "",
      isNum(summary.round_trips) ? `of ${int(summary.round_trips)} round trips` : undefined,
    ],
    [
      "Profit factor",
      num(summary.profit_factor, 2),
      "",
      `P/L ratio ${num(summary.profit_loss_ratio, 2)}`,
    ],
    [
      "Round trips",
      int(summary.round_trips),
      "",
      `${int(summary.trade_count ?? trades)} fills · vol ${pct(summary.volatility)}`,
    ],
  ];
  return (
    <div className="cards" data-testid="metric-cards">
      {cards.map(([label, value, cls, sub]) => (
        <div key={label} className="card">
          <div className="label">{label}</div>
          <div className={`value ${cls}`}>{value}</div>
          {sub && <div className="sub">{sub}</div>}
        </div>
      ))}
    </div>
  );
}

function KlineTab({ jobId, info, plots }: { jobId: string; info: RunInfo; plots: Plots | null }) {
  const symbols = info.symbols.length
    ? info.symbols
    : Array.isArray(info.request.universe)
      ? info.request.universe.map(String)
      : [];
  const [symbol, setSymbol] = useState(symbols[0] ?? "");
  const [mas, setMas] = useState<number[]>([...MA_WINDOWS]);
  const [shown, setShown] = useState<string[]>([]);
  const config = info.config ?? info.request;
  const data = useLoad(async () => {
    if (!symbol) return null;
    const [bars, trades] = await Promise.all([
      unwrapData(
        api.GET("/api/data/instruments/{order_book_id}/bars", {
          params: {
            path: { order_book_id: symbol },
            query: {
              start: String(config.start_date),
              end: String(config.end_date),
              adjust: config.adjust === "none" ? "none" : "pre",
            },
          },
        }),
      ),
      unwrapData(
        api.GET("/api/backtest/jobs/{job_id}/trades", {
          params: { path: { job_id: jobId }, query: { symbol, page_size: 10000 } },
        }),
      ),
    ]);
    return { bars, trades: trades.trades };
  }, [symbol, jobId]);
  const bars = data.data?.bars;
  const plotNames = Object.keys(plots?.series ?? {}).sort();
  // The plot() series laid on the bars' dates, each on the price axis when it lives on the
  // price's scale (a moving average of the price), else on an axis of its own.
  const plotLines = useMemo(() => {
    if (!bars || !plots) return [];
    return Object.keys(plots.series)
      .sort()
      .map((name, i) => {
        const line = plots.series[name];
        const values = alignSeries(bars.dates, line.dates, line.values);
        return {
          name,
          values,
          color: PLOT_COLORS[i % PLOT_COLORS.length],
          ownAxis: !onPriceScale(values, bars.close),
        };
      });
  }, [bars, plots]);
  const overlays = useMemo<KlineOverlay[]>(() => {
    if (!bars) return [];
    return [
      ...MA_WINDOWS.filter((w) => mas.includes(w)).map((w) => ({
        name: `MA${w}`,
        values: movingAverage(bars.close, w, 4),
        color: MA_COLORS[w],
      })),
      ...plotLines.filter((l) => shown.includes(l.name)),
    ];
  }, [bars, mas, plotLines, shown]);
  if (!symbols.length)
    return (
      <Empty title="No instrument was traded">
        The strategy placed no filled order in this run.
      </Empty>
    );
  return (
    <div>
      <div className="row" style={{ marginBottom: 8 }}>
        <label className="row subtle">
          Symbol
          <select
            value={symbol}
            onChange={(e) => setSymbol(e.target.value)}
            data-testid="kline-symbol"
          >
            {symbols.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <span className="hint">
          {String(config.adjust ?? "pre") === "pre"
            ? "Forward-adjusted prices, as the run traded them."
            : "Prices as traded."}{" "}
          ▲ buy ▼ sell; scroll to zoom.
        </span>
        <span className="grow" />
        {data.data && <span className="subtle">{data.data.trades.length} fills</span>}
      </div>
      <div className="row wrap kline-overlays" data-testid="kline-overlays">
        <span className="subtle">Moving averages</span>
        {MA_WINDOWS.map((w) => (
          <button
            type="button"
            key={w}
            className={`chip${mas.includes(w) ? " on" : ""}`}
            aria-pressed={mas.includes(w)}
            onClick={() => setMas((m) => (m.includes(w) ? m.filter((x) => x !== w) : [...m, w]))}
          >
            <span className="swatch" style={{ background: MA_COLORS[w] }} />
            MA {w}
          </button>
        ))}
        {plotNames.length > 0 && (
          <>
            <span className="subtle" style={{ marginLeft: 12 }}>
              Strategy series
            </span>
            {plotLines.map((l) => (
              <button
                type="button"
                key={l.name}
                className={`chip${shown.includes(l.name) ? " on" : ""}`}
                aria-pressed={shown.includes(l.name)}
                title={
                  l.ownAxis
                    ? "not on the price's scale: drawn dashed against the right-hand axis"
                    : "on the price's scale: drawn over the candles"
                }
                onClick={() =>
                  setShown((s) =>
                    s.includes(l.name) ? s.filter((x) => x !== l.name) : [...s, l.name],
                  )
                }
                data-testid="plot-toggle"
              >
                <span className="swatch" style={{ background: l.color }} />
                {l.name}
                {l.ownAxis && <small>right axis</small>}
              </button>
            ))}
          </>
        )}
      </div>
      <ErrorBanner error={data.error} />
      {data.data ? (
        <KlineChart
          bars={data.data.bars}
          trades={data.data.trades}
          symbol={symbol}
          overlays={overlays}
        />
      ) : (
        !data.error && <div className="loading">Loading bars…</div>
      )}
    </div>
  );
}

function TradesTab({ jobId }: { jobId: string }) {
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(50);
  const data = useLoad(
    () =>
      unwrap(
        api.GET("/api/backtest/jobs/{job_id}/result", {
          params: { path: { job_id: jobId }, query: { page, page_size: size } },
        }),
      ),
    [jobId, page, size],
  );
  if (data.error) return <ErrorBanner error={data.error} />;
  const result = data.data;
  if (!result) return <div className="loading">Loading trades…</div>;
  const columns = result.trade_columns.length
    ? result.trade_columns
    : Object.keys(result.trades[0] ?? {});
  if (result.trades_total === 0)
    return <Empty title="No trades">The strategy placed no filled order in this run.</Empty>;
  return (
    <div>
      <div className="table-wrap" style={{ maxHeight: 560 }}>
        <table className="grid" data-testid="trades-table">
          <thead>
            <tr>
              {columns.map((c) => (
                <th
                  key={c}
                  className={typeof result.trades[0]?.[c] === "number" ? "num" : ""}
                  title={columnHint(c)}
                >
                  {columnLabel(c)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {result.trades.map((t, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: a fill has no id in the contract (an order_id repeats across partial fills); each page replaces the rows wholesale and never reorders them.
              <tr key={i}>
                {columns.map((c) => {
                  const v = t[c];
                  const cls =
                    c === "side"
                      ? v === "BUY"
                        ? "up"
                        : "down"
                      : c === "realized_pnl" && isNum(v) && v !== 0
                        ? v > 0
                          ? "num up"
                          : "num down"
                        : typeof v === "number"
                          ? "num"
                          : "";
                  return (
                    <td key={c} className={cls}>
                      {c === "datetime"
                        ? String(v).replace("T", " ")
                        : c === "price" && isNum(v)
                          ? num(v, 4)
                          : cell(v)}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager
        page={page}
        pageSize={size}
        total={result.trades_total}
        onPage={setPage}
        onPageSize={(s) => {
          setSize(s);
          setPage(1);
        }}
      />
    </div>
  );
}

function PositionsTab({ jobId }: { jobId: string }) {
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(50);
  const [date, setDate] = useState("");
  const data = useLoad(
    () =>
      unwrapData(
        api.GET("/api/backtest/jobs/{job_id}/positions", {
          params: {
            path: { job_id: jobId },
            query: { page, page_size: size, date: date || undefined },
          },
        }),
      ),
    [jobId, page, size, date],
  );
  const positions = data.data;
  return (
    <div>
      <div className="row" style={{ marginBottom: 8 }}>
        <label className="row subtle">
          Date
          <input
            type="date"
            value={date}
            onChange={(e) => {
              setDate(e.target.value);
              setPage(1);
            }}
          />
        </label>
        {date && (
          <button type="button" className="small ghost" onClick={() => setDate("")}>
            all dates
          </button>
        )}
        <span className="hint">Daily holdings at the close, newest first.</span>
      </div>
      <ErrorBanner error={data.error} />
      {positions &&
        (positions.total === 0 ? (
          <Empty title={date ? `No position held on ${date}` : "No position was ever held"} />
        ) : (
          <>
            <div className="table-wrap" style={{ maxHeight: 560 }}>
              <table className="grid" data-testid="positions-table">
                <thead>
                  <tr>
                    {positions.columns.map((c) => (
                      <th
                        key={c}
                        className={c === "date" || c === "order_book_id" ? "" : "num"}
                        title={columnHint(c)}
                      >
                        {columnLabel(c)}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {positions.positions.map((p, i) => (
                    // biome-ignore lint/suspicious/noArrayIndexKey: position rows are untyped records without an id; each page replaces the rows wholesale and never reorders them.
                    <tr key={i}>
                      {positions.columns.map((c) => (
                        <td key={c} className={typeof p[c] === "number" ? "num" : ""}>
                          {c.includes("price") && isNum(p[c])
                            ? num(p[c], 4)
                            : c === "market_value" && isNum(p[c])
                              ? num(p[c], 2)
                              : cell(p[c])}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager
              page={page}
              pageSize={size}
              total={positions.total}
              onPage={setPage}
              onPageSize={(s) => {
                setSize(s);
                setPage(1);
              }}
            />
          </>
        ))}
    </div>
  );
}

function KV({ data }: { data: Record<string, unknown> }) {
  return (
    <dl className="kv">
      {Object.entries(data).map(([k, v]) => (
        <div key={k} style={{ display: "contents" }}>
          <dt>{k}</dt>
          <dd>
            {typeof v === "object" && v !== null
              ? JSON.stringify(v)
              : v === null || v === undefined
                ? "—"
                : String(v)}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function ParamsTab({
  job,
  info,
  summary,
}: {
  job: JobStatusView;
  info: RunInfo | null;
  summary: Record<string, unknown>;
}) {
  return (
    <div className="two-col">
      <div>
        <h3 className="section-title">Request</h3>
        {info ? <KV data={info.request} /> : <div className="loading">Loading…</div>}
        <h3 className="section-title">Job</h3>
        <KV
          data={{
            created: dateTime(job.created_at),
            started: dateTime(job.started_at),
            finished: dateTime(job.finished_at),
            duration: duration(job.started_at, job.finished_at),
            attempts: job.attempts,
            engine: summary.engine
              ? `${String(summary.engine)} ${String(summary.engine_version ?? "")}`
              : undefined,
            sandbox: job.sandbox_level ?? undefined,
          }}
        />
      </div>
      <div>
        <h3 className="section-title">Effective configuration</h3>
        {info?.config ? (
          <KV data={info.config} />
        ) : (
          <p className="hint">Available once the job has finished.</p>
        )}
        <h3 className="section-title">Metric conventions</h3>
        {info?.conventions ? (
          <KV data={info.conventions} />
        ) : (
          <p className="hint">Available once the job has finished.</p>
        )}
      </div>
    </div>
  );
}

/** A running job's progress as pushed on `job.<id>` (the HTTP status while none is). */
interface JobLive {
  channelLive: boolean;
  pushed: JobProgress | null;
  samples: ProgressSample[];
  /** The sessions' NAV so far, in date order (the hub's buffer replays the earlier ones). */
  equity: EquityPoint[];
}

function useJobLive(
  id: string,
  job: JobStatusView | null,
  active: boolean,
  reload: () => Promise<void>,
  setJob: (job: JobStatusView) => void,
): JobLive {
  const [pushed, setPushed] = useState<JobProgress | null>(null);
  const [samples, setSamples] = useState<ProgressSample[]>([]);
  const [equity, setEquity] = useState<EquityPoint[]>([]);
  const current = useRef(job);
  current.current = job;
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new job starts from nothing.
  useEffect(() => {
    setPushed(null);
    setSamples([]);
    setEquity([]);
  }, [id]);
  // Polled readings count too (the ETA works without the socket).
  const polledBar = job?.status === "RUNNING" ? job.current_bar : null;
  useEffect(() => {
    if (polledBar !== null && polledBar > 0)
      setSamples((s) =>
        s.at(-1)?.bar === polledBar ? s : addSample(s, { t: now(), bar: polledBar }),
      );
  }, [polledBar]);
  const channelLive = useChannel(active ? `job.${id}` : null, {
    // The equity points pushed before the page opened: the hub replays what it still buffers.
    history: true,
    frame(frame: ChannelFrame) {
      if (frame.event === "equity") {
        const e = decodeEquity(frame.data);
        if (e && e.jobId === id) setEquity((prev) => mergeEquity(prev, e.points));
        return;
      }
      // The HTTP status reloaded on `subscribed` is newer than a replayed progress or status.
      if (frame.replayed) return;
      if (frame.event === "progress") {
        const p = decodeProgress(frame.data);
        if (!p || p.jobId !== id) return;
        setPushed(p);
        setSamples((s) => addSample(s, { t: now(), bar: p.currentBar }));
        const j = current.current;
        if (j?.status === "QUEUED") setJob({ ...j, status: "RUNNING" });
      } else if (frame.event === "status") {
        const change = decodeStatus(frame.data);
        const j = current.current;
        if (!change || !j) return;
        if (FINAL.includes(change.status) || change.kind === "job.deleted") void reload();
        else if (change.status !== j.status) {
          setJob({ ...j, status: change.status, attempts: change.attempts });
          if (change.status === "QUEUED") {
            setSamples([]); // requeued: starts over
            setEquity([]);
          }
        }
      }
    },
    // Only equity is taken from a replay: the HTTP status closes the gap for the rest.
    subscribed: () => void reload(),
    // Equity points may be missing after a reset: the curve keeps what it has and goes on (the
    // result, loaded once the job has finished, replaces it).
    reset: () => void reload(),
  });
  return { channelLive, pushed, samples, equity };
}

function now(): number {
  return Date.now() / 1000;
}

function JobLivePanel({ job, live }: { job: JobStatusView; live: JobLive }) {
  const p = live.pushed;
  const fresh = p !== null && p.currentBar >= job.current_bar;
  const bar = fresh ? p.currentBar : job.current_bar;
  const total = (fresh ? p.totalBars : 0) || job.total_bars;
  const progress = fresh ? p.progress : job.progress;
  const eta = job.status === "RUNNING" ? etaSeconds(live.samples, total) : null;
  const rate = job.status === "RUNNING" ? barRate(live.samples) : null;
  return (
    <div className="panel job-live" data-testid="job-live">
      <div className="panel-body">
        <div className="row job-live-head">
          <strong>{job.status === "QUEUED" ? "Waiting for a worker…" : "Running"}</strong>
          {job.status === "RUNNING" && (
            <span className="subtle" data-testid="job-bars">
              bar <span className="mono">{int(bar)}</span> of{" "}
              <span className="mono">{total ? int(total) : "?"}</span>
            </span>
          )}
          {job.attempts > 1 && <span className="tag">attempt {job.attempts}</span>}
          <span className="grow" />
          {rate !== null && <span className="subtle">{rate.toFixed(0)} bars/s</span>}
          {job.status === "RUNNING" && (
            <span className="subtle" data-testid="job-eta">
              ETA {eta !== null ? shortDuration(eta) : "—"}
            </span>
          )}
          <span className="job-live-pct mono">{progress.toFixed(1)}%</span>
          <LiveBadge live={live.channelLive} testId="job-live-badge" />
        </div>
        <Progress value={progress} large testId="job-progress" label="backtest progress" />
      </div>
    </div>
  );
}

/** The equity curve of a running job, growing as its sessions complete. */
function LiveEquity({
  points,
  request,
}: {
  points: EquityPoint[];
  request: Record<string, unknown>;
}) {
  const { start, end } = runWindow(request);
  const last = points.at(-1);
  const ret = last ? last[1] - 1 : null;
  return (
    <div className="live-equity" data-testid="live-equity" data-first={points[0]?.[0] ?? ""}>
      <div className="row live-equity-head">
        <strong>Equity so far</strong>
        <span className="subtle">
          {last ? `${int(points.length)} sessions, to ${last[0]}` : "no session yet"}
        </span>
        <span className="grow" />
        {ret !== null && (
          <span className={`mono ${ret > 0 ? "up" : ret < 0 ? "down" : ""}`}>{pct(ret)}</span>
        )}
      </div>
      <div className="chart-box">
        <LiveEquityChart points={points} start={start} end={end} />
        {!last && (
          <div className="chart-empty">
            Waiting for the first sessions (only the native engine draws its curve as it runs)…
          </div>
        )}
      </div>
    </div>
  );
}

function LogView({ jobId, live }: { jobId: string; live: boolean }) {
  const [tail, setTail] = useState(65536);
  // A running job's log follows the pushed lines; a finished one is read once over HTTP.
  return live ? (
    <LiveLog jobId={jobId} tail={tail} onTail={setTail} />
  ) : (
    <StaticLog jobId={jobId} tail={tail} onTail={setTail} />
  );
}

async function loadLog(jobId: string, tail: number) {
  const res = await unwrap(
    api.GET("/api/backtest/jobs/{job_id}/log", {
      params: { path: { job_id: jobId }, query: { tail } },
    }),
  );
  // The route answers a `LogSlice` with `tail` (plain text only without `offset`/`tail`).
  if (typeof res === "string") throw new Error("the server answered text, not a log slice");
  return res;
}

function TailSelect({ tail, onTail }: { tail: number; onTail: (tail: number) => void }) {
  return (
    <select value={tail} onChange={(e) => onTail(Number(e.target.value))} aria-label="log tail">
      <option value={16384}>last 16 KB</option>
      <option value={65536}>last 64 KB</option>
      <option value={1048576}>last 1 MB</option>
    </select>
  );
}

function StaticLog({
  jobId,
  tail,
  onTail,
}: {
  jobId: string;
  tail: number;
  onTail: (tail: number) => void;
}) {
  const log = useLoad(() => loadLog(jobId, tail), [jobId, tail]);
  return (
    <div>
      <div className="row" style={{ marginBottom: 8 }}>
        <span className="subtle">
          {log.data
            ? `${log.data.size.toLocaleString("en-US")} bytes${log.data.offset > 0 ? `, showing the last ${(log.data.size - log.data.offset).toLocaleString("en-US")}` : ""}`
            : ""}
        </span>
        <span className="grow" />
        <TailSelect tail={tail} onTail={onTail} />
        <button
          type="button"
          className="small"
          onClick={() => void log.reload()}
          data-testid="log-refresh"
        >
          Refresh
        </button>
      </div>
      <ErrorBanner error={log.error} />
      <pre className="log" data-testid="log">
        {log.data ? log.data.content || "(the log is empty)" : "Loading…"}
      </pre>
    </div>
  );
}

/** Milliseconds after a snapshot during which pushed lines may repeat its last lines. */
const OVERLAP_MS = 1500;

/**
 * A running job's log: a snapshot over HTTP, then the lines pushed on `job.<id>`; it follows
 * the end unless the reader scrolled up (the Follow button resumes). Lines pushed while a
 * snapshot loads wait for it; the ones it already has are skipped.
 */
function LiveLog({
  jobId,
  tail,
  onTail,
}: {
  jobId: string;
  tail: number;
  onTail: (tail: number) => void;
}) {
  const [lines, setLines] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [follow, setFollow] = useState(true);
  const [unseen, setUnseen] = useState(0);
  const pending = useRef<string[][] | null>(null);
  const overlapUntil = useRef(0);
  const loads = useRef(0);
  const box = useRef<HTMLPreElement>(null);
  const followRef = useRef(follow);
  followRef.current = follow;

  const snapshot = useCallback(async () => {
    const mine = ++loads.current;
    pending.current = pending.current ?? [];
    try {
      const slice = await loadLog(jobId, tail);
      if (mine !== loads.current) return;
      let merged = sliceLines(slice.content, slice.offset === 0);
      for (const batch of pending.current ?? []) merged = appendLines(merged, batch, true);
      pending.current = null;
      overlapUntil.current = Date.now() + OVERLAP_MS;
      setLines(merged);
      setError(null);
    } catch (exc) {
      if (mine !== loads.current) return;
      pending.current = null;
      setError(errorMessage(exc));
    }
  }, [jobId, tail]);

  useEffect(() => {
    void snapshot();
  }, [snapshot]);

  const channelLive = useChannel(`job.${jobId}`, {
    frame(frame) {
      if (frame.event !== "log") return;
      const batch = decodeLogLines(frame.data);
      if (!batch?.length) return;
      if (pending.current !== null) {
        pending.current.push(batch);
        return;
      }
      const overlap = Date.now() < overlapUntil.current;
      setLines((prev) => appendLines(prev ?? [], batch, overlap));
      if (!followRef.current) setUnseen((n) => n + batch.length);
    },
    subscribed: () => void snapshot(),
    reset: () => void snapshot(),
  });
  useInterval(() => void snapshot(), 2000, !channelLive);

  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow && lines) el.scrollTop = el.scrollHeight;
  }, [lines, follow]);

  function onScroll(e: UIEvent<HTMLPreElement>) {
    const el = e.currentTarget;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    if (atEnd !== followRef.current) {
      setFollow(atEnd);
      if (atEnd) setUnseen(0);
    }
  }

  function resume() {
    setFollow(true);
    setUnseen(0);
  }

  return (
    <div>
      <div className="row" style={{ marginBottom: 8 }}>
        <span className="subtle">
          {lines ? `${lines.length.toLocaleString("en-US")} lines` : ""}
        </span>
        {follow ? (
          <span className="badge RUNNING">following</span>
        ) : (
          <span className="badge QUEUED">paused</span>
        )}
        <LiveBadge live={channelLive} />
        <span className="grow" />
        <TailSelect tail={tail} onTail={onTail} />
        <button
          type="button"
          className="small"
          onClick={() => void snapshot()}
          data-testid="log-refresh"
        >
          Refresh
        </button>
      </div>
      <ErrorBanner error={error} />
      <div className="log-wrap">
        <pre
          className="log"
          data-testid="log"
          data-lines={lines?.length ?? 0}
          ref={box}
          onScroll={onScroll}
        >
          {lines ? (lines.length ? lines.join("\n") : "(the log is empty)") : "Loading…"}
        </pre>
        {!follow && (
          <button
            type="button"
            className="small primary log-follow"
            onClick={resume}
            data-testid="log-follow"
          >
            ↓ Follow{unseen > 0 ? ` (${unseen.toLocaleString("en-US")} new)` : ""}
          </button>
        )}
      </div>
    </div>
  );
}
