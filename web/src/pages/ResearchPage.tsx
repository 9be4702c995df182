/** Research: the user's research items (create, edit, delete) and, for one item, its notebook
 * session with JupyterLab embedded (start, refresh, stop; the expiry shown). */
import { useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import type { Research } from "../api/models";
import { DeleteItemModal, ItemModal } from "../components/ResearchItemForm";
import {
  NotebookFrame,
  SessionBadge,
  SessionBar,
  SessionIdle,
  useNotebookSession,
} from "../components/ResearchSession";
import { Empty, ErrorBanner } from "../components/ui";
import { ago, dateTime } from "../lib/format";
import { useLoad } from "../lib/hooks";
import "../components/research.css";

const itemPath = (id: string) => `/research/${encodeURIComponent(id)}`;

function matches(item: Research, q: string): boolean {
  const needle = q.trim().toLowerCase();
  if (!needle) return true;
  return [item.id, item.title, ...item.tags].some((s) => s.toLowerCase().includes(needle));
}

function Tags({ tags }: { tags: string[] }) {
  return (
    <>
      {tags.map((t) => (
        <span key={t} className="tag">
          {t}
        </span>
      ))}
    </>
  );
}

/** `/research`: the list. */
export function ResearchPage() {
  const navigate = useNavigate();
  const list = useLoad(() => unwrap(api.GET("/api/research/items")), []);
  const [q, setQ] = useState("");
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Research | null>(null);
  const [deleting, setDeleting] = useState<Research | null>(null);
  const items = list.data?.items ?? [];
  const shown = useMemo(() => items.filter((item) => matches(item, q)), [items, q]);

  return (
    <div className="page">
      <div className="page-head">
        <h1>Research</h1>
        <span className="subtle">{list.data ? `${list.data.total} total` : ""}</span>
        <span className="grow" />
        <input
          className="search"
          type="search"
          placeholder="Search by id, title or tag…"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          aria-label="search research"
        />
        <button
          type="button"
          className="primary"
          onClick={() => setCreating(true)}
          data-testid="new-research"
        >
          + New research
        </button>
      </div>
      <ErrorBanner error={list.error} />
      <div className="panel">
        {list.loading && !list.data ? (
          <div className="loading">Loading research…</div>
        ) : shown.length === 0 ? (
          q && items.length > 0 ? (
            <Empty title={`Nothing matches “${q}”`}>
              <p>Clear the search or create a new research item.</p>
            </Empty>
          ) : (
            <Empty title="No research yet">
              <p>
                A research item is a notebook of your own: JupyterLab with quantdesk and the
                platform's data, to explore before you write a strategy.
              </p>
              <button type="button" className="primary" onClick={() => setCreating(true)}>
                + New research
              </button>
            </Empty>
          )
        ) : (
          <div className="table-wrap">
            <table className="grid" data-testid="research-table">
              <thead>
                <tr>
                  <th>Title</th>
                  <th>ID</th>
                  <th>Tags</th>
                  <th>Status</th>
                  <th>Session</th>
                  <th>Updated</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {shown.map((item) => (
                  <tr
                    key={item.id}
                    className={`clickable${item.status === "ARCHIVED" ? " archived" : ""}`}
                    onClick={() => navigate(itemPath(item.id))}
                  >
                    <td className="research-title" title={item.description || item.title}>
                      <Link to={itemPath(item.id)} onClick={(e) => e.stopPropagation()}>
                        {item.title}
                      </Link>
                    </td>
                    <td className="mono subtle">{item.id}</td>
                    <td>
                      <Tags tags={item.tags} />
                    </td>
                    <td>
                      <span className={`badge ${item.status}`}>{item.status}</span>
                    </td>
                    <td>
                      <SessionBadge status={item.session_status} />
                    </td>
                    <td title={dateTime(item.updated_at)}>{ago(item.updated_at)}</td>
                    {/* biome-ignore lint/a11y/useKeyWithClickEvents: not an interaction: it keeps clicks on the buttons (and between them) from also opening the row; the buttons are keyboard-operable themselves, and stopping key events here would hide Escape from the dialog. */}
                    <td className="actions" onClick={(e) => e.stopPropagation()}>
                      <div className="row">
                        <button
                          type="button"
                          className="small"
                          onClick={() => navigate(itemPath(item.id))}
                        >
                          Open
                        </button>
                        <button type="button" className="small" onClick={() => setEditing(item)}>
                          Edit
                        </button>
                        <button
                          type="button"
                          className="small danger"
                          onClick={() => setDeleting(item)}
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
        )}
      </div>
      {creating && (
        <ItemModal
          onClose={() => setCreating(false)}
          onSaved={(item) => navigate(itemPath(item.id))}
        />
      )}
      {editing && (
        <ItemModal
          item={editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            void list.reload();
          }}
        />
      )}
      {deleting && (
        <DeleteItemModal
          item={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            void list.reload();
          }}
        />
      )}
    </div>
  );
}

/** `/research/:id`: one item and its notebook session. */
export function ResearchItemPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const loaded = useLoad(
    () => unwrap(api.GET("/api/research/items/{item_id}", { params: { path: { item_id: id } } })),
    [id],
  );
  const notebook = useNotebookSession(id);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const item = loaded.data?.id === id ? loaded.data : null;

  if (!item) {
    return (
      <div className="page">
        <div className="page-head">
          <Link to="/research" className="subtle">
            Research
          </Link>
          <span className="subtle">/</span>
          <h1 className="mono">{id}</h1>
        </div>
        {loaded.error ? (
          <ErrorBanner error={loaded.error} />
        ) : (
          <div className="loading">Loading {id}…</div>
        )}
      </div>
    );
  }

  const live = notebook.phase === "live" && notebook.session !== null;
  return (
    <div className="page research-item">
      <div className="page-head">
        <Link to="/research" className="subtle">
          Research
        </Link>
        <span className="subtle">/</span>
        <h1 className="research-heading" title={item.title}>
          {item.title}
        </h1>
        <span className="mono subtle">{item.id}</span>
        <span>
          <Tags tags={item.tags} />
        </span>
        {item.status === "ARCHIVED" && <span className="badge ARCHIVED">ARCHIVED</span>}
        <span className="grow" />
        <button type="button" onClick={() => setEditing(true)} data-testid="research-edit">
          Edit
        </button>
        <button type="button" className="danger" onClick={() => setDeleting(true)}>
          Delete
        </button>
      </div>
      <ErrorBanner error={notebook.error} onClose={notebook.clearError} />
      <div className={`panel notebook-panel${live ? " live" : ""}`}>
        <div className="panel-head">
          <h3>Notebook</h3>
          <span className="mono subtle">{item.notebook_path}</span>
          {live ? <SessionBar state={notebook} /> : null}
        </div>
        {!notebook.loaded ? (
          <div className="loading">Looking for a running session…</div>
        ) : live && notebook.session ? (
          <NotebookFrame session={notebook.session} />
        ) : (
          <SessionIdle state={notebook} notebookPath={item.notebook_path} />
        )}
      </div>
      {!live && (
        <div className="panel">
          <div className="panel-head">
            <h3>About</h3>
          </div>
          <div className="panel-body">
            {item.description ? (
              <p className="research-description">{item.description}</p>
            ) : (
              <p className="subtle">No description.</p>
            )}
            <dl className="kv">
              <dt>Id</dt>
              <dd>{item.id}</dd>
              <dt>Notebook</dt>
              <dd>{item.notebook_path}</dd>
              <dt>Kernel</dt>
              <dd>{item.kernel}</dd>
              <dt>Status</dt>
              <dd>{item.status}</dd>
              <dt>Created</dt>
              <dd>{dateTime(item.created_at)}</dd>
              <dt>Updated</dt>
              <dd>{dateTime(item.updated_at)}</dd>
            </dl>
          </div>
        </div>
      )}
      {editing && (
        <ItemModal
          item={item}
          onClose={() => setEditing(false)}
          onSaved={(saved) => {
            setEditing(false);
            loaded.setData(saved);
          }}
        />
      )}
      {deleting && (
        <DeleteItemModal
          item={{ ...item, session_status: live ? "RUNNING" : null }}
          onClose={() => setDeleting(false)}
          onDeleted={() => navigate("/research")}
        />
      )}
    </div>
  );
}
