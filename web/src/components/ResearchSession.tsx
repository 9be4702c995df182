/**
 * A research item's notebook session: the hook that starts, refreshes, stops and watches it,
 * the bar with its state and expiry, and JupyterLab in an iframe.
 *
 * The session answers set an HttpOnly cookie scoped to `/jupyter/<session_id>/`: that cookie,
 * not anything in JS, lets the iframe through the notebook proxy. The calls are same-origin
 * with `credentials: "same-origin"` so the browser stores and sends it.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { api, errorMessage, unwrap } from "../api/client";
import type { NotebookSession, SessionStatus } from "../api/models";
import {
  EXPIRY_WARNING_S,
  endedText,
  expiryText,
  reconcile,
  type SessionPhase,
  secondsLeft,
  sessionPhase,
} from "../lib/research";

/** How often a shown session is checked (ended elsewhere, or by its TTL); faster while it starts. */
const CHECK_MS = 30_000;
const CHECK_STARTING_MS = 2_000;

type Action = "start" | "refresh" | "stop";

/** The options of a session call for `item_id` (same-origin: the proxy cookie is stored). */
const target = (item_id: string) =>
  ({ params: { path: { item_id } }, credentials: "same-origin" }) as const;

export interface NotebookSessionState {
  /** The session shown (an ended one stays, with its last state), null before any. */
  session: NotebookSession | null;
  phase: SessionPhase;
  /** The first `GET` has answered. */
  loaded: boolean;
  busy: Action | null;
  error: string | null;
  clearError: () => void;
  start: () => Promise<void>;
  refresh: () => Promise<void>;
  stop: () => Promise<void>;
  /** `GET` the session again (when its time is up, say). */
  check: () => Promise<void>;
}

export function useNotebookSession(itemId: string): NotebookSessionState {
  const [session, setSession] = useState<NotebookSession | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [busy, setBusy] = useState<Action | null>(null);
  const [error, setError] = useState<string | null>(null);
  const shown = useRef(session);
  shown.current = session;
  // Answers to calls made for another item (the page's id changed meanwhile) are dropped.
  const current = useRef(itemId);
  current.current = itemId;
  /** The server's session of `asked` (null: none), or throws. */
  const fetchSession = useCallback(
    async (asked: string) =>
      (await unwrap(api.GET("/api/research/items/{item_id}/notebook/session", target(asked))))
        .session,
    [],
  );

  const check = useCallback(async () => {
    const asked = itemId;
    try {
      const found = await fetchSession(asked);
      if (current.current !== asked) return;
      setSession(reconcile(shown.current, found, Date.now()));
      setError(null);
    } catch (exc) {
      if (current.current === asked) setError(errorMessage(exc));
    } finally {
      if (current.current === asked) setLoaded(true);
    }
  }, [itemId, fetchSession]);

  useEffect(() => {
    setSession(null);
    setLoaded(false);
    setError(null);
    void check();
  }, [check]);

  async function act(action: Action, call: () => Promise<{ session: NotebookSession | null }>) {
    const asked = itemId;
    setBusy(action);
    setError(null);
    try {
      const answer = await call();
      if (current.current === asked)
        setSession(reconcile(shown.current, answer.session, Date.now()));
    } catch (exc) {
      if (current.current !== asked) return;
      setError(errorMessage(exc));
      // The session may have ended meanwhile (a refresh's 404): show what the server has,
      // keeping the error on screen.
      try {
        const found = await fetchSession(asked);
        if (current.current === asked) setSession(reconcile(shown.current, found, Date.now()));
      } catch {
        /* the error shown says enough */
      }
    } finally {
      if (current.current === asked) setBusy(null);
    }
  }

  const start = () =>
    act("start", () =>
      unwrap(api.POST("/api/research/items/{item_id}/notebook/session", target(itemId))),
    );
  const refresh = () =>
    act("refresh", () =>
      unwrap(api.POST("/api/research/items/{item_id}/notebook/session/refresh", target(itemId))),
    );
  const stop = () =>
    act("stop", () =>
      unwrap(
        api.DELETE("/api/research/items/{item_id}/notebook/session", {
          params: {
            path: { item_id: itemId },
            query: { session_id: shown.current?.session_id },
          },
          credentials: "same-origin",
        }),
      ),
    );

  const phase = sessionPhase(session);
  const watching = phase === "live" || phase === "starting";
  useEffect(() => {
    if (!watching) return;
    const id = window.setInterval(
      () => void check(),
      phase === "starting" ? CHECK_STARTING_MS : CHECK_MS,
    );
    return () => window.clearInterval(id);
  }, [watching, phase, check]);

  return {
    session,
    phase,
    loaded,
    busy,
    error,
    clearError: () => setError(null),
    start,
    refresh,
    stop,
    check,
  };
}

/** A session's state; `null`: none. */
export function SessionBadge({ status }: { status: SessionStatus | null | undefined }) {
  if (!status) return <span className="badge none">no session</span>;
  return (
    <span className={`badge ${status}`} data-testid="session-badge">
      {status}
    </span>
  );
}

/** The current time, every `ms` while `active`. */
function useNow(ms: number, active: boolean): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const id = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(id);
  }, [ms, active]);
  return now;
}

/** "expires at 14:32 (in 1h 59m)", ticking; `onDue` once when the time is up. */
export function Expiry({ expiresAt, onDue }: { expiresAt: string; onDue: () => void }) {
  const now = useNow(1000, true);
  const left = secondsLeft(expiresAt, now);
  const due = useRef(onDue);
  due.current = onDue;
  const fired = useRef<string | null>(null);
  useEffect(() => {
    if (left > 0 || fired.current === expiresAt) return;
    fired.current = expiresAt;
    due.current();
  }, [left, expiresAt]);
  return (
    <span
      className={`session-expiry${left <= EXPIRY_WARNING_S ? " warn" : ""}`}
      title={`${expiresAt} · ends unless refreshed`}
      data-testid="session-expiry"
      data-seconds={left}
    >
      {expiryText(expiresAt, now)}
    </span>
  );
}

/** The live session's bar: state, expiry, refresh, stop, open in a tab. */
export function SessionBar({ state }: { state: NotebookSessionState }) {
  const { session, busy } = state;
  if (!session) return null;
  return (
    <div className="session-bar row" data-testid="session-bar">
      <SessionBadge status={session.status} />
      <Expiry expiresAt={session.expires_at} onDue={() => void state.check()} />
      <span className="grow" />
      <a href={session.notebook_url} target="_blank" rel="noreferrer" className="subtle">
        Open in a new tab ↗
      </a>
      <button
        type="button"
        className="small"
        disabled={busy !== null}
        onClick={() => void state.refresh()}
        title="extend the session's time from now"
        data-testid="session-refresh"
      >
        {busy === "refresh" ? "Refreshing…" : "Refresh"}
      </button>
      <button
        type="button"
        className="small danger"
        disabled={busy !== null}
        onClick={() => void state.stop()}
        title="stop JupyterLab and its kernels (the notebook file is kept)"
        data-testid="session-stop"
      >
        {busy === "stop" ? "Stopping…" : "Stop"}
      </button>
    </div>
  );
}

/** JupyterLab of a live session (same origin: the proxy's cookie lets it in). */
export function NotebookFrame({ session }: { session: NotebookSession }) {
  return (
    <iframe
      className="notebook-frame"
      src={session.embed_url}
      title="JupyterLab"
      allow="clipboard-read; clipboard-write"
      data-testid="notebook-frame"
      data-session={session.session_id}
    />
  );
}

/** What shows instead of JupyterLab: starting, ended, or never started. */
export function SessionIdle({
  state,
  notebookPath,
}: {
  state: NotebookSessionState;
  notebookPath: string;
}) {
  const { phase, busy, session } = state;
  if (busy === "start" || phase === "starting") {
    return (
      <div className="session-idle" data-testid="session-starting">
        <div className="spinner" aria-hidden />
        <h2>Starting JupyterLab…</h2>
        <p className="subtle">
          Your own server for <span className="mono">{notebookPath}</span>: this takes a few
          seconds.
        </p>
      </div>
    );
  }
  const ended = phase === "ended";
  return (
    <div className="session-idle" data-testid={ended ? "session-ended" : "session-none"}>
      {ended && session ? (
        <>
          <h2>
            Session ended <SessionBadge status={session.status} />
          </h2>
          <p className="subtle">{endedText(session)} The notebook file is kept.</p>
        </>
      ) : (
        <>
          <h2>No notebook session</h2>
          <p className="subtle">
            Start JupyterLab on <span className="mono">{notebookPath}</span>, with{" "}
            <span className="mono">quantdesk</span> and the platform's data ready in the kernel.
          </p>
        </>
      )}
      <button
        type="button"
        className="primary"
        disabled={busy !== null}
        onClick={() => void state.start()}
        data-testid="session-start"
      >
        {ended ? "Start again" : "Start notebook"}
      </button>
    </div>
  );
}
