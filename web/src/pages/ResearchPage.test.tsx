import { act, fireEvent, render, screen, within } from "@testing-library/react";
import type { Middleware } from "openapi-fetch";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { api } from "../api/client";
import type { NotebookSession, Research } from "../api/models";
import { ResearchItemPage, ResearchPage } from "./ResearchPage";

const item: Research = {
  id: "study",
  title: "Momentum study",
  description: "sector rotation",
  notebook_path: "study.ipynb",
  kernel: "python3",
  status: "ACTIVE",
  session_status: null,
  tags: ["momentum"],
  created_at: "2026-02-18T07:00:00+00:00",
  updated_at: "2026-02-18T07:00:00+00:00",
};

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "+00:00");
const EMBED = "http://localhost/jupyter/sess_1/lab/tree/study.ipynb";

function session(status: NotebookSession["status"], ttlMs = 2 * 3600_000): NotebookSession {
  return {
    session_id: "sess_1",
    notebook_url: EMBED,
    embed_url: EMBED,
    status,
    started_at: iso(Date.now()),
    last_active_at: iso(Date.now()),
    expires_at: iso(Date.now() + ttlMs),
  };
}

type Handler = (request: Request) => [number, unknown];

/** A fake server behind the API client: `METHOD /path` → [status, body]; every call logged. */
let routes: Record<string, Handler> = {};
let calls: Request[] = [];
const fake: Middleware = {
  onRequest({ request }) {
    calls.push(request.clone());
    const url = new URL(request.url);
    const handler = routes[`${request.method} ${url.pathname}`];
    const [status, body] = handler ? handler(request) : [404, { message: "no route" }];
    return new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  },
};

beforeEach(() => {
  routes = {};
  calls = [];
  api.use(fake);
});
afterEach(() => api.eject(fake));

function renderAt(path: string) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <Routes>
        <Route path="/research" element={<ResearchPage />} />
        <Route path="/research/:id" element={<ResearchItemPage />} />
      </Routes>
    </MemoryRouter>,
  );
}

const SESSION = "/api/research/items/study/notebook/session";

describe("a research item's notebook session", () => {
  it("starts into an embedded JupyterLab, refreshes, and stops to an ended state", async () => {
    let live: NotebookSession | null = null;
    routes = {
      "GET /api/research/items/study": () => [200, item],
      [`GET ${SESSION}`]: () => [200, { session: live }],
      [`POST ${SESSION}`]: () => {
        live = session("RUNNING");
        return [200, { session: live }];
      },
      [`POST ${SESSION}/refresh`]: () => [200, { session: live }],
      [`DELETE ${SESSION}`]: () => {
        const stopped = { ...session("STOPPED"), expires_at: live?.expires_at ?? "" };
        live = null;
        return [200, { session: stopped }];
      },
    };
    renderAt("/research/study");
    expect(await screen.findByText("No notebook session")).toBeTruthy();
    expect(screen.getByRole("heading", { name: "Momentum study" })).toBeTruthy();

    fireEvent.click(screen.getByTestId("session-start"));
    const frame = await screen.findByTestId("notebook-frame");
    expect(frame.getAttribute("src")).toBe(EMBED);
    expect(frame.getAttribute("title")).toBe("JupyterLab");
    expect(screen.getByTestId("session-badge").textContent).toBe("RUNNING");
    expect(screen.getByTestId("session-expiry").textContent).toMatch(
      /^expires at \d\d:\d\d \(in (2h 00m|1h 59m)\)$/,
    );

    fireEvent.click(screen.getByTestId("session-refresh"));
    await act(async () => {});
    fireEvent.click(screen.getByTestId("session-stop"));
    const ended = await screen.findByTestId("session-ended");
    expect(ended.textContent).toContain("was stopped");
    expect(within(ended).getByText("STOPPED")).toBeTruthy();
    expect(screen.queryByTestId("notebook-frame")).toBeNull();
    expect(screen.getByTestId("session-start").textContent).toBe("Start again");

    const sessionCalls = calls.filter((r) => new URL(r.url).pathname.startsWith(SESSION));
    expect(sessionCalls.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual([
      `GET ${SESSION}`,
      `POST ${SESSION}`,
      `POST ${SESSION}/refresh`,
      `DELETE ${SESSION}`,
    ]);
    // the proxy's cookie comes with these answers: same-origin credentials
    expect(sessionCalls.every((r) => r.credentials === "same-origin")).toBe(true);
    expect(new URL(sessionCalls[3].url).searchParams.get("session_id")).toBe("sess_1");
  });

  it("shows the research error's message when a start fails", async () => {
    routes = {
      "GET /api/research/items/study": () => [200, item],
      [`GET ${SESSION}`]: () => [200, { session: null }],
      [`POST ${SESSION}`]: () => [500, { message: "the notebook server did not start" }],
    };
    renderAt("/research/study");
    fireEvent.click(await screen.findByTestId("session-start"));
    expect((await screen.findByRole("alert")).textContent).toContain(
      "the notebook server did not start",
    );
    expect(screen.getByTestId("session-none")).toBeTruthy();
  });

  it("shows a session that ended meanwhile when a refresh finds none", async () => {
    let live: NotebookSession | null = session("RUNNING");
    routes = {
      "GET /api/research/items/study": () => [200, item],
      [`GET ${SESSION}`]: () => [200, { session: live }],
      [`POST ${SESSION}/refresh`]: () => {
        live = null; // stopped from another tab
        return [404, { message: "research item 'study' has no running notebook session" }];
      },
    };
    renderAt("/research/study");
    fireEvent.click(await screen.findByTestId("session-refresh"));
    expect((await screen.findByRole("alert")).textContent).toContain(
      "has no running notebook session",
    );
    expect((await screen.findByTestId("session-ended")).textContent).toContain("was stopped");
    expect(screen.queryByTestId("notebook-frame")).toBeNull();
  });

  it("edits only the changed fields and shows the saved item", async () => {
    let saved = item;
    routes = {
      "GET /api/research/items/study": () => [200, saved],
      [`GET ${SESSION}`]: () => [200, { session: null }],
      "PUT /api/research/items/study": () => {
        saved = { ...item, title: "Momentum, by sector", status: "ARCHIVED" };
        return [200, saved];
      },
    };
    renderAt("/research/study");
    fireEvent.click(await screen.findByTestId("research-edit"));
    const dialog = screen.getByRole("dialog");
    const save = within(dialog).getByTestId("research-save") as HTMLButtonElement;
    expect(save.disabled).toBe(true); // nothing changed yet
    expect((within(dialog).getByLabelText(/^Id/) as HTMLInputElement).disabled).toBe(true);
    fireEvent.change(within(dialog).getByLabelText("Title"), {
      target: { value: "Momentum, by sector" },
    });
    fireEvent.change(within(dialog).getByLabelText("Status"), { target: { value: "ARCHIVED" } });
    fireEvent.click(save);
    expect(await screen.findByRole("heading", { name: "Momentum, by sector" })).toBeTruthy();
    expect(screen.queryByRole("dialog")).toBeNull();
    const put = calls.find((r) => r.method === "PUT");
    expect(await put?.json()).toEqual({ title: "Momentum, by sector", status: "ARCHIVED" });
  });

  it("says when an item is not the user's", async () => {
    routes = {
      "GET /api/research/items/study": () => [404, { message: "research item 'study' not found" }],
      [`GET ${SESSION}`]: () => [404, { message: "research item 'study' not found" }],
    };
    renderAt("/research/study");
    expect((await screen.findByRole("alert")).textContent).toBe("research item 'study' not found");
    expect(screen.queryByTestId("session-start")).toBeNull();
  });
});

describe("the research list", () => {
  it("lists items with their session and shows a create conflict's message", async () => {
    routes = {
      "GET /api/research/items": () => [
        200,
        { items: [{ ...item, session_status: "RUNNING" }], total: 1 },
      ],
      "POST /api/research/items": () => [409, { message: "research item 'study' already exists" }],
    };
    renderAt("/research");
    const table = await screen.findByTestId("research-table");
    const row = within(table).getByText("Momentum study").closest("tr") as HTMLElement;
    expect(within(row).getByText("study")).toBeTruthy();
    expect(within(row).getByText("momentum")).toBeTruthy();
    expect(within(row).getByText("RUNNING")).toBeTruthy();
    expect(screen.getByText("1 total")).toBeTruthy();

    fireEvent.click(screen.getByTestId("new-research"));
    const dialog = screen.getByRole("dialog");
    fireEvent.change(within(dialog).getByLabelText("Title"), { target: { value: "Study" } });
    fireEvent.change(within(dialog).getByLabelText(/^Id/), { target: { value: "study" } });
    const tags = within(dialog).getByLabelText(/^Tags/);
    fireEvent.change(tags, { target: { value: "a, b，c" } });
    fireEvent.keyDown(tags, { key: "Enter" }); // Enter in a field saves
    expect((await within(dialog).findByRole("alert")).textContent).toBe(
      "research item 'study' already exists",
    );
    const post = calls.find((r) => r.method === "POST");
    expect(await post?.json()).toEqual({
      id: "study",
      title: "Study",
      description: "",
      status: "ACTIVE",
      tags: ["a", "b", "c"],
    });
  });
});
