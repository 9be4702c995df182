/** Ticking finished runs in a job list, and the button that compares them. */
import { useNavigate } from "react-router-dom";
import type { JobStatusView } from "../api/models";
import { COMPARE_MAX, COMPARE_MIN, canCompare, compareUrl } from "../lib/compare";

/** A row's checkbox cell: only FINISHED runs have results to compare. */
export function SelectBox({
  job,
  selected,
  onToggle,
}: {
  job: JobStatusView;
  selected: readonly string[];
  onToggle: () => void;
}) {
  const on = selected.includes(job.job_id);
  const finished = job.status === "FINISHED";
  const full = !on && selected.length >= COMPARE_MAX;
  const why = !finished
    ? "only finished runs can be compared"
    : full
      ? `at most ${COMPARE_MAX} runs at once`
      : on
        ? "remove from the comparison"
        : "add to the comparison";
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: not an interaction: it keeps a click on the checkbox (or next to it) from also opening the row; the checkbox itself is keyboard-operable.
    <td className="check" onClick={(e) => e.stopPropagation()} title={why}>
      <input
        type="checkbox"
        checked={on}
        disabled={!finished || full}
        onChange={onToggle}
        aria-label={`select job ${job.job_id.slice(0, 12)} to compare`}
        data-testid="select-job"
      />
    </td>
  );
}

/** "Compare (n)": opens `/compare?jobs=…` once 2 to 10 runs are ticked. */
export function CompareButton({
  selected,
  onClear,
  small,
}: {
  selected: readonly string[];
  onClear: () => void;
  small?: boolean;
}) {
  const navigate = useNavigate();
  const n = selected.length;
  const ok = canCompare(n);
  return (
    <span className="compare-bar">
      {n > 0 && (
        <button
          type="button"
          className="small ghost"
          onClick={onClear}
          title="clear the selection"
          data-testid="clear-selection"
        >
          Clear
        </button>
      )}
      <button
        type="button"
        className={`${ok ? "primary" : ""}${small ? " small" : ""}`}
        disabled={!ok}
        onClick={() => navigate(compareUrl(selected))}
        title={
          ok
            ? "compare the ticked runs side by side"
            : `tick ${COMPARE_MIN} to ${COMPARE_MAX} finished runs to compare them`
        }
        data-testid="compare-selected"
      >
        Compare <span className="count">({n})</span>
      </button>
    </span>
  );
}
