/**
 * The research workbench's logic, kept out of the page: the item form (tags as typed, the
 * create and update bodies), a notebook session's phase, and its expiry countdown. Pure
 * functions over the schema's types; the page makes the calls.
 */
import type {
  ItemStatus,
  NotebookSession,
  Research,
  ResearchCreate,
  ResearchUpdate,
  SessionStatus,
} from "../api/models";
import { clockTime } from "./format";

/** The create/edit form as typed (tags as one comma-separated string). */
export interface ItemForm {
  id: string;
  title: string;
  description: string;
  notebookPath: string;
  tags: string;
  status: ItemStatus;
}

export const EMPTY_FORM: ItemForm = {
  id: "",
  title: "",
  description: "",
  notebookPath: "",
  tags: "",
  status: "ACTIVE",
};

/** The form filled with an item's fields (to edit it). */
export function formOf(item: Research): ItemForm {
  return {
    id: item.id,
    title: item.title,
    description: item.description,
    notebookPath: item.notebook_path,
    tags: item.tags.join(", "),
    status: item.status,
  };
}

/** "momentum, A股，factors、 momentum" → ["momentum", "A股", "factors"]: split at ASCII or CJK
 * commas (a tag may hold spaces), trimmed, empty ones dropped, first occurrence kept. */
export function parseTags(text: string): string[] {
  const tags = text
    .split(/[,，、]/)
    .map((t) => t.trim())
    .filter(Boolean);
  return [...new Set(tags)];
}

/** The server's tag limits (`views_research._tags`), checked before sending. */
export const MAX_TAGS = 32;
export const MAX_TAG_LENGTH = 64;

export function checkTags(text: string): string | null {
  const tags = parseTags(text);
  if (tags.length > MAX_TAGS) return `at most ${MAX_TAGS} tags`;
  if (tags.some((t) => t.length > MAX_TAG_LENGTH))
    return `a tag has at most ${MAX_TAG_LENGTH} characters`;
  return null;
}

/** The obvious mistakes in a notebook path (the server has the last word): empty is fine (the
 * default `<id>.ipynb`); else relative, no `..` or hidden folders, ending in `.ipynb`. */
export function checkNotebookPath(path: string): string | null {
  const text = path.trim().replace(/\\/g, "/");
  if (!text) return null;
  if (text.startsWith("/") || text.startsWith("~")) return "a path relative to your notebooks";
  if (text.split("/").some((part) => part === "" || part.startsWith(".")))
    return "no '..', hidden (dot) or empty folders";
  if (!text.endsWith(".ipynb")) return "must end in .ipynb";
  return null;
}

/** `POST /api/research/items`: blank id and notebook path left out (the server makes them from
 * the title and the id). */
export function createBody(form: ItemForm): ResearchCreate {
  const body: ResearchCreate = {
    description: form.description.trim(),
    status: form.status,
    tags: parseTags(form.tags),
  };
  const id = form.id.trim();
  const title = form.title.trim();
  const path = form.notebookPath.trim();
  if (id) body.id = id;
  if (title) body.title = title;
  if (path) body.notebook_path = path;
  return body;
}

/** `PUT /api/research/items/{id}`: only the fields that differ from `item` (`{}` when none). A
 * blank notebook path asks for the default (`<id>.ipynb`); a blank title keeps the old one. */
export function updateBody(item: Research, form: ItemForm): ResearchUpdate {
  const body: ResearchUpdate = {};
  const title = form.title.trim();
  if (title && title !== item.title) body.title = title;
  const description = form.description.trim();
  if (description !== item.description) body.description = description;
  const path = form.notebookPath.trim();
  const wanted = path || `${item.id}.ipynb`;
  if (wanted !== item.notebook_path) body.notebook_path = path || null;
  const tags = parseTags(form.tags);
  if (tags.join("\n") !== item.tags.join("\n")) body.tags = tags;
  if (form.status !== item.status) body.status = form.status;
  return body;
}

/** The states a session ends in. */
export const ENDED: readonly SessionStatus[] = ["STOPPED", "EXPIRED", "FAILED"];

/** Where a session is, for the page: none yet, being started, live (JupyterLab shown), or
 * ended (with its last state). A RUNNING session past its time stays live until the server
 * says otherwise (the page asks it then: `reconcile`). */
export type SessionPhase = "none" | "starting" | "live" | "ended";

export function sessionPhase(session: NotebookSession | null): SessionPhase {
  if (!session) return "none";
  if (session.status === "STARTING") return "starting";
  return ENDED.includes(session.status) ? "ended" : "live";
}

/** The session to show after `GET .../notebook/session` answered `found`, given the one shown
 * (`shown`). The server answers `null` once a session has ended; a live one that vanished ran
 * out (EXPIRED, when its time is up) or was stopped elsewhere (STOPPED), and stays on screen
 * with that state so the page can say so. */
export function reconcile(
  shown: NotebookSession | null,
  found: NotebookSession | null,
  now: number,
): NotebookSession | null {
  if (found) return found;
  if (!shown || ENDED.includes(shown.status)) return shown;
  const expired = Date.parse(shown.expires_at) <= now;
  return { ...shown, status: expired ? "EXPIRED" : "STOPPED" };
}

/** Whole seconds from `now` to `iso` (0 once past; 0 for an unreadable time). */
export function secondsLeft(iso: string, now: number): number {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 0;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/** Seconds as "1h 59m", "4:09" (under an hour, ticking), "0:07". */
export function countdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s >= 3600) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)}h ${String(m).padStart(2, "0")}m`;
  }
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Under this many seconds left the page warns and suggests a refresh. */
export const EXPIRY_WARNING_S = 10 * 60;

/** "expires at 14:32 (in 1h 59m)" / "expired at 14:32". */
export function expiryText(expiresAt: string, now: number): string {
  const left = secondsLeft(expiresAt, now);
  const at = clockTime(expiresAt, new Date(now)).replace(/:\d\d$/, "");
  return left > 0 ? `expires at ${at} (in ${countdown(left)})` : `expired at ${at}`;
}

/** What the page says about an ended session. */
export function endedText(session: NotebookSession | null): string {
  switch (session?.status) {
    case "EXPIRED":
      return "The notebook session expired: its server and kernels were stopped.";
    case "FAILED":
      return "The notebook session failed.";
    case "STOPPED":
      return "The notebook session was stopped: its server and kernels are gone.";
    default:
      return "No notebook session is running.";
  }
}
