/** The editor: CodeMirror, save, compile with inline markers, versions (diff, restore), run. */
import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { getSession } from "../api/auth";
import { api, errorMessage, toApiError, unwrap, unwrapData } from "../api/client";
import { decodeStatus, useChannel } from "../api/live";
import type { CompileResult, Diagnostic, RunBody, StrategyVersion } from "../api/models";
import { ACTIVE } from "../api/models";
import { CodeEditor, type CodeEditorHandle } from "../components/CodeEditor";
import { DiffView } from "../components/DiffView";
import { CompareButton, SelectBox } from "../components/JobSelection";
import { RunPanel } from "../components/RunPanel";
import { Empty, ErrorBanner, Modal, StatusBadge, Tabs } from "../components/ui";
import { toggleSelection } from "../lib/compare";
import { ago, bytes, dateTime, pct } from "../lib/format";
import { useDebounced, useInterval, useLoad } from "../lib/hooks";

type Side = "run" | "versions" | "jobs";

export function EditorPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const editor = useRef<CodeEditorHandle>(null);
  const strategy = useLoad(
    () =>
      unwrap(
        api.GET("/api/backtest/strategies/{strategy_id}", {
          params: { path: { strategy_id: id } },
        }),
      ),
    [id],
  );
  const [dirty, setDirty] = useState(false);
  const [busy, setBusy] = useState<"save" | "compile" | "run" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [compile, setCompile] = useState<CompileResult | null>(null);
  const [side, setSide] = useState<Side>("run");
  const isAdmin = getSession()?.isAdmin ?? false;
  const s = strategy.data;

  // The server resolves an old (renamed) id: show the current one in the address bar.
  useEffect(() => {
    if (s && s.id !== id) navigate(`/strategies/${encodeURIComponent(s.id)}`, { replace: true });
  }, [s, id, navigate]);

  const save = useCallback(async (): Promise<boolean> => {
    if (!editor.current) return false;
    setBusy("save");
    setError(null);
    try {
      const code = editor.current.getValue();
      const res = await unwrap(
        api.POST("/api/backtest/strategies/{strategy_id}", {
          params: { path: { strategy_id: id } },
          body: { code },
        }),
      );
      setDirty(false);
      setNotice(`Saved as version ${res.data.version}`);
      const fresh = await unwrap(
        api.GET("/api/backtest/strategies/{strategy_id}", {
          params: { path: { strategy_id: id } },
        }),
      );
      strategy.setData({ ...fresh, code });
      return true;
    } catch (exc) {
      setError(errorMessage(exc));
      return false;
    } finally {
      setBusy(null);
    }
  }, [id, strategy]);

  async function runCompile() {
    if (!editor.current) return;
    setBusy("compile");
    setError(null);
    setNotice(null);
    try {
      const res = await api.POST("/api/backtest/strategies/{strategy_id}/compile", {
        params: { path: { strategy_id: id } },
        body: { code: editor.current.getValue() },
      });
      // 200 and 422 answer a `CompileResult`, and so do this route's 400, 403 and 500: any
      // answer with `diagnostics` is one (else it is the contract's error body).
      const body = res.data ?? res.error;
      if (!body || !("diagnostics" in body)) throw toApiError(res.response.status, res.error);
      setCompile(body);
      editor.current.showDiagnostics(body.diagnostics);
      if (res.response.status !== 200 && res.response.status !== 422)
        setError(body.error?.message ?? body.stderr);
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(null);
    }
  }

  async function run(body: RunBody) {
    setError(null);
    if (dirty && !(await save())) return;
    setBusy("run");
    try {
      const res = await unwrap(api.POST("/api/backtest/run", { body }));
      navigate(`/jobs/${res.job_id}`);
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(null);
    }
  }

  useEffect(() => {
    if (!notice) return;
    const t = window.setTimeout(() => setNotice(null), 3000);
    return () => window.clearTimeout(t);
  }, [notice]);

  useEffect(() => {
    const warn = (e: BeforeUnloadEvent) => {
      if (dirty) e.preventDefault();
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  if (strategy.error && !s) {
    return (
      <div className="page">
        <ErrorBanner error={strategy.error} />
        <Empty title="This strategy could not be opened">
          <p>
            <Link to="/strategies">Back to the strategies</Link>
          </p>
        </Empty>
      </div>
    );
  }
  if (!s) return <div className="page loading">Loading {id}…</div>;

  const errors = compile?.diagnostics.filter((d) => d.level === "error") ?? [];
  return (
    <div className="page" style={{ display: "flex", flexDirection: "column" }}>
      <div className="page-head">
        <Link to="/strategies" className="subtle">
          Strategies
        </Link>
        <span className="subtle">/</span>
        <h1 className="mono" style={{ fontSize: 16 }}>
          {s.id}
        </h1>
        <span className="tag">v{s.version}</span>
        {dirty ? (
          <span className="badge CANCELLED">unsaved</span>
        ) : (
          <span className="subtle">saved {ago(s.updated_at)}</span>
        )}
        <span className="grow" />
        {notice && <span className="diag-ok">{notice}</span>}
        <button
          type="button"
          onClick={() => void save()}
          disabled={busy !== null || !dirty}
          data-testid="save"
          title="Ctrl/Cmd-S"
        >
          Save
        </button>
        <button
          type="button"
          onClick={runCompile}
          disabled={busy !== null || !isAdmin}
          data-testid="compile"
          title={
            isAdmin ? "syntax and import check (nothing is saved)" : "compile checks are for admins"
          }
        >
          {busy === "compile" ? "Compiling…" : "Compile"}
        </button>
      </div>
      <ErrorBanner error={error} onClose={() => setError(null)} />
      <div className="editor-page grow" style={{ minHeight: 0 }}>
        <div className="editor-col">
          <CodeEditor
            ref={editor}
            initial={s.code}
            onChange={() => setDirty(true)}
            onSave={() => void save()}
          />
          {compile && (
            <div className="diagnostics" data-testid="diagnostics">
              {compile.diagnostics.length === 0 ? (
                <div className="diag-ok">
                  ✓ {compile.stdout.split("\n").join(" · ") || "compile check passed"}
                </div>
              ) : (
                compile.diagnostics.map((d: Diagnostic, i) => (
                  <button
                    type="button"
                    // biome-ignore lint/suspicious/noArrayIndexKey: diagnostics have no id (two may share line, column and message); each compile replaces the whole list and it is never reordered.
                    key={i}
                    className={d.level === "error" ? "diag-error" : "diag-warning"}
                    onClick={() => editor.current?.goTo(d.line, d.column)}
                  >
                    {d.level} · line {d.line}:{d.column} — {d.message}
                  </button>
                ))
              )}
              {errors.length > 0 && (
                <div className="subtle">{errors.length} error(s): fix them and compile again.</div>
              )}
            </div>
          )}
        </div>
        <div className="side-col">
          <Tabs<Side>
            value={side}
            onChange={setSide}
            tabs={[
              { id: "run", label: "Run" },
              { id: "versions", label: "Versions" },
              { id: "jobs", label: "Jobs" },
            ]}
          />
          <div className="side-body">
            {side === "run" && (
              <RunPanel
                strategyId={s.id}
                schema={s.params_schema ?? []}
                busy={busy !== null}
                onRun={run}
              />
            )}
            {side === "versions" && (
              <Versions
                strategyId={s.id}
                current={s.version}
                editorCode={() => editor.current?.getValue() ?? ""}
                onRestore={async (code, version) => {
                  editor.current?.setValue(code);
                  setDirty(true);
                  if (await save()) setNotice(`Restored version ${version} as a new version`);
                }}
              />
            )}
            {side === "jobs" && <StrategyJobs strategyId={s.id} />}
          </div>
        </div>
      </div>
    </div>
  );
}

function Versions({
  strategyId,
  current,
  editorCode,
  onRestore,
}: {
  strategyId: string;
  current: number;
  editorCode: () => string;
  onRestore: (code: string, version: number) => Promise<void>;
}) {
  const list = useLoad(
    () =>
      unwrapData(
        api.GET("/api/backtest/strategies/{strategy_id}/versions", {
          params: { path: { strategy_id: strategyId } },
        }),
      ),
    [strategyId, current],
  );
  const [diff, setDiff] = useState<StrategyVersion | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function load(version: number): Promise<StrategyVersion | null> {
    try {
      return await unwrapData(
        api.GET("/api/backtest/strategies/{strategy_id}/versions/{version}", {
          params: { path: { strategy_id: strategyId, version } },
        }),
      );
    } catch (exc) {
      setError(errorMessage(exc));
      return null;
    }
  }

  return (
    <div>
      <ErrorBanner error={error || list.error} />
      {list.data?.versions.map((v) => (
        <div key={v.version} className="version-row">
          <span className="tag">v{v.version}</span>
          <span className="grow">
            {dateTime(v.created_at)} <span className="subtle">· {bytes(v.size)}</span>
          </span>
          {v.version === current && <span className="subtle">current</span>}
          <button
            type="button"
            className="small"
            onClick={async () => setDiff(await load(v.version))}
          >
            Diff
          </button>
          <button
            type="button"
            className="small"
            disabled={v.version === current}
            onClick={async () => {
              const detail = await load(v.version);
              if (
                detail &&
                window.confirm(`Restore version ${v.version}? It is saved as a new version.`)
              )
                await onRestore(detail.code, v.version);
            }}
          >
            Restore
          </button>
        </div>
      ))}
      {list.data && list.data.versions.length === 0 && (
        <p className="hint">No saved versions yet.</p>
      )}
      {diff && (
        <Modal
          wide
          title={`v${diff.version} (left) ↔ editor (right)`}
          onClose={() => setDiff(null)}
        >
          <DiffView left={diff.code} right={editorCode()} />
        </Modal>
      )}
    </div>
  );
}

function StrategyJobs({ strategyId }: { strategyId: string }) {
  const [selected, setSelected] = useState<string[]>([]);
  const jobs = useLoad(
    async () =>
      (
        await unwrapData(
          api.GET("/api/backtest/jobs", {
            params: { query: { strategy_id: strategyId, limit: 30 } },
          }),
        )
      ).jobs,
    [strategyId],
  );
  const active = (jobs.data ?? []).some((j) => ACTIVE.includes(j.status));
  const reloadSoon = useDebounced(() => void jobs.reload(), 300);
  const live = useChannel("jobs", {
    frame(frame) {
      const change = frame.event === "status" ? decodeStatus(frame.data) : null;
      if (change && (change.strategyId === strategyId || change.strategyId === null)) reloadSoon();
    },
    subscribed: () => reloadSoon(),
    reset: () => reloadSoon(),
  });
  useInterval(() => void jobs.reload(), 2000, active && !live);
  if (jobs.error) return <ErrorBanner error={jobs.error} />;
  if (!jobs.data) return <div className="loading">Loading…</div>;
  if (jobs.data.length === 0)
    return <p className="hint">No runs yet: set up a run in the Run tab.</p>;
  return (
    <div data-testid="strategy-jobs">
      <div className="row" style={{ marginBottom: 8 }}>
        <span className="hint grow">Tick finished runs to compare them.</span>
        <CompareButton selected={selected} onClear={() => setSelected([])} small />
      </div>
      <div className="table-wrap">
        <table className="grid side-jobs">
          <tbody>
            {jobs.data.map((j) => (
              <tr key={j.job_id} className={selected.includes(j.job_id) ? "selected" : ""}>
                <SelectBox
                  job={j}
                  selected={selected}
                  onToggle={() => setSelected((s) => toggleSelection(s, j.job_id))}
                />
                <td>
                  <StatusBadge status={j.status} />
                </td>
                <td>
                  <div className="cell-stack">
                    <Link className="id-link" to={`/jobs/${j.job_id}`}>
                      {j.job_id.slice(0, 8)}
                    </Link>
                    {j.title && (
                      <span className="cell-sub" style={{ maxWidth: 120 }} title={j.title}>
                        {j.title}
                      </span>
                    )}
                  </div>
                </td>
                <td
                  className={`num ${typeof j.total_returns === "number" ? (j.total_returns > 0 ? "up" : j.total_returns < 0 ? "down" : "") : "subtle"}`}
                  title="total return"
                >
                  {pct(j.total_returns)}
                </td>
                <td className="subtle" title={dateTime(j.created_at)}>
                  {ago(j.created_at)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
