import { type FormEvent, useState } from "react";
import { Navigate, useSearchParams } from "react-router-dom";
import { type Session, setSession, takeExpired } from "../api/auth";
import { api, errorMessage, unwrap } from "../api/client";
import { Logo } from "../components/Layout";
import { ErrorBanner } from "../components/ui";

export function LoginPage({ session }: { session: Session | null }) {
  const [params] = useSearchParams();
  const [mobile, setMobile] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(() =>
    takeExpired() ? "Your session expired: log in again." : null,
  );
  const next = params.get("next") || "/strategies";
  if (session) return <Navigate to={next.startsWith("/") ? next : "/strategies"} replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // openapi-fetch sends the body as a form (URL-encoded) for this Content-Type
      const res = await unwrap(
        api.POST("/api/login", {
          body: { mobile, password },
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
        }),
      );
      setSession({
        token: res.token,
        userid: res.userid,
        isAdmin: res.is_admin,
        mobile,
        expiresAt: res.expires_at,
      });
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login">
      <form className="login-card" onSubmit={submit}>
        <div className="brand">
          <Logo />
          <div>
            quantdesk
            <small>sign in to your backtesting desk</small>
          </div>
        </div>
        <ErrorBanner error={error} />
        <label className="field">
          <span>Mobile</span>
          <input
            name="mobile"
            autoComplete="username"
            value={mobile}
            onChange={(e) => setMobile(e.target.value)}
            // biome-ignore lint/a11y/noAutofocus: the login page has one task and this is its first field; nothing precedes it that focus could skip.
            autoFocus
            required
          />
        </label>
        <label className="field">
          <span>Password</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        <button className="primary" type="submit" disabled={busy || !mobile || !password}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="hint">
          The token stays in this browser tab only and is dropped when you log out or it expires.
        </p>
      </form>
    </div>
  );
}
