/** The app shell: sidebar navigation, job counts, user and logout. */
import { NavLink, Outlet } from "react-router-dom";
import { getSession, setSession } from "../api/auth";
import { api } from "../api/client";
import { useInterval, useLoad } from "../lib/hooks";

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
  data: "M4 19V9m5 10V5m5 14v-7m5 7V8",
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
  const health = useLoad(async () => {
    const res = await api.GET("/api/health");
    return res.data?.data.jobs ?? {};
  }, []);
  useInterval(() => void health.reload(), 5000, true);
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
          <NavLink to="/jobs">
            <Icon d={icons.jobs} /> Jobs
          </NavLink>
          <NavLink to="/data">
            <Icon d={icons.data} /> Data
          </NavLink>
        </nav>
        <div className="sidebar-foot">
          <div className="health" title="jobs on the server (all users)">
            <span className="badge RUNNING">{jobs.RUNNING ?? 0} running</span>
            <span className="badge QUEUED">{jobs.QUEUED ?? 0} queued</span>
          </div>
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
    </div>
  );
}
