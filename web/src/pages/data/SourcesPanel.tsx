/**
 * The data sources (`GET /api/data/sources`) and catalog updates from them (admins): queue an
 * update of instruments' bars and of indexes' membership (`POST /api/data/sources/{source}/
 * update`, a job on the worker pool), follow it live on its `job.{id}` channel (polling every
 * 2 s without one), cancel or retry it, read its report; and the scheduled updates
 * (`GET /api/data/schedule`, the server's read-only `DATA_UPDATE_*` settings).
 */
import { type FormEvent, Fragment, type RefObject, useEffect, useRef, useState } from "react";
import { api, errorMessage, unwrap, unwrapData } from "../../api/client";
import { decodeLogLines, decodeProgress, useChannel } from "../../api/live";
import { ACTIVE } from "../../api/models";
import { Empty, ErrorBanner, LiveBadge, Progress, StatusBadge } from "../../components/ui";
import { ago, dateTime, int, seconds } from "../../lib/format";
import { useInterval, useLoad } from "../../lib/hooks";
import {
  givesIndexes,
  indexesLacking,
  indexPlaceholder,
  updateReportIndexes,
} from "../../lib/indexes";
import { sliceLines } from "../../lib/jobLive";
import { shiftYears } from "../../lib/runForm";
import {
  describeCron,
  indexesText,
  instrumentsText,
  nextRun,
  SCHEDULE_SETTINGS,
  scheduleWindow,
  targetsLine,
  type UpdateSchedule,
} from "../../lib/schedule";
import {
  parseIds,
  type SourceView,
  type UpdateStatus,
  updateReportRows,
  updateSource,
} from "../../lib/upload";

const PROVIDES: Record<string, string> = {
  daily_bars: "daily bars",
  adjustment_factors: "adjustment factors",
  instruments: "instruments",
  listing_dates: "listing dates",
  suspensions: "suspensions",
  st_status: "ST status",
  limit_prices: "limit prices",
  index_constituents: "index constituents",
  files: "files",
};
const MARKETS: Record<string, string> = { us: "US", cn: "China A" };

const today = () => new Date().toISOString().slice(0, 10);

export function SourcesPanel({
  isAdmin,
  onUpdated,
  onOpen,
  onOpenIndex,
}: {
  isAdmin: boolean;
  onUpdated: () => void;
  onOpen: (orderBookId: string) => void;
  onOpenIndex: (indexId: string) => void;
}) {
  const sources = useLoad(() => unwrapData(api.GET("/api/data/sources")), []);
  const updates = useLoad(
    async () =>
      isAdmin
        ? unwrapData(api.GET("/api/data/updates", { params: { query: { limit: 20 } } }))
        : null,
    [isAdmin],
  );
  const schedule = useLoad(
    async () => (isAdmin ? unwrapData(api.GET("/api/data/schedule")) : null),
    [isAdmin],
  );
  const [source, setSource] = useState("");
  const [followed, setFollowed] = useState<string | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const list = sources.data?.sources ?? [];
  const updatable = list.filter((s) => s.updatable);
  const chosen = source || updatable.find((s) => s.available)?.name || "";
  const anyActive = (updates.data?.jobs ?? []).some((j) => ACTIVE.includes(j.status));
  useInterval(() => void updates.reload(), 5000, anyActive);
  // The next run moves on once a scheduled time has come (and "in 5 min" ages).
  useInterval(() => void schedule.reload(), 60_000, !!schedule.data?.enabled);

  return (
    <>
      <div className="panel" data-testid="sources">
        <div className="panel-head">
          <h2>Sources</h2>
          <span className="subtle">where the catalog's data comes from</span>
        </div>
        <ErrorBanner error={sources.error} />
        <div className="table-wrap">
          <table className="grid sources-table">
            <thead>
              <tr>
                <th>Source</th>
                <th>Markets</th>
                <th>Provides</th>
                <th>Library</th>
                <th>Status</th>
                <th className="actions" />
              </tr>
            </thead>
            <tbody>
              {list.map((s) => (
                <SourceRow
                  key={s.name}
                  source={s}
                  canUpdate={isAdmin}
                  onUpdate={() => {
                    setSource(s.name);
                    formRef.current?.scrollIntoView({ behavior: "smooth", block: "nearest" });
                    formRef.current?.querySelector<HTMLInputElement>("input[name=ids]")?.focus();
                  }}
                />
              ))}
              {!sources.data && !sources.error && (
                <tr>
                  <td colSpan={6} className="subtle">
                    Loading the sources…
                  </td>
                </tr>
              )}
              {sources.data && list.length === 0 && (
                <tr>
                  <td colSpan={6} className="subtle">
                    No data source is configured.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </div>

      {isAdmin ? (
        <div className="sources-grid">
          <div className="sources-side">
            <UpdateForm
              formRef={formRef}
              sources={updatable}
              source={chosen}
              onSource={setSource}
              onQueued={(jobId) => {
                setFollowed(jobId);
                void updates.reload();
              }}
            />
            <ScheduleBox schedule={schedule.data} error={schedule.error} />
            <RecentUpdates
              jobs={updates.data?.jobs ?? []}
              total={updates.data?.total ?? 0}
              error={updates.error}
              selected={followed}
              onSelect={setFollowed}
            />
          </div>
          <div className="panel">
            {followed ? (
              <UpdateDetail
                key={followed}
                jobId={followed}
                onEnded={(finished) => {
                  void updates.reload();
                  if (finished) onUpdated();
                }}
                onRetried={(jobId) => {
                  setFollowed(jobId);
                  void updates.reload();
                }}
                onOpen={onOpen}
                onOpenIndex={onOpenIndex}
              />
            ) : (
              <Empty title="No update selected">
                <p>Queue an update, or pick one from the recent updates, to follow it here.</p>
              </Empty>
            )}
          </div>
        </div>
      ) : (
        <div className="panel">
          <Empty title="Updates are for admins">
            <p>The catalog is shared: only admins update it from a source.</p>
          </Empty>
        </div>
      )}
    </>
  );
}

function SourceRow({
  source: s,
  canUpdate,
  onUpdate,
}: {
  source: SourceView;
  canUpdate: boolean;
  onUpdate: () => void;
}) {
  return (
    <tr data-testid={`source-${s.name}`}>
      <td className="source-cell">
        <div className="cell-stack">
          <span className="strong mono">{s.name}</span>
          <span className="subtle">{s.title}</span>
        </div>
      </td>
      <td>{s.markets.map((m) => MARKETS[m] ?? m).join(", ") || "—"}</td>
      <td className="provides-cell">
        <div className="tag-list">
          {s.provides.map((p) => (
            <span key={p} className="tag">
              {PROVIDES[p] ?? p}
            </span>
          ))}
        </div>
      </td>
      <td>
        {s.package ? (
          <div className="cell-stack">
            <span className="mono">{s.package}</span>
            {s.extra && <span className="hint">quantdesk[{s.extra}]</span>}
          </div>
        ) : (
          <span className="subtle">built in</span>
        )}
      </td>
      <td>
        {s.available ? (
          <span className="avail on">available</span>
        ) : (
          <span
            className="avail"
            title={s.extra ? `pip install 'quantdesk[${s.extra}]'` : undefined}
          >
            not installed
          </span>
        )}
      </td>
      <td className="actions">
        {s.updatable ? (
          <button
            type="button"
            className="small"
            disabled={!s.available || !canUpdate}
            title={
              !s.available
                ? `install it first: pip install 'quantdesk[${s.extra ?? s.name}]'`
                : !canUpdate
                  ? "updates are for admins"
                  : "update instruments from this source"
            }
            onClick={onUpdate}
            data-testid={`update-${s.name}`}
          >
            Update…
          </button>
        ) : (
          <span className="hint">{s.name === "upload" ? "Import tab" : "bundled"}</span>
        )}
      </td>
    </tr>
  );
}

function UpdateForm({
  formRef,
  sources,
  source,
  onSource,
  onQueued,
}: {
  formRef: RefObject<HTMLFormElement | null>;
  sources: SourceView[];
  source: string;
  onSource: (name: string) => void;
  onQueued: (jobId: string) => void;
}) {
  const [ids, setIds] = useState("");
  const [indexIds, setIndexIds] = useState("");
  const [withMembers, setWithMembers] = useState(false);
  const [start, setStart] = useState(() => shiftYears(today(), -1));
  const [end, setEnd] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const parsed = parseIds(ids);
  const info = sources.find((s) => s.name === source);
  // Index ids count only for a source that gives membership.
  const indexes = givesIndexes(info);
  const parsedIndexes = indexes ? parseIds(indexIds) : [];
  const lacking = indexesLacking(info?.indexes, parsedIndexes);
  const canSubmit =
    !busy &&
    !!info?.available &&
    (parsed.length > 0 || parsedIndexes.length > 0) &&
    lacking.length === 0 &&
    !!start &&
    (!end || end >= start);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!canSubmit) return;
    setBusy(true);
    setError(null);
    try {
      const queued = await unwrapData(
        api.POST("/api/data/sources/{source}/update", {
          params: { path: { source } },
          body: {
            order_book_ids: parsed,
            index_ids: parsedIndexes,
            with_members: withMembers && parsedIndexes.length > 0,
            start_date: start,
            end_date: end || null,
          },
        }),
      );
      onQueued(queued.job_id);
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel" ref={formRef} onSubmit={submit} data-testid="update-form">
      <div className="panel-head">
        <h2>Update the catalog</h2>
        <span className="subtle">a job on the worker pool</span>
      </div>
      <div className="panel-body">
        <ErrorBanner error={error} onClose={() => setError(null)} />
        <div className="form-grid">
          <label className="field">
            <span>Source</span>
            <select name="source" value={source} onChange={(e) => onSource(e.target.value)}>
              {sources.map((s) => (
                <option key={s.name} value={s.name} disabled={!s.available} title={s.title}>
                  {s.name}
                  {s.available ? "" : " (not installed)"}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>
              Instruments{" "}
              <span className="faint">
                {parsed.length ? `${parsed.length} id${parsed.length > 1 ? "s" : ""}` : ""}
              </span>
            </span>
            <input
              name="ids"
              value={ids}
              placeholder={indexes ? "600519.XSHG, or blank" : "AAPL, MSFT or 600519.XSHG"}
              onChange={(e) => setIds(e.target.value)}
            />
          </label>
          {indexes && (
            <>
              <label className="field">
                <span>
                  Index ids{" "}
                  <span className="faint">
                    {parsedIndexes.length
                      ? `${parsedIndexes.length} ${parsedIndexes.length > 1 ? "indexes" : "index"}`
                      : "membership"}
                  </span>
                </span>
                <input
                  name="index_ids"
                  value={indexIds}
                  placeholder={indexPlaceholder(info?.indexes)}
                  title={
                    info?.indexes?.includes("*")
                      ? "any index of the source's market, comma or space separated"
                      : `${source} gives the membership of ${info?.indexes?.join(", ")}`
                  }
                  className={lacking.length ? "invalid" : undefined}
                  onChange={(e) => setIndexIds(e.target.value)}
                />
                {lacking.length > 0 && (
                  <span className="field-error">
                    {source} has no membership of {lacking.join(", ")}
                  </span>
                )}
              </label>
              <label
                className={`check-row members-check${parsedIndexes.length ? "" : " off"}`}
                title={parsedIndexes.length ? undefined : "give index ids first"}
              >
                <input
                  type="checkbox"
                  name="with_members"
                  checked={withMembers}
                  disabled={parsedIndexes.length === 0}
                  onChange={(e) => setWithMembers(e.target.checked)}
                />
                <span>
                  <span className="strong">With members' bars</span>
                  <span className="hint block">fetch each member's bars too</span>
                </span>
              </label>
            </>
          )}
          <label className="field">
            <span>From</span>
            <input
              type="date"
              name="start"
              value={start}
              max={end || today()}
              onChange={(e) => setStart(e.target.value)}
              required
            />
          </label>
          <label className="field">
            <span>
              To <span className="faint">blank: today</span>
            </span>
            <input
              type="date"
              name="end"
              value={end}
              min={start}
              className={end && end < start ? "invalid" : undefined}
              onChange={(e) => setEnd(e.target.value)}
            />
          </label>
        </div>
        <div className="row update-actions">
          <span className="hint grow">
            Fetched bars pass the import rules; they replace stored bars on the same dates.
            {parsedIndexes.length > 0 &&
              " Fetched compositions replace stored ones of the same index and date."}
          </span>
          <button
            type="submit"
            className="primary"
            disabled={!canSubmit}
            data-testid="queue-update"
          >
            {busy ? "Queuing…" : "Queue update"}
          </button>
        </div>
      </div>
    </form>
  );
}

function RecentUpdates({
  jobs,
  total,
  error,
  selected,
  onSelect,
}: {
  jobs: UpdateStatus[];
  total: number;
  error: string | null;
  selected: string | null;
  onSelect: (jobId: string) => void;
}) {
  return (
    <div className="panel" data-testid="recent-updates">
      <div className="panel-head">
        <h2>Recent updates</h2>
        <span className="subtle">{total ? `${int(total)} in all` : ""}</span>
      </div>
      <ErrorBanner error={error} />
      {jobs.length === 0 ? (
        <div className="panel-body subtle">No update yet.</div>
      ) : (
        <div className="table-wrap">
          <table className="grid compact">
            <thead>
              <tr>
                <th>Queued</th>
                <th>Source · what · range</th>
                <th>Status</th>
                <th className="num">Done</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((j) => (
                <tr
                  key={j.job_id}
                  className={`clickable${j.job_id === selected ? " selected" : ""}`}
                  onClick={() => onSelect(j.job_id)}
                >
                  <td title={dateTime(j.created_at)}>{ago(j.created_at)}</td>
                  <td>
                    <div className="cell-stack">
                      <span className="update-source">
                        <span className="mono">{j.source ?? updateSource(j.strategy_name)}</span>
                        {j.scheduled && (
                          <span
                            className="tag scheduled-tag"
                            title="queued by the schedule (DATA_UPDATE_CRON)"
                          >
                            scheduled
                          </span>
                        )}
                      </span>
                      <span
                        className="cell-sub update-targets mono"
                        title={updateTargetsTitle(j)}
                        data-testid="update-targets"
                      >
                        {targetsLine(j)}
                      </span>
                      <span className="cell-sub">
                        {j.start_date ?? "—"} → {j.end_date ?? "—"}
                      </span>
                    </div>
                  </td>
                  <td>
                    <StatusBadge status={j.status} />
                  </td>
                  <td className="num">
                    {int(j.current_bar)}/{int(j.total_bars)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** Lines of a followed update's log kept, and bytes of an ended one's read. */
const LOG_LINES = 200;
const LOG_BYTES = 20_000;

function UpdateDetail({
  jobId,
  onEnded,
  onRetried,
  onOpen,
  onOpenIndex,
}: {
  jobId: string;
  onEnded: (finished: boolean) => void;
  onRetried: (jobId: string) => void;
  onOpen: (orderBookId: string) => void;
  onOpenIndex: (indexId: string) => void;
}) {
  const status = useLoad(
    () =>
      unwrapData(api.GET("/api/data/updates/{job_id}", { params: { path: { job_id: jobId } } })),
    [jobId],
  );
  const [lines, setLines] = useState<string[]>([]);
  const [busy, setBusy] = useState<"cancel" | "retry" | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const job = status.data;
  const active = job ? ACTIVE.includes(job.status) : true;
  // An ended update's log from the server (a running one's lines are pushed).
  const endedStatus = job && !active ? job.status : null;
  const savedLog = useLoad(async () => {
    if (endedStatus === null) return null;
    const slice = await unwrap(
      api.GET("/api/backtest/jobs/{job_id}/log", {
        params: { path: { job_id: jobId }, query: { tail: LOG_BYTES } },
      }),
    );
    return typeof slice === "string"
      ? sliceLines(slice, true)
      : sliceLines(slice.content, slice.offset === 0);
  }, [jobId, endedStatus]);
  const logLines = savedLog.data ?? lines;
  const live = useChannel(active ? `job.${jobId}` : null, {
    history: true,
    frame(frame) {
      if (frame.event === "progress") {
        const p = decodeProgress(frame.data);
        if (p && status.data) {
          status.setData({
            ...status.data,
            status: "RUNNING",
            progress: Math.max(status.data.progress, p.progress),
            current_bar: Math.max(status.data.current_bar, p.currentBar),
            total_bars: p.totalBars || status.data.total_bars,
          });
        }
      } else if (frame.event === "log") {
        const more = decodeLogLines(frame.data);
        if (more?.length) setLines((prev) => [...prev, ...more].slice(-LOG_LINES));
      } else if (frame.event === "status") {
        void status.reload();
      }
    },
    subscribed: () => void status.reload(),
    reset: () => void status.reload(),
  });
  useInterval(() => void status.reload(), 2000, active && !live);

  // Tell the page once the job has ended (after having been seen active, or at once).
  const lastStatus = useRef<string | null>(null);
  const ended = useRef(onEnded);
  ended.current = onEnded;
  useEffect(() => {
    if (!job) return;
    const was = lastStatus.current;
    lastStatus.current = job.status;
    if (was !== null && was !== job.status && !ACTIVE.includes(job.status)) {
      ended.current(job.status === "FINISHED");
    }
  }, [job]);

  const act = async (what: "cancel" | "retry") => {
    setBusy(what);
    setActionError(null);
    try {
      if (what === "cancel") {
        await unwrap(
          api.POST("/api/data/updates/{job_id}/cancel", { params: { path: { job_id: jobId } } }),
        );
        await status.reload();
      } else {
        const again = await unwrapData(
          api.POST("/api/data/updates/{job_id}/retry", { params: { path: { job_id: jobId } } }),
        );
        onRetried(again.job_id);
      }
    } catch (exc) {
      setActionError(errorMessage(exc));
    } finally {
      setBusy(null);
    }
  };

  if (!job) {
    return (
      <div className="panel-body">
        <ErrorBanner error={status.error} />
        {!status.error && <div className="loading">Loading the update…</div>}
      </div>
    );
  }
  return (
    <div data-testid="update-detail">
      <div className="panel-head wrap">
        <h2>Update</h2>
        <span className="mono subtle">{jobId.slice(0, 12)}</span>
        <StatusBadge status={job.status} />
        {active && <LiveBadge live={live} />}
        <span className="grow" />
        {active ? (
          <button
            type="button"
            className="danger small"
            disabled={busy !== null}
            onClick={() => void act("cancel")}
            data-testid="cancel-update"
          >
            {busy === "cancel" ? "Cancelling…" : "Cancel"}
          </button>
        ) : (
          <button
            type="button"
            className="small"
            disabled={busy !== null}
            onClick={() => void act("retry")}
            data-testid="retry-update"
            title="queue the same update again"
          >
            {busy === "retry" ? "Queuing…" : "Retry"}
          </button>
        )}
      </div>
      <div className="panel-body update-body">
        <ErrorBanner error={actionError} onClose={() => setActionError(null)} />
        <dl className="kv">
          <dt>Source</dt>
          <dd>{job.source ?? updateSource(job.strategy_name)}</dd>
          <dt>Instruments</dt>
          <dd>{job.order_book_ids?.join(", ") || "—"}</dd>
          {(job.index_ids?.length ?? 0) > 0 && (
            <>
              <dt>Indexes</dt>
              <dd data-testid="update-indexes">{job.index_ids?.join(", ")}</dd>
              <dt>Members' bars</dt>
              <dd>{job.with_members ? "fetched too" : "not fetched"}</dd>
            </>
          )}
          <dt>Range</dt>
          <dd>
            {job.start_date ?? "—"} → {job.end_date ?? "—"}
          </dd>
          <dt>Queued</dt>
          <dd>
            {dateTime(job.created_at)}
            {job.scheduled && <span className="tag scheduled-tag">scheduled</span>}
          </dd>
          {job.duration_seconds != null && (
            <>
              <dt>{active ? "Running for" : "Took"}</dt>
              <dd>{seconds(job.duration_seconds)}</dd>
            </>
          )}
          {job.attempts > 1 && (
            <>
              <dt>Attempts</dt>
              <dd>{job.attempts}</dd>
            </>
          )}
        </dl>
        <div className="update-progress">
          <div className="grow">
            <Progress value={job.progress} large testId="update-progress" />
          </div>
          <span className="mono subtle">
            {int(job.current_bar)} / {int(job.total_bars)}{" "}
            {job.index_ids?.length ? "indexes and instruments" : "instruments"} ·{" "}
            {job.progress.toFixed(0)}%
          </span>
        </div>
        {(job.error || job.error_message) && (
          <div className="error-banner" role="alert" data-testid="update-error">
            <div className="grow">
              <strong>{job.status === "CANCELLED" ? "Cancelled" : "Failed"}</strong>
              <div className="banner-message">{job.error?.message ?? job.error_message}</div>
            </div>
            {job.error?.code && <span className="code">{job.error.code}</span>}
          </div>
        )}
        <UpdateReportTable status={job} onOpen={onOpen} onOpenIndex={onOpenIndex} />
        {logLines.length > 0 && (
          <>
            <h3 className="report-title">Log</h3>
            <pre className="log update-log" data-testid="update-log">
              {logLines.join("\n")}
            </pre>
          </>
        )}
      </div>
    </div>
  );
}

function UpdateReportTable({
  status,
  onOpen,
  onOpenIndex,
}: {
  status: UpdateStatus;
  onOpen: (orderBookId: string) => void;
  onOpenIndex: (indexId: string) => void;
}) {
  const rows = updateReportRows(status.report);
  const indexes = updateReportIndexes(status.report);
  if (status.status !== "FINISHED") return null;
  if (rows.length === 0 && indexes.length === 0)
    return <p className="subtle">The update wrote nothing.</p>;
  return (
    <>
      <h3 className="report-title">Report</h3>
      {indexes.length > 0 && (
        <div className="table-wrap report-table">
          <table className="grid compact" data-testid="update-report-indexes">
            <thead>
              <tr>
                <th>Index</th>
                <th className="num" title="compositions new to the catalog">
                  New compositions
                </th>
                <th className="num" title="compositions replacing a stored one of the same date">
                  Replaced
                </th>
                <th>First</th>
                <th>Last</th>
              </tr>
            </thead>
            <tbody>
              {indexes.map((r) => (
                <tr key={r.index_id}>
                  <td className="mono">
                    <button
                      type="button"
                      className="link-button"
                      onClick={() => onOpenIndex(r.index_id)}
                      title="its members and changes on the Indexes tab"
                    >
                      {r.index_id}
                    </button>
                  </td>
                  <td className={`num${r.added ? " up" : ""}`}>{int(r.added)}</td>
                  <td className="num">{int(r.replaced)}</td>
                  <td>{r.first ?? "—"}</td>
                  <td>{r.last ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {rows.length > 0 && (
        <div className="table-wrap report-table">
          <table className="grid compact" data-testid="update-report">
            <thead>
              <tr>
                <th>ID</th>
                <th className="num">Fetched</th>
                <th className="num">Written</th>
                <th className="num">Rejected</th>
                <th className="num">Missing sessions</th>
                <th>First</th>
                <th>Last</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.order_book_id}>
                  <td className="mono">
                    {r.rows_accepted ? (
                      <button
                        type="button"
                        className="link-button"
                        onClick={() => onOpen(r.order_book_id)}
                      >
                        {r.order_book_id}
                      </button>
                    ) : (
                      r.order_book_id
                    )}
                  </td>
                  <td className="num">{int(r.rows_in)}</td>
                  <td className={`num${r.rows_accepted ? " up" : ""}`}>{int(r.rows_accepted)}</td>
                  <td className={`num${r.rejected ? " down" : ""}`}>{int(r.rejected)}</td>
                  <td className={`num${r.missing_sessions ? " warn" : ""}`}>
                    {int(r.missing_sessions)}
                  </td>
                  <td>{r.first ?? "—"}</td>
                  <td>{r.last ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** A list row's full instruments and indexes (its tooltip; the row shows the first few). */
function updateTargetsTitle(j: UpdateStatus): string {
  const parts = [];
  if (j.order_book_ids?.length) parts.push(`instruments: ${j.order_book_ids.join(", ")}`);
  if (j.index_ids?.length) {
    parts.push(
      `indexes: ${j.index_ids.join(", ")}${j.with_members ? " (with their members' bars)" : ""}`,
    );
  }
  return parts.join("\n");
}

/** The scheduled updates (`DATA_UPDATE_CRON` and co., server settings: read-only here). */
function ScheduleBox({
  schedule,
  error,
}: {
  schedule: UpdateSchedule | null | undefined;
  error: string | null;
}) {
  const on = !!schedule?.enabled;
  return (
    <section className="panel schedule-box" aria-label="Scheduled updates" data-testid="schedule">
      <div className="panel-head">
        <h2>Scheduled updates</h2>
        {schedule && (
          <span className={`avail${on ? " on" : ""}`} data-testid="schedule-state">
            {on ? "on" : schedule.cron ? "off" : "none"}
          </span>
        )}
      </div>
      <ErrorBanner error={error} />
      {!schedule && !error && <div className="panel-body subtle">Loading the schedule…</div>}
      {schedule && !schedule.cron && <NoSchedule />}
      {schedule?.cron && <ScheduleDetail schedule={schedule} />}
    </section>
  );
}

function NoSchedule() {
  return (
    <div className="panel-body schedule-body">
      <p className="schedule-none">No updates are scheduled.</p>
      <p className="hint">To queue them on a schedule, set on the server:</p>
      <dl className="kv schedule-settings">
        {SCHEDULE_SETTINGS.map((s) => (
          <Fragment key={s.name}>
            <dt>
              <code>{s.name}</code>
            </dt>
            <dd>{s.does}</dd>
          </Fragment>
        ))}
      </dl>
      <p className="hint">
        Optional: <code>DATA_UPDATE_WITH_MEMBERS</code>, <code>DATA_UPDATE_DAYS</code> (the window),{" "}
        <code>DATA_UPDATE_TZ</code> (the cron's zone).
      </p>
    </div>
  );
}

function ScheduleDetail({ schedule: s }: { schedule: UpdateSchedule }) {
  const reading = describeCron(s.cron);
  const next = nextRun(s);
  const instruments = instrumentsText(s, 8);
  const indexes = indexesText({ ...s, with_members: false }, 8);
  return (
    <div className="panel-body schedule-body">
      {s.problem && (
        <div className="schedule-problem" role="alert" data-testid="schedule-problem">
          <strong>Scheduled updates are off:</strong> {s.problem}
        </div>
      )}
      <dl className="kv">
        <dt>When</dt>
        <dd data-testid="schedule-cron">
          <code>{s.cron}</code>
          {reading && <span className="schedule-reading">{reading}</span>}
        </dd>
        <dt>Time zone</dt>
        <dd>{s.timezone}</dd>
        <dt>Source</dt>
        <dd>{s.source}</dd>
        <dt>Instruments</dt>
        <dd title={s.order_book_ids.join(", ") || undefined}>{instruments || "—"}</dd>
        <dt>Indexes</dt>
        <dd title={s.index_ids.join(", ") || undefined}>
          {indexes || "—"}
          {indexes && (
            <span className="schedule-reading">
              {s.with_members ? "with their members' bars" : "membership only"}
            </span>
          )}
        </dd>
        <dt>Window</dt>
        <dd>
          {scheduleWindow(s.days)}
          <span className="schedule-reading">further back for an instrument that lags</span>
        </dd>
        <dt>Next run</dt>
        <dd data-testid="schedule-next">
          {next ? (
            <>
              <span title={next.localZone}>{next.local} your time</span>
              {next.zoned && (
                <span className="schedule-reading">
                  {next.zoned} {next.zone}
                </span>
              )}
              {next.until && <span className="schedule-reading">{next.until}</span>}
            </>
          ) : (
            "—"
          )}
        </dd>
      </dl>
      <p className="hint">Set by the server's DATA_UPDATE_* settings (read-only here).</p>
    </div>
  );
}
