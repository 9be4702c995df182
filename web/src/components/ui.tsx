/** Small shared widgets: status badges, error banners, empty states, pager, modal, tabs. */
import { type ReactNode, useEffect } from "react";
import { int } from "../lib/format";

export function StatusBadge({ status }: { status: string | null | undefined }) {
  if (!status) return <span className="badge none">never run</span>;
  return (
    <span className={`badge ${status}`} data-testid="status-badge">
      {status}
    </span>
  );
}

export function ErrorBanner({
  error,
  onClose,
}: {
  error: string | null | undefined;
  onClose?: () => void;
}) {
  if (!error) return null;
  return (
    <div className="error-banner" role="alert">
      <div className="grow">{error}</div>
      {onClose && (
        <button type="button" className="ghost small" onClick={onClose} aria-label="dismiss">
          ✕
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h2>{title}</h2>
      {children}
    </div>
  );
}

export function Pager({
  page,
  pageSize,
  total,
  onPage,
  onPageSize,
  sizes = [25, 50, 100, 200],
}: {
  page: number;
  pageSize: number;
  total: number;
  onPage: (page: number) => void;
  onPageSize?: (size: number) => void;
  sizes?: number[];
}) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const from = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const to = Math.min(total, page * pageSize);
  return (
    <div className="pager">
      <span>
        {from}–{to} of {total.toLocaleString("en-US")}
      </span>
      <span className="spacer" />
      {onPageSize && (
        <select
          value={pageSize}
          onChange={(e) => onPageSize(Number(e.target.value))}
          aria-label="rows per page"
        >
          {sizes.map((s) => (
            <option key={s} value={s}>
              {s} / page
            </option>
          ))}
        </select>
      )}
      <button
        type="button"
        className="small"
        disabled={page <= 1}
        onClick={() => onPage(1)}
        aria-label="first page"
      >
        «
      </button>
      <button
        type="button"
        className="small"
        disabled={page <= 1}
        onClick={() => onPage(page - 1)}
        aria-label="previous page"
      >
        ‹ Prev
      </button>
      <span>
        page {page} / {pages}
      </span>
      <button
        type="button"
        className="small"
        disabled={page >= pages}
        onClick={() => onPage(page + 1)}
        aria-label="next page"
      >
        Next ›
      </button>
      <button
        type="button"
        className="small"
        disabled={page >= pages}
        onClick={() => onPage(pages)}
        aria-label="last page"
      >
        »
      </button>
    </div>
  );
}

export function Modal({
  title,
  children,
  footer,
  onClose,
  wide,
}: {
  title: ReactNode;
  children: ReactNode;
  footer?: ReactNode;
  onClose: () => void;
  wide?: boolean;
}) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a press on the backdrop itself is the pointer's way to dismiss; keyboard users have Escape (the listener above) and the ✕ button.
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={`modal${wide ? " wide" : ""}`} role="dialog" aria-modal="true">
        <div className="modal-head">
          <h2 className="grow">{title}</h2>
          <button type="button" className="ghost small" onClick={onClose} aria-label="close">
            ✕
          </button>
        </div>
        <div className="modal-body">{children}</div>
        {footer && <div className="modal-foot">{footer}</div>}
      </div>
    </div>
  );
}

export function Tabs<T extends string>({
  tabs,
  value,
  onChange,
}: {
  tabs: { id: T; label: ReactNode; disabled?: boolean }[];
  value: T;
  onChange: (id: T) => void;
}) {
  return (
    <div className="tabs" role="tablist">
      {tabs.map((t) => (
        <button
          type="button"
          key={t.id}
          role="tab"
          aria-selected={value === t.id}
          className={value === t.id ? "active" : ""}
          disabled={t.disabled}
          onClick={() => onChange(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

export function Progress({
  value,
  large,
  testId,
  label = "progress",
}: {
  value: number;
  large?: boolean;
  testId?: string;
  label?: string;
}) {
  const clamped = Math.max(0, Math.min(100, value));
  return (
    <div
      className={`progress${large ? " large" : ""}`}
      title={`${value.toFixed(0)}%`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(clamped * 10) / 10}
      data-testid={testId}
    >
      <div style={{ width: `${clamped}%` }} />
    </div>
  );
}

/** Whether a view is updated by pushes (`live`) or by polling over HTTP. */
export function LiveBadge({ live, testId }: { live: boolean; testId?: string }) {
  return (
    <span
      className={`live-badge${live ? " on" : ""}`}
      title={
        live ? "updated live over the WebSocket" : "no live connection: refreshed every few seconds"
      }
      data-testid={testId}
    >
      {live ? "live" : "polling"}
    </span>
  );
}

/** "Show all N" / "Show fewer" under a list cut at ``shown`` rows; nothing when all fit. */
export function ShowAllToggle({
  total,
  shown,
  all,
  onToggle,
}: {
  total: number;
  shown: number;
  all: boolean;
  onToggle: (all: boolean) => void;
}) {
  if (total <= shown) return null;
  return (
    <button type="button" className="ghost small" onClick={() => onToggle(!all)}>
      {all ? "Show fewer" : `Show all ${int(total)}`}
    </button>
  );
}
