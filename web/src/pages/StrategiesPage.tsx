/** Strategies: searchable list with last run status; create, rename, delete (with cascade). */
import { useMemo, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { ApiError, api, errorMessage, unwrap, unwrapData } from "../api/client";
import type { StrategyMeta } from "../api/models";
import { Empty, ErrorBanner, Modal, StatusBadge } from "../components/ui";
import { ago, bytes } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { checkId } from "../lib/ids";

const BLANK = `"""A new strategy."""
PARAMS = {}


def init(context):
    context.oid = context.universe[0]


def handle_bar(context, bar_dict):
    pass
`;

export function StrategiesPage() {
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const list = useLoad(
    () =>
      unwrap(
        api.GET("/api/backtest/strategies", {
          params: { query: { q: q || undefined, limit: 500 } },
        }),
      ),
    [q],
  );
  const lastRuns = useLoad(
    async () => (await unwrapData(api.GET("/api/backtest/last-runs"))).last_runs,
    [],
  );
  const [creating, setCreating] = useState(false);
  const [renaming, setRenaming] = useState<StrategyMeta | null>(null);
  const [deleting, setDeleting] = useState<StrategyMeta | null>(null);
  const strategies = list.data?.strategies ?? [];

  return (
    <div className="page">
      <div className="page-head">
        <h1>Strategies</h1>
        <span className="subtle">{list.data ? `${list.data.total} total` : ""}</span>
        <span className="grow" />
        <input
          className="search"
          type="search"
          placeholder="Search by id…"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          aria-label="search strategies"
        />
        <button
          type="button"
          className="primary"
          onClick={() => setCreating(true)}
          data-testid="new-strategy"
        >
          + New strategy
        </button>
      </div>
      <ErrorBanner error={list.error || lastRuns.error} />
      <div className="panel">
        {list.loading && !list.data ? (
          <div className="loading">Loading strategies…</div>
        ) : strategies.length === 0 ? (
          q ? (
            <Empty title={`No strategy matches “${q}”`}>
              <p>Clear the search or create a new strategy.</p>
            </Empty>
          ) : (
            <Empty title="No strategies yet">
              <p>
                Create one from a template (the SMA crossover is a good start) or from a blank file.
              </p>
              <button type="button" className="primary" onClick={() => setCreating(true)}>
                + New strategy
              </button>
            </Empty>
          )
        ) : (
          <div className="table-wrap">
            <table className="grid">
              <thead>
                <tr>
                  <th>ID</th>
                  <th>Name</th>
                  <th>Last run</th>
                  <th>Updated</th>
                  <th className="num">Version</th>
                  <th className="num">Size</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {strategies.map((s) => {
                  const last = lastRuns.data?.[s.id];
                  return (
                    <tr
                      key={s.id}
                      className="clickable"
                      onClick={() => navigate(`/strategies/${encodeURIComponent(s.id)}`)}
                    >
                      <td>
                        <Link
                          className="id-link"
                          to={`/strategies/${encodeURIComponent(s.id)}`}
                          onClick={(e) => e.stopPropagation()}
                        >
                          {s.id}
                        </Link>
                      </td>
                      <td>
                        {s.name || <span className="subtle">—</span>}{" "}
                        {s.tags?.map((t) => (
                          <span key={t} className="tag">
                            {t}
                          </span>
                        ))}
                      </td>
                      <td>
                        {last ? (
                          <Link
                            to={`/jobs/${last.job_id}`}
                            onClick={(e) => e.stopPropagation()}
                            title={last.created_at ?? ""}
                          >
                            <StatusBadge status={last.status} />{" "}
                            <span className="subtle">{ago(last.created_at)}</span>
                          </Link>
                        ) : (
                          <StatusBadge status={null} />
                        )}
                      </td>
                      <td title={s.updated_at ?? ""}>{ago(s.updated_at)}</td>
                      <td className="num">v{s.version}</td>
                      <td className="num">{bytes(s.size)}</td>
                      {/* biome-ignore lint/a11y/useKeyWithClickEvents: not an interaction: it keeps clicks on the buttons (and between them) from also opening the row; the buttons are keyboard-operable themselves, and stopping key events here would hide Escape from the dialog. */}
                      <td className="actions" onClick={(e) => e.stopPropagation()}>
                        <div className="row">
                          <button type="button" className="small" onClick={() => setRenaming(s)}>
                            Rename
                          </button>
                          <button
                            type="button"
                            className="small danger"
                            onClick={() => setDeleting(s)}
                          >
                            Delete
                          </button>
                        </div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
      {creating && (
        <CreateModal
          onClose={() => setCreating(false)}
          onCreated={(id) => navigate(`/strategies/${encodeURIComponent(id)}`)}
        />
      )}
      {renaming && (
        <RenameModal
          strategy={renaming}
          onClose={() => setRenaming(null)}
          onDone={() => {
            setRenaming(null);
            void list.reload();
            void lastRuns.reload();
          }}
        />
      )}
      {deleting && (
        <DeleteModal
          strategy={deleting}
          onClose={() => setDeleting(null)}
          onDone={() => {
            setDeleting(null);
            void list.reload();
            void lastRuns.reload();
          }}
        />
      )}
    </div>
  );
}

function CreateModal({
  onClose,
  onCreated,
}: {
  onClose: () => void;
  onCreated: (id: string) => void;
}) {
  const templates = useLoad(
    async () => (await unwrapData(api.GET("/api/backtest/templates"))).templates,
    [],
  );
  const [template, setTemplate] = useState("sma_crossover");
  const [id, setId] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const idError = id ? checkId(id) : null;
  const chosen = useMemo(
    () => templates.data?.find((t) => t.id === template),
    [templates.data, template],
  );

  async function create() {
    setBusy(true);
    setError(null);
    try {
      if (template === "") {
        await unwrap(
          api.POST("/api/backtest/strategies/{strategy_id}", {
            params: { path: { strategy_id: id } },
            body: { code: BLANK, name: id },
          }),
        );
      } else {
        await unwrap(
          api.POST("/api/backtest/strategies/{strategy_id}/from-template", {
            params: { path: { strategy_id: id } },
            body: { template },
          }),
        );
      }
      onCreated(id);
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal
      title="New strategy"
      onClose={onClose}
      footer={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="primary"
            disabled={busy || !id || Boolean(idError)}
            onClick={create}
            data-testid="create-strategy"
          >
            Create
          </button>
        </>
      }
    >
      <ErrorBanner error={error || templates.error} />
      <label className="field">
        <span>Strategy id</span>
        <input
          name="strategy-id"
          // biome-ignore lint/a11y/noAutofocus: the dialog opens on the user's click and moves focus into itself, to its first field (WAI-ARIA dialog pattern).
          autoFocus
          value={id}
          onChange={(e) => setId(e.target.value.trim())}
          placeholder="e.g. sma_aapl"
          className={idError ? "invalid" : ""}
          onKeyDown={(e) => e.key === "Enter" && id && !idError && create()}
        />
        {idError && <span className="field-error">{idError}</span>}
      </label>
      <label className="field">
        <span>Start from</span>
        <select name="template" value={template} onChange={(e) => setTemplate(e.target.value)}>
          <option value="">Blank strategy</option>
          {templates.data?.map((t) => (
            <option key={t.id} value={t.id}>
              Template: {t.id}
            </option>
          ))}
        </select>
      </label>
      <p className="hint">
        {template === "" ? "An empty init/handle_bar skeleton." : chosen?.description}
        {chosen && chosen.params_schema.length > 0 && (
          <>
            {" "}
            Parameters:{" "}
            {chosen.params_schema.map((p) => `${p.name}=${JSON.stringify(p.default)}`).join(", ")}.
          </>
        )}
      </p>
    </Modal>
  );
}

function RenameModal({
  strategy,
  onClose,
  onDone,
}: {
  strategy: StrategyMeta;
  onClose: () => void;
  onDone: () => void;
}) {
  const [to, setTo] = useState(strategy.id);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const local = to ? checkId(to) : "an id is required";

  async function rename() {
    setBusy(true);
    setError(null);
    try {
      await unwrap(
        api.POST("/api/backtest/strategies/{from_id}/rename", {
          params: { path: { from_id: strategy.id } },
          body: { to_id: to },
        }),
      );
      onDone();
    } catch (exc) {
      // 409 (target exists) and 422 (invalid id) carry the contract's message: show it inline.
      setError(errorMessage(exc));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal
      title={`Rename ${strategy.id}`}
      onClose={onClose}
      footer={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="primary"
            disabled={busy || Boolean(local) || to === strategy.id}
            onClick={rename}
            data-testid="rename-submit"
          >
            Rename
          </button>
        </>
      }
    >
      <label className="field">
        <span>New id</span>
        <input
          name="to-id"
          // biome-ignore lint/a11y/noAutofocus: the dialog opens on the user's click and moves focus into itself, to its first field (WAI-ARIA dialog pattern).
          autoFocus
          value={to}
          onChange={(e) => {
            setTo(e.target.value.trim());
            setError(null);
          }}
          className={local || error ? "invalid" : ""}
          onKeyDown={(e) => e.key === "Enter" && !local && rename()}
        />
        {(local || error) && (
          <span className="field-error" data-testid="rename-error">
            {error || local}
          </span>
        )}
      </label>
      <p className="hint">
        Jobs move with the strategy; the old id keeps resolving to the new one.
      </p>
    </Modal>
  );
}

function DeleteModal({
  strategy,
  onClose,
  onDone,
}: {
  strategy: StrategyMeta;
  onClose: () => void;
  onDone: () => void;
}) {
  const [blocking, setBlocking] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function remove(cascade: boolean) {
    setBusy(true);
    setError(null);
    try {
      await unwrap(
        api.DELETE("/api/backtest/strategies/{strategy_id}", {
          params: { path: { strategy_id: strategy.id }, query: { cascade } },
        }),
      );
      onDone();
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 409) {
        const ids = blockingJobIds(exc.data);
        setBlocking(ids);
        setError(exc.message);
      } else {
        setError(errorMessage(exc));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal
      title={`Delete ${strategy.id}?`}
      onClose={onClose}
      footer={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          {blocking ? (
            <button
              type="button"
              className="danger"
              disabled={busy}
              onClick={() => remove(true)}
              data-testid="delete-cascade"
            >
              Delete strategy and {blocking.length} job{blocking.length === 1 ? "" : "s"}
            </button>
          ) : (
            <button
              type="button"
              className="danger"
              disabled={busy}
              onClick={() => remove(false)}
              data-testid="delete-submit"
            >
              Delete
            </button>
          )}
        </>
      }
    >
      <ErrorBanner error={error} />
      {blocking ? (
        <>
          <p>These jobs belong to the strategy. Delete them too?</p>
          <div className="job-list">
            {blocking.map((id) => (
              <div key={id}>{id}</div>
            ))}
          </div>
        </>
      ) : (
        <p>The code and its versions are removed. This cannot be undone.</p>
      )}
    </Modal>
  );
}

/** The `data.job_ids` of a 409 delete answer (an error body, so untyped: checked, not cast). */
function blockingJobIds(data: unknown): string[] {
  if (typeof data !== "object" || data === null || !("job_ids" in data)) return [];
  return Array.isArray(data.job_ids) ? data.job_ids.map(String) : [];
}
