/** A run's title and notes (`PATCH /api/backtest/jobs/{id}`): shown in lists, comparisons and
 * the report. */
import { useState } from "react";
import { api, errorMessage, unwrap } from "../api/client";
import type { JobStatusView } from "../api/models";
import { ErrorBanner } from "./ui";

export const TITLE_MAX = 200;
export const NOTES_MAX = 20000;

export function RunAnnotationForm({
  job,
  onSaved,
  onCancel,
}: {
  job: JobStatusView;
  onSaved: (job: JobStatusView) => void;
  onCancel: () => void;
}) {
  const [title, setTitle] = useState(job.title);
  const [notes, setNotes] = useState(job.notes);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function save() {
    setBusy(true);
    setError(null);
    try {
      const saved = await unwrap(
        api.PATCH("/api/backtest/jobs/{job_id}", {
          params: { path: { job_id: job.job_id } },
          body: { title: title.trim(), notes },
        }),
      );
      onSaved(saved);
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      className="panel annotate"
      data-testid="annotation-form"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
      onKeyDown={(e) => e.key === "Escape" && onCancel()}
    >
      <div className="panel-body">
        <ErrorBanner error={error} />
        <label className="field">
          <span>Title</span>
          <input
            value={title}
            maxLength={TITLE_MAX}
            placeholder="e.g. SMA 10/30, no costs"
            onChange={(e) => setTitle(e.target.value)}
            data-testid="title-input"
            // biome-ignore lint/a11y/noAutofocus: the form opens on the user's click to edit this very field.
            autoFocus
          />
        </label>
        <label className="field">
          <span>
            Notes
            <span className="hint">
              {notes.length.toLocaleString("en-US")} / {NOTES_MAX.toLocaleString("en-US")}
            </span>
          </span>
          <textarea
            value={notes}
            rows={4}
            maxLength={NOTES_MAX}
            placeholder="What this run tried, what you learned…"
            onChange={(e) => setNotes(e.target.value)}
            data-testid="notes-input"
          />
        </label>
        <div className="row">
          <span className="hint grow">Shown in the jobs list, comparisons and the report.</span>
          <button type="button" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy} data-testid="save-annotation">
            {busy ? "Saving…" : "Save"}
          </button>
        </div>
      </div>
    </form>
  );
}
