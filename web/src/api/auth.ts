/** The session: the token lives in sessionStorage (this tab only), never in localStorage. */

export interface Session {
  token: string;
  userid: number;
  isAdmin: boolean;
  mobile: string;
  expiresAt: string;
}

const KEY = "quantdesk.session";
type Listener = (session: Session | null) => void;
const listeners = new Set<Listener>();
let expiredFlag = false;

export function getSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    if (session.expiresAt && Date.parse(session.expiresAt) <= Date.now()) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return session;
  } catch {
    return null;
  }
}

export function setSession(session: Session | null): void {
  if (session) {
    sessionStorage.setItem(KEY, JSON.stringify(session));
    expiredFlag = false;
  } else {
    sessionStorage.removeItem(KEY);
  }
  for (const fn of listeners) fn(session);
}

/** Called when the server answers 401: drop the token; the app shows the login page. */
export function expireSession(): void {
  if (!getSession()) return;
  expiredFlag = true;
  setSession(null);
}

/** True once after a session expired (the login page says so). */
export function takeExpired(): boolean {
  const was = expiredFlag;
  expiredFlag = false;
  return was;
}

export function onSession(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
