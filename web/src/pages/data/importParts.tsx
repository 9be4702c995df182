/**
 * The parts of the Data page's import forms (daily bars: `ImportPanel`, membership:
 * `IndexImport`): the file drop zone, the strict toggle, the Preview/Import actions and the
 * column-mapping grid. Each form keeps its own fields, texts and test ids.
 */
import { type DragEvent, type RefObject, useState } from "react";
import { bytes } from "../../lib/format";

/** The file input, a label to click or drop a file on; shows the file chosen. */
export function FileDropZone({
  file,
  parquet,
  columnCount,
  onPick,
  inputRef,
  ariaLabel,
  testId,
  nameTestId,
  emptyTitle,
  emptyHint,
}: {
  file: File | null;
  parquet: boolean;
  /** The columns read off the file here (none for Parquet). */
  columnCount: number;
  onPick: (file: File) => void | Promise<void>;
  inputRef?: RefObject<HTMLInputElement | null>;
  ariaLabel?: string;
  testId: string;
  nameTestId: string;
  emptyTitle: string;
  emptyHint: string;
}) {
  const [dragging, setDragging] = useState(false);
  const onDrop = (e: DragEvent<HTMLElement>) => {
    e.preventDefault();
    setDragging(false);
    const dropped = e.dataTransfer.files[0];
    if (dropped) void onPick(dropped);
  };
  return (
    <label
      className={`dropzone${dragging ? " over" : ""}${file ? " has-file" : ""}`}
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
    >
      <input
        ref={inputRef}
        type="file"
        accept=".csv,.txt,.tsv,.parquet,.pq,text/csv"
        aria-label={ariaLabel}
        onChange={(e) => {
          const chosen = e.target.files?.[0];
          if (chosen) void onPick(chosen);
          e.target.value = "";
        }}
        data-testid={testId}
      />
      {file ? (
        <span className="dropzone-file">
          <span className="file-icon" aria-hidden="true">
            {parquet ? "PQ" : "CSV"}
          </span>
          <span className="grow">
            <span className="strong file-name" data-testid={nameTestId}>
              {file.name}
            </span>
            <span className="hint">
              {bytes(file.size)}
              {columnCount > 0 && ` · ${columnCount} columns`}
              {" · click or drop to replace"}
            </span>
          </span>
        </span>
      ) : (
        <span className="dropzone-empty">
          <span className="strong">{emptyTitle}</span>
          <span className="hint">{emptyHint}</span>
        </span>
      )}
    </label>
  );
}

/** The strict checkbox, with what it means in its current state. */
export function StrictToggle({
  checked,
  onChange,
}: {
  checked: boolean;
  onChange: (checked: boolean) => void;
}) {
  return (
    <label className="check-row">
      <input
        type="checkbox"
        name="strict"
        checked={checked}
        onChange={(e) => onChange(e.target.checked)}
      />
      <span>
        <span className="strong">Strict</span>
        <span className="hint block">
          {checked
            ? "Any invalid row refuses the whole file; nothing changes."
            : "Valid rows are imported; invalid ones are skipped and reported."}
        </span>
      </span>
    </label>
  );
}

/** Preview (a dry run) and Import, and "Map columns…" while the mapping is hidden. */
export function ImportActions({
  blocked,
  busy,
  onSubmit,
  previewTestId,
  commitTestId,
  commitTitle,
  onMap,
  mapTestId,
}: {
  blocked: boolean;
  busy: "preview" | "import" | null;
  onSubmit: (dryRun: boolean) => void | Promise<void>;
  previewTestId: string;
  commitTestId: string;
  commitTitle: string;
  /** Shows the mapping; no "Map columns…" button without it. */
  onMap?: () => void;
  mapTestId: string;
}) {
  return (
    <div className="import-actions">
      <button
        type="button"
        disabled={blocked}
        onClick={() => void onSubmit(true)}
        data-testid={previewTestId}
        title="validate and report; nothing is written"
      >
        {busy === "preview" ? "Checking…" : "Preview"}
      </button>
      <button
        type="button"
        className="primary"
        disabled={blocked}
        onClick={() => void onSubmit(false)}
        data-testid={commitTestId}
        title={commitTitle}
      >
        {busy === "import" ? "Importing…" : "Import"}
      </button>
      <span className="grow" />
      {onMap && (
        <button type="button" className="ghost small" onClick={onMap} data-testid={mapTestId}>
          Map columns…
        </button>
      )}
    </div>
  );
}

/**
 * One row a target column: which of the file's columns holds it, a select of the file's
 * columns when they are known, else a text input.
 */
export function MappingGrid<C extends string>({
  targets,
  hints,
  mapping,
  columns,
  required,
  invalid,
  emptyLabel,
  placeholder,
  byName,
  onChange,
}: {
  targets: readonly C[];
  hints: Record<C, string>;
  mapping: Partial<Record<C, string>>;
  /** The file's columns; none known: text inputs. */
  columns: string[];
  /** Marks a required target with an asterisk. */
  required?: (column: C) => boolean;
  invalid: (column: C) => boolean;
  /** The select's blank option. */
  emptyLabel: (column: C) => string;
  /** The text input's placeholder. */
  placeholder: (column: C) => string;
  /** The matches by name: their options say so. */
  byName?: Partial<Record<C, string>>;
  onChange: (column: C, value: string) => void;
}) {
  return (
    <div className="mapping-grid">
      {targets.map((c) => {
        const value = mapping[c] ?? "";
        const className = invalid(c) ? "invalid" : undefined;
        return (
          <div key={c} className="mapping-row">
            <span className="mapping-target" title={hints[c]}>
              <span className="mono">
                {c}
                {required?.(c) && <span className="req">*</span>}
              </span>
              <span className="hint">{hints[c]}</span>
            </span>
            <span className="mapping-arrow" aria-hidden="true">
              ←
            </span>
            {columns.length ? (
              <select
                name={`map-${c}`}
                aria-label={`file column for ${c}`}
                value={value}
                className={className}
                onChange={(e) => onChange(c, e.target.value)}
              >
                <option value="">{emptyLabel(c)}</option>
                {columns.map((col) => (
                  <option key={col} value={col}>
                    {col}
                    {byName?.[c] === col && " (by name)"}
                  </option>
                ))}
              </select>
            ) : (
              <input
                name={`map-${c}`}
                aria-label={`file column for ${c}`}
                value={value}
                placeholder={placeholder(c)}
                className={className}
                onChange={(e) => onChange(c, e.target.value)}
              />
            )}
          </div>
        );
      })}
    </div>
  );
}
