/** The research item dialogs: create or edit (id, title, description, notebook path, tags,
 * status) and delete. Server errors (`{"message"}`, 400/409...) show in the dialog. */
import { type KeyboardEvent, useState } from "react";
import { api, errorMessage, unwrap } from "../api/client";
import type { ItemStatus, Research } from "../api/models";
import { checkId } from "../lib/ids";
import {
  checkNotebookPath,
  checkTags,
  createBody,
  EMPTY_FORM,
  formOf,
  type ItemForm,
  parseTags,
  updateBody,
} from "../lib/research";
import { ErrorBanner, Modal } from "./ui";

/** Create (`item` undefined) or edit `item`; `onSaved` gets the item the server answered. */
export function ItemModal({
  item,
  onClose,
  onSaved,
}: {
  item?: Research;
  onClose: () => void;
  onSaved: (item: Research) => void;
}) {
  const [form, setForm] = useState<ItemForm>(item ? formOf(item) : EMPTY_FORM);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (field: keyof ItemForm) => (value: string) => {
    setForm((f) => ({ ...f, [field]: value }));
    setError(null);
  };
  const idError = !item && form.id.trim() ? checkId(form.id.trim()) : null;
  const pathError = checkNotebookPath(form.notebookPath);
  const tagsError = checkTags(form.tags);
  const titleError = item && !form.title.trim() ? "a title is required" : null;
  const invalid = Boolean(idError || pathError || tagsError || titleError);
  const changes = item ? updateBody(item, form) : null;
  const unchanged = changes !== null && Object.keys(changes).length === 0;
  const tags = parseTags(form.tags);
  /** Enter in a one-line field saves. */
  const onEnter = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    void save();
  };

  async function save() {
    if (invalid || busy) return;
    setBusy(true);
    setError(null);
    try {
      const saved = item
        ? await unwrap(
            api.PUT("/api/research/items/{item_id}", {
              params: { path: { item_id: item.id } },
              body: changes ?? {},
            }),
          )
        : await unwrap(api.POST("/api/research/items", { body: createBody(form) }));
      onSaved(saved);
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal
      title={item ? `Edit ${item.id}` : "New research"}
      onClose={onClose}
      footer={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="primary"
            disabled={busy || invalid || unchanged}
            onClick={save}
            data-testid="research-save"
          >
            {item ? "Save" : "Create"}
          </button>
        </>
      }
    >
      <ErrorBanner error={error} />
      <div className="form-grid">
        <label className="field full">
          <span>Title</span>
          <input
            name="title"
            onKeyDown={onEnter}
            // biome-ignore lint/a11y/noAutofocus: the dialog opens on the user's click and moves focus into itself, to its first field (WAI-ARIA dialog pattern).
            autoFocus
            value={form.title}
            maxLength={200}
            onChange={(e) => set("title")(e.target.value)}
            placeholder="e.g. Momentum across sectors"
            className={titleError ? "invalid" : ""}
          />
          {titleError && <span className="field-error">{titleError}</span>}
        </label>
        <label className="field">
          <span>
            Id <small className="subtle">{item ? "fixed" : "optional"}</small>
          </span>
          <input
            name="id"
            onKeyDown={onEnter}
            value={form.id}
            disabled={Boolean(item)}
            onChange={(e) => set("id")(e.target.value)}
            placeholder="made from the title"
            className={idError ? "invalid mono" : "mono"}
          />
          {idError && <span className="field-error">{idError}</span>}
        </label>
        <label className="field">
          <span>
            Notebook <small className="subtle">optional</small>
          </span>
          <input
            name="notebook_path"
            onKeyDown={onEnter}
            value={form.notebookPath}
            onChange={(e) => set("notebookPath")(e.target.value)}
            placeholder={`${form.id.trim() || item?.id || "<id>"}.ipynb`}
            className={pathError ? "invalid mono" : "mono"}
          />
          {pathError && <span className="field-error">{pathError}</span>}
        </label>
        <label className="field full">
          <span>Description</span>
          <textarea
            name="description"
            rows={4}
            value={form.description}
            maxLength={20_000}
            onChange={(e) => set("description")(e.target.value)}
            placeholder="What is being studied, and why"
          />
        </label>
        <label className="field full">
          <span>
            Tags <small className="subtle">comma-separated</small>
          </span>
          <input
            name="tags"
            onKeyDown={onEnter}
            value={form.tags}
            onChange={(e) => set("tags")(e.target.value)}
            placeholder="momentum, us_stock"
            className={tagsError ? "invalid" : ""}
          />
          {tagsError ? (
            <span className="field-error">{tagsError}</span>
          ) : (
            tags.length > 0 && (
              <small className="tag-preview">
                {tags.map((t) => (
                  <span key={t} className="tag">
                    {t}
                  </span>
                ))}
              </small>
            )
          )}
        </label>
        {item && (
          <label className="field">
            <span>Status</span>
            <select
              name="status"
              value={form.status}
              onChange={(e) => set("status")(e.target.value as ItemStatus)}
            >
              <option value="ACTIVE">Active</option>
              <option value="ARCHIVED">Archived</option>
            </select>
          </label>
        )}
      </div>
      <p className="hint">
        {item
          ? "The notebook path and kernel can change only while no session runs."
          : "The notebook is created, with a first cell that loads quantdesk, when you first start a session."}
      </p>
    </Modal>
  );
}

/** Delete `item` (its running session is stopped; the notebook file stays). */
export function DeleteItemModal({
  item,
  onClose,
  onDeleted,
}: {
  item: Research;
  onClose: () => void;
  onDeleted: () => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function remove() {
    setBusy(true);
    setError(null);
    try {
      await unwrap(
        api.DELETE("/api/research/items/{item_id}", { params: { path: { item_id: item.id } } }),
      );
      onDeleted();
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal
      title={`Delete ${item.id}?`}
      onClose={onClose}
      footer={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={remove}
            data-testid="research-delete-submit"
          >
            Delete
          </button>
        </>
      }
    >
      <ErrorBanner error={error} />
      <p>
        The research item <strong>{item.title}</strong> is removed
        {item.session_status ? " and its running notebook session stopped" : ""}. Its notebook{" "}
        <span className="mono">{item.notebook_path}</span> is kept.
      </p>
    </Modal>
  );
}
