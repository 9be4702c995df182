/** The app shell: sidebar navigation, job counts, the live connection, user and logout;
 * toasts when one of the user's jobs ends. */
import { useEffect, useRef, useState } from "react";
import { Link, NavLink, Outlet, useLocation } from "react-router-dom";
import { getSession, setSession } from "../api/auth";
import { api } from "../api/client";
import {
  decodeStatus,
  type JobStatusChange,
  type LiveState,
  useChannel,
  useLiveState,
} from "../api/live";
import { FINAL } from "../api/models";
import { useDebounced, useInterval, useLoad } from "../lib/hooks";
import { StatusBadge } from "./ui";

export function Logo() {
  return (
    <svg viewBox="0 0 32 32" aria-hidden>
      <rect width="32" height="32" rx="6" fill="#18233a" />
      <path
        d="M5 23l7-8 5 5 10-12"
        fill="none"
        stroke="#26c281"
        strokeWidth="3"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  );
}

const icons = {
  strategies: "M4 5h16M4 12h16M4 19h10",
  jobs: "M5 4h14v16H5zM9 9h6M9 13h6M9 17h3",
  research: "M9 3h6M10 3v6l-5.5 9.5A1.7 1.7 0 0 0 6 21h12a1.7 1.7 0 0 0 1.5-2.5L14 9V3M7 15h10",
  data: "M4 19V9m5 10V5m5 14v-7m5 7V8",
  system: "M3 12h4l3-7 4 14 3-7h4",
};

function Icon({ d }: { d: string }) {
  return (
    <svg
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden
    >
      <path d={d} />
    </svg>
  );
}

export function Layout() {
  const session = getSession();
  const { pathname } = useLocation();
  const health = useLoad(async () => {
    const res = await api.GET("/api/health");
    return res.data?.data.jobs ?? {};
  }, []);
  // The counts change when jobs do: reloaded on the user's status pushes while the socket is
  // up (other users' jobs show at the next one), polled every 5 s while it is down.
  const reloadSoon = useDebounced(() => void health.reload(), 250);
  const live = useChannel("jobs", {
    frame(frame) {
      if (frame.event === "status") reloadSoon();
    },
    subscribed: () => reloadSoon(),
    reset: () => reloadSoon(),
  });
  useInterval(() => void health.reload(), 5000, !live);
  const jobs = health.data ?? {};
  return (
    <div className="app">
      <aside className="sidebar">
        <div className="brand">
          <Logo />
          <div>
            quantdesk
            <small>backtesting desk</small>
          </div>
        </div>
        <nav className="nav">
          <NavLink to="/strategies">
            <Icon d={icons.strategies} /> Strategies
          </NavLink>
          {/* The comparison of runs belongs to the jobs. */}
          <NavLink
            to="/jobs"
            className={({ isActive }) =>
              isActive || pathname.startsWith("/compare") ? "active" : ""
            }
          >
            <Icon d={icons.jobs} /> Jobs
          </NavLink>
          <NavLink to="/research">
            <Icon d={icons.research} /> Research
          </NavLink>
          <NavLink to="/data">
            <Icon d={icons.data} /> Data
          </NavLink>
          <NavLink to="/system">
            <Icon d={icons.system} /> System
          </NavLink>
        </nav>
        <div className="sidebar-foot">
          <div className="health" title="jobs on the server (all users)" data-testid="job-counts">
            <span className="badge RUNNING">{jobs.RUNNING ?? 0} running</span>
            <span className="badge QUEUED">{jobs.QUEUED ?? 0} queued</span>
          </div>
          <Connection />
          <div className="row">
            <span className="grow" title={`user id ${session?.userid}`}>
              {session?.mobile} {session?.isAdmin ? <span className="tag">admin</span> : null}
            </span>
            <button
              type="button"
              className="small"
              onClick={() => setSession(null)}
              data-testid="logout"
            >
              Log out
            </button>
          </div>
          <a href="/docs" target="_blank" rel="noreferrer" className="subtle">
            API docs ↗
          </a>
        </div>
      </aside>
      <main className="main">
        <Outlet />
      </main>
      <JobToasts />
    </div>
  );
}

const CONNECTION: Record<LiveState, [string, string]> = {
  idle: ["off", "not connected"],
  connecting: ["wait", "connecting…"],
  open: ["on", "live"],
  reconnecting: ["wait", "reconnecting… (polling)"],
};

/** The live connection's state. */
function Connection() {
  const state = useLiveState();
  const [cls, text] = CONNECTION[state];
  return (
    <div
      className={`connection ${cls}`}
      data-testid="connection"
      data-state={state}
      title="pushed updates over /api/ws; pages poll while it is down"
    >
      {text}
    </div>
  );
}

interface Toast {
  key: number;
  change: JobStatusChange;
}

const TOAST_MS = 8000;
const TOASTS_SHOWN = 4;

/** A toast when one of the user's jobs ends (not for the job whose page is open). */
function JobToasts() {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const location = useLocation();
  const path = useRef(location.pathname);
  path.current = location.pathname;
  const next = useRef(0);
  useChannel("jobs", {
    frame(frame) {
      if (frame.event !== "status") return;
      const change = decodeStatus(frame.data);
      if (!change || !FINAL.includes(change.status) || change.kind === "job.deleted") return;
      if (path.current === `/jobs/${change.jobId}`) return;
      const key = ++next.current;
      setToasts((t) =>
        [...t.filter((x) => x.change.jobId !== change.jobId), { key, change }].slice(-TOASTS_SHOWN),
      );
    },
  });
  const dismiss = (key: number) => setToasts((t) => t.filter((x) => x.key !== key));
  if (!toasts.length) return null;
  return (
    <div className="toasts" aria-live="polite">
      {toasts.map((t) => (
        <JobToast key={t.key} change={t.change} onClose={() => dismiss(t.key)} />
      ))}
    </div>
  );
}

function JobToast({ change, onClose }: { change: JobStatusChange; onClose: () => void }) {
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const id = window.setTimeout(() => close.current(), TOAST_MS);
    return () => window.clearTimeout(id);
  }, []);
  const verb =
    change.status === "FINISHED"
      ? "finished"
      : change.status === "FAILED"
        ? "failed"
        : change.status === "CANCELLED"
          ? "was cancelled"
          : change.status;
  return (
    <div className={`toast ${change.status}`} role="status" data-testid="job-toast">
      <StatusBadge status={change.status} />
      <div className="grow">
        <div>
          <Link to={`/jobs/${change.jobId}`} className="id-link" onClick={onClose}>
            {change.jobId.slice(0, 12)}
          </Link>{" "}
          {change.strategyId ? (
            <>
              of <strong>{change.strategyId}</strong>{" "}
            </>
          ) : null}
          {verb}
        </div>
        {change.error && (
          <div className="toast-sub">
            {change.error.code}
            {change.error.message ? `: ${change.error.message}` : ""}
          </div>
        )}
      </div>
      <button type="button" className="ghost small" onClick={onClose} aria-label="dismiss">
        ✕
      </button>
    </div>
  );
}
