/** Jobs across strategies: filter, sort (by the headline metrics too, server-side), paginate,
 * tick finished runs to compare them; status changes pushed on `jobs` (polled while the socket
 * is down), progress of the running rows on their `job.<id>` channels. */
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { api, errorMessage, unwrap, unwrapData } from "../api/client";
import { decodeProgress, decodeStatus, useChannel } from "../api/live";
import { ACTIVE, FINAL, JOB_STATUSES, type JobList, type JobStatusView } from "../api/models";
import { CompareButton, SelectBox } from "../components/JobSelection";
import { Empty, ErrorBanner, LiveBadge, Pager, Progress, StatusBadge } from "../components/ui";
import { toggleSelection } from "../lib/compare";
import { ago, dateTime, num, pct, seconds } from "../lib/format";
import { useDebounced, useInterval, useLoad } from "../lib/hooks";

const SORT_KEYS = [
  "created_at",
  "updated_at",
  "name",
  "strategy_id",
  "status",
  "id",
  "total_returns",
  "sharpe",
  "max_drawdown",
  "duration",
] as const;
type SortKey = (typeof SORT_KEYS)[number];
/** The first direction of a column: the best first (least drawdown), names A to Z. */
const FIRST_ORDER: Partial<Record<SortKey, "asc" | "desc">> = {
  max_drawdown: "asc",
  name: "asc",
  strategy_id: "asc",
};

export function JobsPage() {
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const status = JOB_STATUSES.find((s) => s === params.get("status")) ?? "";
  // `strategy`: a substring of the strategy's id, name or the run's title; `strategy_id` (links
  // from elsewhere): exactly that strategy.
  const strategy = params.get("strategy") ?? "";
  const strategyId = params.get("strategy_id") ?? "";
  const orderBy: SortKey = SORT_KEYS.find((k) => k === params.get("order_by")) ?? "created_at";
  const order = params.get("order") === "asc" ? "asc" : "desc";
  const page = Math.max(1, Number(params.get("page") ?? 1));
  const pageSize = Number(params.get("page_size") ?? 25);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string[]>([]);
  const [filter, setFilter] = useState(strategy);
  const update = (changes: Record<string, string | number | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === "") next.delete(k);
      else next.set(k, String(v));
    }
    setParams(next, { replace: true });
  };

  const list = useLoad(
    () =>
      unwrapData(
        api.GET("/api/backtest/jobs", {
          params: {
            query: {
              status: status || undefined,
              strategy: strategy || undefined,
              strategy_id: strategyId || undefined,
              order_by: orderBy,
              order,
              limit: pageSize,
              offset: (page - 1) * pageSize,
            },
          },
        }),
      ),
    [status, strategy, strategyId, orderBy, order, page, pageSize],
  );
  // The filter box writes `strategy` to the URL once typing pauses; a URL changed otherwise
  // (a link, the history) rewrites the box.
  const updateRef = useRef(update);
  updateRef.current = update;
  const pushed = useRef(strategy);
  useEffect(() => {
    if (strategy === pushed.current) return;
    pushed.current = strategy;
    setFilter(strategy);
  }, [strategy]);
  useEffect(() => {
    if (filter === strategy) return;
    const timer = window.setTimeout(() => {
      pushed.current = filter;
      updateRef.current({ strategy: filter, page: 1 });
    }, 300);
    return () => window.clearTimeout(timer);
  }, [filter, strategy]);
  const filtered = Boolean(status || strategy || strategyId);
  const jobs = list.data?.jobs ?? [];
  const active = jobs.some((j) => ACTIVE.includes(j.status));
  const current = useRef<JobList | null>(list.data);
  current.current = list.data;
  const reloadSoon = useDebounced(() => void list.reload(), 300);
  const live = useChannel("jobs", {
    frame(frame) {
      if (frame.event !== "status") return;
      const change = decodeStatus(frame.data);
      const data = current.current;
      if (!change || !data) return;
      const row = data.jobs.find((j) => j.job_id === change.jobId);
      if (row && !FINAL.includes(change.status) && change.kind !== "job.deleted") {
        // In place (the page's order and filter may move it: the reload settles that).
        list.setData({
          ...data,
          jobs: data.jobs.map((j) =>
            j.job_id === change.jobId
              ? { ...j, status: change.status, attempts: change.attempts }
              : j,
          ),
        });
      }
      reloadSoon(); // new, ended or deleted jobs; timestamps; the total
    },
    subscribed: () => void list.reload(),
    reset: () => void list.reload(),
  });
  useInterval(() => void list.reload(), 2000, active && !live);

  async function act(job: JobStatusView, action: "cancel" | "retry" | "delete") {
    setError(null);
    try {
      const path = { params: { path: { job_id: job.job_id } } };
      if (action === "cancel") await unwrap(api.POST("/api/backtest/jobs/{job_id}/cancel", path));
      if (action === "retry") {
        const res = await unwrap(api.POST("/api/backtest/jobs/{job_id}/retry", path));
        navigate(`/jobs/${res.job_id}`);
        return;
      }
      if (action === "delete") {
        if (!window.confirm(`Delete job ${job.job_id}? Its result and log are removed.`)) return;
        await unwrap(api.DELETE("/api/backtest/jobs/{job_id}", path));
      }
      await list.reload();
    } catch (exc) {
      setError(errorMessage(exc));
    }
  }

  const sortHeader = (key: SortKey, label: string, numeric = false, hint?: string) => (
    <th
      className={`sortable${numeric ? " num" : ""}`}
      title={hint}
      onClick={() =>
        update({
          order_by: key,
          order:
            orderBy === key ? (order === "desc" ? "asc" : "desc") : (FIRST_ORDER[key] ?? "desc"),
          page: 1,
        })
      }
      aria-sort={orderBy === key ? (order === "asc" ? "ascending" : "descending") : "none"}
      data-testid={`sort-${key}`}
    >
      {label}
      <span className="sort-mark">{orderBy === key ? (order === "asc" ? " ▲" : " ▼") : ""}</span>
    </th>
  );

  return (
    <div className="page">
      <div className="page-head">
        <h1>Jobs</h1>
        <span className="subtle">{list.data ? `${list.data.total} total` : ""}</span>
        <LiveBadge live={live} testId="jobs-live" />
        <span className="grow" />
        <CompareButton selected={selected} onClear={() => setSelected([])} />
        {strategyId && (
          <button
            type="button"
            className="small ghost"
            onClick={() => update({ strategy_id: null, page: 1 })}
            title="show every strategy's jobs"
          >
            strategy {strategyId} ✕
          </button>
        )}
        <input
          className="search"
          type="search"
          placeholder="Strategy or title contains…"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          aria-label="filter by strategy"
          data-testid="strategy-filter"
        />
        <select
          value={status}
          onChange={(e) => update({ status: e.target.value, page: 1 })}
          aria-label="filter by status"
          data-testid="status-filter"
        >
          <option value="">All statuses</option>
          {JOB_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <button type="button" onClick={() => void list.reload()}>
          Refresh
        </button>
      </div>
      <ErrorBanner error={error || list.error} onClose={error ? () => setError(null) : undefined} />
      <div className="panel">
        {list.loading && !list.data ? (
          <div className="loading">Loading jobs…</div>
        ) : jobs.length === 0 ? (
          <Empty title={filtered ? "No job matches these filters" : "No jobs yet"}>
            <p>
              {filtered
                ? "Clear the filters to see every job."
                : "Open a strategy and run it from the Run panel: its jobs show up here."}
            </p>
            {!filtered && (
              <Link to="/strategies">
                <button type="button" className="primary">
                  Go to strategies
                </button>
              </Link>
            )}
          </Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table className="grid jobs-grid" data-testid="jobs-table">
                <thead>
                  <tr>
                    <th className="check" aria-label="select to compare" />
                    {sortHeader("status", "Status")}
                    {sortHeader("name", "Strategy")}
                    <th title="the saved code version it ran">Ver.</th>
                    <th>Range</th>
                    <th>Universe</th>
                    <th>Engine</th>
                    {sortHeader("total_returns", "Return", true, "total return")}
                    {sortHeader("sharpe", "Sharpe", true, "annualized Sharpe ratio")}
                    {sortHeader("max_drawdown", "Max DD", true, "maximum drawdown")}
                    {sortHeader("duration", "Duration", true, "from start to finish")}
                    {sortHeader("created_at", "Created")}
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {jobs.map((j) => (
                    <tr
                      key={j.job_id}
                      className={`clickable${selected.includes(j.job_id) ? " selected" : ""}`}
                      onClick={() => navigate(`/jobs/${j.job_id}`)}
                      data-job={j.job_id}
                    >
                      <SelectBox
                        job={j}
                        selected={selected}
                        onToggle={() => setSelected((s) => toggleSelection(s, j.job_id))}
                      />
                      <td>
                        <div className="cell-stack">
                          <StatusBadge status={j.status} />
                          {j.status === "RUNNING" && <RowProgress job={j} />}
                          {j.error && (
                            <span
                              className="cell-sub err"
                              title={`${j.error.code}: ${j.error.message ?? ""}`}
                            >
                              {j.error.code}
                            </span>
                          )}
                        </div>
                      </td>
                      <td>
                        <div className="cell-stack">
                          <span>
                            {j.strategy_id === null ? (
                              <span title="inline run (code sent with the request)">
                                {j.strategy_name || "inline run"}
                              </span>
                            ) : (
                              <Link
                                to={`/strategies/${encodeURIComponent(j.strategy_id)}`}
                                onClick={(e) => e.stopPropagation()}
                                title={j.strategy_name ? `name: ${j.strategy_name}` : undefined}
                              >
                                {j.strategy_id}
                              </Link>
                            )}
                            {j.inline && <span className="tag inline-tag">inline</span>}
                          </span>
                          <span className="cell-sub" title={j.title || j.job_id}>
                            {j.title && <span className="run-title">{j.title} · </span>}
                            <Link
                              className="id-link faint"
                              to={`/jobs/${j.job_id}`}
                              onClick={(e) => e.stopPropagation()}
                            >
                              {j.job_id.slice(0, 8)}
                            </Link>
                          </span>
                        </div>
                      </td>
                      <td className="subtle">
                        {j.strategy_version ? `v${j.strategy_version}` : "—"}
                      </td>
                      <td className="range">
                        {j.start_date ? (
                          <div className="cell-stack">
                            <span>{j.start_date}</span>
                            <span className="faint">→ {j.end_date ?? "?"}</span>
                          </div>
                        ) : (
                          "—"
                        )}
                      </td>
                      <td>
                        <span className="truncate" title={(j.universe ?? []).join(", ")}>
                          {j.universe?.length ? j.universe.join(", ") : "—"}
                        </span>
                      </td>
                      <td className="subtle">{j.engine ?? "—"}</td>
                      <td className={`num ${signClass(j.total_returns)}`}>
                        {pct(j.total_returns)}
                      </td>
                      <td className="num">{num(j.sharpe, 2)}</td>
                      <td className={`num${isPositive(j.max_drawdown) ? " down" : ""}`}>
                        {typeof j.max_drawdown === "number" ? pct(-j.max_drawdown) : "—"}
                      </td>
                      <td className="num subtle">{seconds(j.duration_seconds)}</td>
                      <td className="subtle" title={dateTime(j.created_at)}>
                        {ago(j.created_at)}
                      </td>
                      {/* biome-ignore lint/a11y/useKeyWithClickEvents: not an interaction: it keeps clicks on the buttons (and between them) from also opening the row; the buttons are keyboard-operable themselves, and stopping key events here would hide Escape from the dialog. */}
                      <td className="actions" onClick={(e) => e.stopPropagation()}>
                        <div className="row">
                          {ACTIVE.includes(j.status) && (
                            <button
                              type="button"
                              className="small"
                              onClick={() => act(j, "cancel")}
                            >
                              Cancel
                            </button>
                          )}
                          {!ACTIVE.includes(j.status) && (
                            <button
                              type="button"
                              className="small"
                              onClick={() => act(j, "retry")}
                              title="run it again: the same code snapshot and inputs"
                            >
                              Retry
                            </button>
                          )}
                          <button
                            type="button"
                            className="small danger"
                            onClick={() => act(j, "delete")}
                            disabled={ACTIVE.includes(j.status)}
                            title={ACTIVE.includes(j.status) ? "cancel it first" : "delete the job"}
                          >
                            Delete
                          </button>
                        </div>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager
              page={page}
              pageSize={pageSize}
              total={list.data?.total ?? 0}
              onPage={(p) => update({ page: p })}
              onPageSize={(s) => update({ page_size: s, page: 1 })}
            />
          </>
        )}
      </div>
    </div>
  );
}

function signClass(v: number | null | undefined): string {
  return typeof v === "number" ? (v > 0 ? "up" : v < 0 ? "down" : "") : "";
}

function isPositive(v: number | null | undefined): boolean {
  return typeof v === "number" && v > 0;
}

/** A running row's progress, pushed on its `job.<id>` channel. */
function RowProgress({ job }: { job: JobStatusView }) {
  const [pushed, setPushed] = useState<number | null>(null);
  useChannel(`job.${job.job_id}`, {
    frame(frame) {
      if (frame.event !== "progress") return;
      const p = decodeProgress(frame.data);
      if (p) setPushed(p.progress);
    },
  });
  const value = Math.max(pushed ?? 0, job.progress);
  return (
    <div className="row" style={{ width: 96 }}>
      <div className="grow">
        <Progress value={value} />
      </div>
      <span className="mono subtle" style={{ width: 30, textAlign: "right" }}>
        {value.toFixed(0)}%
      </span>
    </div>
  );
}
