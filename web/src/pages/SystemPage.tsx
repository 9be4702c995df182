/** The platform at a glance, live: CPU and memory charts and the latest host and queue figures
 * (`system.status` ticks), the processes (admins: `system.processes`) and the event feed
 * (history from `GET /api/events`, then the `events` channel), newest first. */
import type { EChartsCoreOption } from "echarts/core";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router-dom";
import { getSession } from "../api/auth";
import { api, errorMessage, unwrapData } from "../api/client";
import {
  decodeEventView,
  decodeProcesses,
  decodeTick,
  type SystemTick,
  useChannel,
} from "../api/live";
import type { EventView, ProcessView } from "../api/models";
import { axisStyle, baseOption, CHART_COLORS, EChart } from "../components/EChart";
import { Empty, ErrorBanner, LiveBadge } from "../components/ui";
import { kindTone, matchesFilter, mergeEvents, summarize } from "../lib/events";
import { ago, clockTime, num, uptime } from "../lib/format";
import { useInterval } from "../lib/hooks";

/** Ticks kept for the charts (2 s apart: 10 minutes). */
const MAX_TICKS = 300;
const KIND_PREFIXES = ["job.", "strategy.", "data.", "auth.", "user.", "key.", "worker."];
const PAGE = 100;

export function SystemPage() {
  const session = getSession();
  const [ticks, setTicks] = useState<SystemTick[]>([]);
  const live = useChannel("system.status", {
    frame(frame) {
      if (frame.event !== "tick") return;
      const tick = decodeTick(frame.data, frame.ts || Date.now() / 1000);
      if (tick) setTicks((prev) => [...prev, tick].slice(-MAX_TICKS));
    },
  });
  const latest = ticks.at(-1) ?? null;
  return (
    <div className="page">
      <div className="page-head">
        <h1>System</h1>
        <LiveBadge live={live} testId="system-live" />
        <span className="grow" />
        <span className="subtle">
          {latest
            ? `updated ${clockTime(new Date(latest.ts * 1000).toISOString())}`
            : live
              ? "waiting for the first tick…"
              : "connecting…"}
        </span>
      </div>
      <Figures tick={latest} />
      <div className="system-charts">
        <UsagePanel
          title="CPU"
          ticks={ticks}
          value={cpuOf}
          color={CHART_COLORS.strategy}
          testId="cpu-chart"
          detail={latest?.cpuCount ? `${latest.cpuCount} cores` : ""}
          live={live}
        />
        <UsagePanel
          title="Memory"
          ticks={ticks}
          value={memoryOf}
          color={CHART_COLORS.benchmark}
          testId="memory-chart"
          detail={
            latest?.memoryUsedMb != null && latest.memoryTotalMb != null
              ? `${gb(latest.memoryUsedMb)} of ${gb(latest.memoryTotalMb)} GB`
              : ""
          }
          live={live}
        />
      </div>
      <EventFeed admin={session?.isAdmin ?? false} />
      {session?.isAdmin && <Processes />}
    </div>
  );
}

const cpuOf = (t: SystemTick) => t.cpuPercent;
const memoryOf = (t: SystemTick) => t.memoryPercent;

function gb(mb: number): string {
  return (mb / 1024).toFixed(1);
}

function Figures({ tick }: { tick: SystemTick | null }) {
  const jobs = tick?.jobs ?? {};
  const load = tick?.load ?? [];
  const pct = (v: number | null | undefined) => (v == null ? "—" : `${v.toFixed(1)}%`);
  const cards: [string, string, string, string?][] = [
    [
      "CPU",
      pct(tick?.cpuPercent),
      tone(tick?.cpuPercent),
      tick?.cpuCount ? `${tick.cpuCount} cores` : undefined,
    ],
    [
      "Memory",
      pct(tick?.memoryPercent),
      tone(tick?.memoryPercent),
      tick?.memoryUsedMb != null && tick.memoryTotalMb != null
        ? `${gb(tick.memoryUsedMb)} / ${gb(tick.memoryTotalMb)} GB`
        : undefined,
    ],
    [
      "Disk",
      pct(tick?.diskPercent),
      tone(tick?.diskPercent),
      tick?.diskFreeGb != null ? `${num(tick.diskFreeGb, 1)} GB free` : undefined,
    ],
    [
      "Load",
      load.length ? num(load[0], 2) : "—",
      "",
      load.length === 3 ? `5 min ${num(load[1], 2)} · 15 min ${num(load[2], 2)}` : undefined,
    ],
    [
      "Queue",
      tick ? String(tick.queueDepth ?? jobs.QUEUED ?? 0) : "—",
      "",
      tick ? `${tick.running ?? jobs.RUNNING ?? 0} running` : undefined,
    ],
    [
      "Jobs done",
      tick ? String(jobs.FINISHED ?? 0) : "—",
      "",
      tick ? `${jobs.FAILED ?? 0} failed · ${jobs.CANCELLED ?? 0} cancelled` : undefined,
    ],
    ["Host uptime", uptime(tick?.uptimeSeconds), "", undefined],
    [
      "API uptime",
      uptime(tick?.apiUptimeSeconds),
      "",
      tick?.subscribers != null ? `${tick.subscribers} live clients` : undefined,
    ],
  ];
  return (
    <div className="cards system-cards" data-testid="system-figures">
      {cards.map(([label, value, cls, sub]) => (
        <div key={label} className="card">
          <div className="label">{label}</div>
          <div className={`value ${cls}`}>{value}</div>
          <div className="sub">{sub ?? " "}</div>
        </div>
      ))}
    </div>
  );
}

/** Red above 90 %, amber above 75 %. */
function tone(v: number | null | undefined): string {
  if (v == null) return "";
  return v >= 90 ? "down" : v >= 75 ? "warn" : "";
}

function UsagePanel({
  title,
  ticks,
  value,
  color,
  testId,
  detail,
  live,
}: {
  title: string;
  ticks: SystemTick[];
  value: (tick: SystemTick) => number;
  color: string;
  testId: string;
  detail: string;
  live: boolean;
}) {
  const last = ticks.at(-1);
  const option = useMemo<EChartsCoreOption>(() => {
    const base = baseOption();
    const axis = axisStyle();
    return {
      ...base,
      tooltip: {
        ...(typeof base.tooltip === "object" ? base.tooltip : {}),
        axisPointer: { type: "line", lineStyle: { color: "#5d6679" } },
        valueFormatter: (v: unknown) => (typeof v === "number" ? `${v.toFixed(1)}%` : "—"),
      },
      grid: { left: 44, right: 14, top: 12, bottom: 26 },
      xAxis: {
        type: "category",
        boundaryGap: false,
        data: ticks.map((t) => clockTime(new Date(t.ts * 1000).toISOString())),
        ...axis,
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        min: 0,
        max: 100,
        splitNumber: 4,
        ...axis,
        axisLabel: { color: CHART_COLORS.text, formatter: "{value}%" },
      },
      series: [
        {
          name: title,
          type: "line",
          data: ticks.map(value),
          showSymbol: ticks.length < 2,
          symbolSize: 5,
          lineStyle: { color, width: 1.6 },
          itemStyle: { color },
          areaStyle: { color, opacity: 0.12 },
        },
      ],
    };
  }, [ticks, value, color, title]);
  return (
    <div className="panel">
      <div className="panel-head">
        <h2>{title}</h2>
        <span className="subtle">{detail}</span>
        <span className="grow" />
        <span className="mono figure">{last ? `${value(last).toFixed(1)}%` : "—"}</span>
      </div>
      <div className="panel-body chart-box">
        <EChart option={option} height={180} testId={testId} />
        {ticks.length === 0 && (
          <div className="chart-empty">
            {live ? "Waiting for the first tick (every 2 s)…" : "Needs the live connection…"}
          </div>
        )}
      </div>
    </div>
  );
}

/** The platform's processes (admins): `GET /api/processes`, then `system.processes`. */
function Processes() {
  const [processes, setProcesses] = useState<ProcessView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      const list = await unwrapData(api.GET("/api/processes"));
      setProcesses(list.processes);
      setError(null);
    } catch (exc) {
      setError(errorMessage(exc));
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  const live = useChannel("system.processes", {
    frame(frame) {
      if (frame.event !== "processes") return;
      const list = decodeProcesses(frame.data);
      if (list) setProcesses(list);
    },
  });
  useInterval(() => void load(), 5000, !live);
  return (
    <div className="panel" data-testid="processes">
      <div className="panel-head">
        <h2>Processes</h2>
        <span className="subtle">{processes ? `${processes.length} on this host` : ""}</span>
        <LiveBadge live={live} />
      </div>
      <ErrorBanner error={error} />
      {processes && (
        <div className="table-wrap">
          <table className="grid">
            <thead>
              <tr>
                <th>Role</th>
                <th>Name</th>
                <th className="num">PID</th>
                <th>State</th>
                <th className="num">CPU</th>
                <th className="num">Memory</th>
                <th>Started</th>
                <th>Job</th>
                <th>Heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {processes.map((p) => (
                <tr key={p.pid}>
                  <td>
                    <span className={`tag role-${p.role}`}>{p.role}</span>
                  </td>
                  <td>{p.name}</td>
                  <td className="num mono">{p.pid}</td>
                  <td className="subtle">{p.status}</td>
                  <td className="num">{p.cpu_percent.toFixed(1)}%</td>
                  <td className="num">{num(p.memory_mb, 1)} MB</td>
                  <td className="subtle">{ago(p.started_at)}</td>
                  <td>
                    {p.job_id ? (
                      <Link className="id-link" to={`/jobs/${p.job_id}`}>
                        {p.job_id.slice(0, 12)}
                      </Link>
                    ) : (
                      <span className="subtle">—</span>
                    )}
                  </td>
                  <td className="subtle">{p.last_heartbeat ? ago(p.last_heartbeat) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function useDebouncedValue<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const id = window.setTimeout(() => setDebounced(value), ms);
    return () => window.clearTimeout(id);
  }, [value, ms]);
  return debounced;
}

/** Platform events: the latest page over HTTP, then each pushed one on top. */
function EventFeed({ admin }: { admin: boolean }) {
  const [kind, setKind] = useState("");
  const [subjectText, setSubjectText] = useState("");
  const subject = useDebouncedValue(subjectText.trim(), 300);
  const [events, setEvents] = useState<EventView[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const filter = useRef({ kind, subject });
  filter.current = { kind, subject };
  const shown = useRef(events);
  shown.current = events;
  /** Ids pushed after the page loaded (their rows flash once). */
  const fresh = useRef(new Set<number>());
  const loads = useRef(0);

  const load = useCallback(async () => {
    const mine = ++loads.current;
    try {
      const page = await unwrapData(
        api.GET("/api/events", {
          params: {
            query: { kind: kind || undefined, subject: subject || undefined, limit: PAGE },
          },
        }),
      );
      if (mine !== loads.current) return;
      // Pushes that arrived while this page loaded stay (merged by id).
      setEvents((prev) =>
        mergeEvents(
          page.events,
          prev.filter((e) => matchesFilter(e, kind, subject)),
        ),
      );
      setTotal(page.total);
      setError(null);
    } catch (exc) {
      if (mine === loads.current) setError(errorMessage(exc));
    } finally {
      if (mine === loads.current) setLoading(false);
    }
  }, [kind, subject]);

  useEffect(() => {
    void load();
  }, [load]);

  const live = useChannel("events", {
    frame(frame) {
      if (frame.event !== "event") return;
      const event = decodeEventView(frame.data);
      if (!event || !matchesFilter(event, filter.current.kind, filter.current.subject)) return;
      if (shown.current.some((e) => e.id === event.id)) return;
      fresh.current.add(event.id);
      setEvents((prev) => mergeEvents([event], prev));
      setTotal((t) => (t === null ? t : t + 1));
    },
    subscribed: () => void load(),
    reset: () => void load(),
  });
  useInterval(() => void load(), 5000, !live);

  return (
    <div className="panel event-feed">
      <div className="panel-head">
        <h2>Events</h2>
        <span className="subtle">
          {total !== null
            ? `${events.length.toLocaleString("en-US")} of ${total.toLocaleString("en-US")}`
            : ""}
          {admin ? " · every user's" : " · yours"}
        </span>
        <LiveBadge live={live} testId="events-live" />
        <span className="grow" />
        <select
          value={kind}
          onChange={(e) => setKind(e.target.value)}
          aria-label="filter by kind"
          data-testid="event-kind-filter"
        >
          <option value="">All kinds</option>
          {KIND_PREFIXES.map((k) => (
            <option key={k} value={k}>
              {k}*
            </option>
          ))}
        </select>
        <input
          className="search"
          type="search"
          placeholder="Subject (job id, strategy…)"
          value={subjectText}
          onChange={(e) => setSubjectText(e.target.value)}
          aria-label="filter by subject"
          data-testid="event-subject-filter"
        />
      </div>
      <ErrorBanner error={error} />
      {loading && events.length === 0 ? (
        <div className="loading">Loading events…</div>
      ) : events.length === 0 ? (
        <Empty title={kind || subject ? "No event matches these filters" : "No events yet"}>
          <p>Runs, saves, logins and imports show up here as they happen.</p>
        </Empty>
      ) : (
        <div className="table-wrap event-table">
          <table className="grid" data-testid="event-feed">
            <thead>
              <tr>
                <th>Time</th>
                <th>Kind</th>
                <th>Subject</th>
                <th>User</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr
                  key={e.id}
                  className={fresh.current.has(e.id) ? "fresh" : ""}
                  data-kind={e.kind}
                >
                  <td className="mono subtle" title={e.created_at ?? ""}>
                    {clockTime(e.created_at)}
                  </td>
                  <td>
                    <span className={`kind ${kindTone(e.kind)}`}>{e.kind}</span>
                  </td>
                  <td>
                    <Subject event={e} />
                  </td>
                  <td className="subtle">{e.user_id ?? "platform"}</td>
                  <td className="subtle event-data" title={JSON.stringify(e.data)}>
                    {summarize(e.data)}
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

function Subject({ event }: { event: EventView }) {
  const { kind, subject } = event;
  const deleted = kind.endsWith(".deleted");
  if (kind.startsWith("job.") && !deleted)
    return (
      <Link className="id-link" to={`/jobs/${subject}`} title={subject}>
        {subject.slice(0, 12)}
      </Link>
    );
  if (kind.startsWith("strategy.") && !deleted)
    return <Link to={`/strategies/${encodeURIComponent(subject)}`}>{subject}</Link>;
  if (kind === "data.imported")
    return <Link to={`/data/${encodeURIComponent(subject)}`}>{subject}</Link>;
  return <span className={kind.startsWith("job.") ? "mono" : ""}>{subject}</span>;
}
