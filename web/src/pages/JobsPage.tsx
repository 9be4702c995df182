/** Jobs across strategies: filter, sort, paginate; status changes pushed on `jobs` (polled
 * while the socket is down), progress of the running rows on their `job.<id>` channels. */
import { useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { api, errorMessage, unwrap, unwrapData } from "../api/client";
import { decodeProgress, decodeStatus, useChannel } from "../api/live";
import { ACTIVE, FINAL, JOB_STATUSES, type JobList, type JobStatusView } from "../api/models";
import { Empty, ErrorBanner, LiveBadge, Pager, Progress, StatusBadge } from "../components/ui";
import { ago, dateTime, duration } from "../lib/format";
import { useDebounced, useInterval, useLoad } from "../lib/hooks";

const SORT_KEYS = ["created_at", "updated_at", "name", "strategy_id", "status", "id"] as const;
type SortKey = (typeof SORT_KEYS)[number];

export function JobsPage() {
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const status = JOB_STATUSES.find((s) => s === params.get("status")) ?? "";
  const strategy = params.get("strategy_id") ?? "";
  const orderBy: SortKey = SORT_KEYS.find((k) => k === params.get("order_by")) ?? "created_at";
  const order = params.get("order") === "asc" ? "asc" : "desc";
  const page = Math.max(1, Number(params.get("page") ?? 1));
  const pageSize = Number(params.get("page_size") ?? 25);
  const [error, setError] = useState<string | null>(null);
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
              strategy_id: strategy || undefined,
              order_by: orderBy,
              order,
              limit: pageSize,
              offset: (page - 1) * pageSize,
            },
          },
        }),
      ),
    [status, strategy, orderBy, order, page, pageSize],
  );
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

  const sortHeader = (key: SortKey, label: string) => (
    <th
      className="sortable"
      onClick={() =>
        update({
          order_by: key,
          order: orderBy === key && order === "desc" ? "asc" : "desc",
          page: 1,
        })
      }
      aria-sort={orderBy === key ? (order === "asc" ? "ascending" : "descending") : "none"}
    >
      {label} {orderBy === key ? (order === "asc" ? "▲" : "▼") : ""}
    </th>
  );

  return (
    <div className="page">
      <div className="page-head">
        <h1>Jobs</h1>
        <span className="subtle">{list.data ? `${list.data.total} total` : ""}</span>
        <LiveBadge live={live} testId="jobs-live" />
        <span className="grow" />
        <input
          className="search"
          type="search"
          placeholder="Strategy id…"
          value={strategy}
          onChange={(e) => update({ strategy_id: e.target.value, page: 1 })}
          aria-label="filter by strategy"
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
          <Empty title={status || strategy ? "No job matches these filters" : "No jobs yet"}>
            <p>
              {status || strategy
                ? "Clear the filters to see every job."
                : "Open a strategy and run it from the Run panel: its jobs show up here."}
            </p>
            {!status && !strategy && (
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
              <table className="grid" data-testid="jobs-table">
                <thead>
                  <tr>
                    {sortHeader("status", "Status")}
                    {sortHeader("id", "Job")}
                    {sortHeader("strategy_id", "Strategy")}
                    <th>Progress</th>
                    {sortHeader("created_at", "Created")}
                    <th>Duration</th>
                    <th>Error</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {jobs.map((j) => (
                    <tr
                      key={j.job_id}
                      className="clickable"
                      onClick={() => navigate(`/jobs/${j.job_id}`)}
                    >
                      <td>
                        <StatusBadge status={j.status} />
                      </td>
                      <td>
                        <Link
                          className="id-link"
                          to={`/jobs/${j.job_id}`}
                          onClick={(e) => e.stopPropagation()}
                        >
                          {j.job_id.slice(0, 12)}
                        </Link>
                      </td>
                      <td>
                        {j.strategy_id === null ? (
                          <span title="inline run (code sent with the request)">
                            {j.strategy_name || "inline run"} <span className="subtle">inline</span>
                          </span>
                        ) : (
                          <Link
                            to={`/strategies/${encodeURIComponent(j.strategy_id)}`}
                            onClick={(e) => e.stopPropagation()}
                          >
                            {j.strategy_id}
                          </Link>
                        )}
                      </td>
                      <td style={{ width: 140 }}>
                        {j.status === "RUNNING" ? (
                          <RowProgress job={j} />
                        ) : j.status === "FINISHED" ? (
                          <span className="subtle">{j.total_bars} bars</span>
                        ) : (
                          <span className="subtle">—</span>
                        )}
                      </td>
                      <td title={dateTime(j.created_at)}>{ago(j.created_at)}</td>
                      <td>{duration(j.started_at, j.finished_at)}</td>
                      <td
                        className="subtle"
                        style={{ maxWidth: 320, overflow: "hidden", textOverflow: "ellipsis" }}
                        title={j.error?.message ?? ""}
                      >
                        {j.error ? `${j.error.code}: ${j.error.message ?? ""}` : ""}
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
                            <button type="button" className="small" onClick={() => act(j, "retry")}>
                              Retry
                            </button>
                          )}
                          <button
                            type="button"
                            className="small danger"
                            onClick={() => act(j, "delete")}
                            disabled={ACTIVE.includes(j.status)}
                            title={ACTIVE.includes(j.status) ? "cancel it first" : ""}
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
    <div className="row">
      <div className="grow">
        <Progress value={value} />
      </div>
      <span className="mono subtle" style={{ width: 34, textAlign: "right" }}>
        {value.toFixed(0)}%
      </span>
    </div>
  );
}
