/**
 * The typed API client: `openapi-fetch` over the types generated from the server's OpenAPI
 * schema (`src/api/schema.d.ts`, `make web-client`). Every failure becomes an `ApiError`
 * carrying the contract's `{"ok": false, "error": {"code", "message"}}`, or the Research API's
 * `{"message": "..."}` (its code then `HTTP_<status>`).
 */
import createClient, { type Middleware } from "openapi-fetch";
import { expireSession, getSession } from "./auth";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly data: unknown;

  constructor(status: number, code: string, message: string, data?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.data = data;
  }
}

const auth: Middleware = {
  onRequest({ request }) {
    const session = getSession();
    if (session && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", session.token);
    }
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 && !new URL(request.url).pathname.endsWith("/api/login")) {
      expireSession();
    }
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: globalThis.location?.origin ?? "" });
api.use(auth);

/** A non-empty string, else `undefined`. */
const text = (value: unknown): string | undefined =>
  typeof value === "string" && value ? value : undefined;

/** The error of a failed call, from the contract's error body when there is one. */
export function toApiError(status: number, body: unknown): ApiError {
  // An error body is untyped (any status, any server in between): each field is checked
  // before use.
  if (body && typeof body === "object") {
    const error = "error" in body ? body.error : undefined;
    if (error && typeof error === "object") {
      const code = "code" in error ? text(error.code) : undefined;
      const message = "message" in error ? text(error.message) : undefined;
      const data = "data" in body ? body.data : undefined;
      return new ApiError(
        status,
        code ?? `HTTP_${status}`,
        message ?? code ?? `HTTP ${status}`,
        data,
      );
    }
    // The Research API's format: `{"message": "..."}`.
    const message = "message" in body ? text(body.message) : undefined;
    if (message) return new ApiError(status, `HTTP_${status}`, message);
  }
  if (typeof body === "string" && body.trim())
    return new ApiError(status, `HTTP_${status}`, body.trim().slice(0, 300));
  return new ApiError(status, `HTTP_${status}`, `request failed with HTTP ${status}`);
}

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a call, or throw its `ApiError`. */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<NonNullable<T>> {
  let result: FetchResult<T>;
  try {
    result = await call;
  } catch (exc) {
    throw new ApiError(0, "NETWORK", `the server did not answer (${(exc as Error).message})`);
  }
  if (result.error !== undefined || !result.response.ok) {
    throw toApiError(result.response.status, result.error);
  }
  // openapi-fetch leaves `data` undefined only for an empty answer, which no JSON route of the
  // contract gives.
  const { data } = result;
  if (data === undefined || data === null) {
    throw new ApiError(result.response.status, "EMPTY_ANSWER", "the server answered no body");
  }
  return data;
}

/** `{"ok": true, "data": X}` → X, for the routes whose answer the schema types as an envelope. */
export async function unwrapData<T>(call: Promise<FetchResult<{ data: T }>>): Promise<T> {
  return (await unwrap(call)).data;
}

/** Download an authenticated file (the browser cannot add the header to a plain link). */
export async function download(path: string, filename: string): Promise<void> {
  const session = getSession();
  const response = await fetch(path, { headers: session ? { Authorization: session.token } : {} });
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      /* not JSON */
    }
    if (response.status === 401) expireSession();
    throw toApiError(response.status, body);
  }
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function errorMessage(exc: unknown): string {
  if (exc instanceof ApiError) return exc.message;
  if (exc instanceof Error) return exc.message;
  return String(exc);
}
