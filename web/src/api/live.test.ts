import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type ChannelFrame,
  type ChannelHandler,
  decodeEquity,
  decodeEventView,
  decodeFrame,
  decodeLogLines,
  decodeProcesses,
  decodeProgress,
  decodeStatus,
  decodeTick,
  LiveClient,
  type SocketEvents,
  type SocketLike,
} from "./live";

describe("decodeFrame", () => {
  it("reads the control frames", () => {
    expect(decodeFrame('{"event":"connected","data":{"user_id":1,"epoch":"e1"}}')).toEqual({
      type: "connected",
      userId: 1,
      epoch: "e1",
    });
    expect(decodeFrame('{"event":"subscribed","channel":"jobs","seq":41,"epoch":"e1"}')).toEqual({
      type: "subscribed",
      channel: "jobs",
      seq: 41,
      epoch: "e1",
    });
    expect(
      decodeFrame(
        '{"event":"error","channel":"job.x","error":{"code":"NOT_FOUND","message":"no job"}}',
      ),
    ).toEqual({ type: "error", channel: "job.x", code: "NOT_FOUND", message: "no job" });
    expect(decodeFrame('{"event":"error","error":{"code":"UNAUTHORIZED"}}')).toEqual({
      type: "error",
      channel: null,
      code: "UNAUTHORIZED",
      message: "",
    });
    expect(decodeFrame('{"event":"pong","ts":1}')).toEqual({ type: "pong" });
    expect(decodeFrame('{"event":"heartbeat","ts":1}')).toEqual({ type: "heartbeat" });
  });

  it("reads channel messages", () => {
    const raw = JSON.stringify({
      channel: "job.ab",
      seq: 3,
      event: "progress",
      data: { progress: 50 },
      ts: 1700000000.5,
    });
    expect(decodeFrame(raw)).toEqual({
      type: "message",
      channel: "job.ab",
      seq: 3,
      event: "progress",
      data: { progress: 50 },
      ts: 1700000000.5,
    });
  });

  it("rejects what is not a frame", () => {
    for (const raw of [
      "not json",
      "[]",
      "null",
      '{"channel":"jobs"}',
      '{"event":"connected","data":{"user_id":"1","epoch":"e"}}',
      '{"event":"subscribed","channel":"jobs","seq":"1"}',
      '{"event":"progress","channel":"job.a","seq":1,"data":[]}',
      '{"event":"progress","seq":1,"data":{}}',
      '{"event":"error","error":"boom"}',
    ]) {
      expect(decodeFrame(raw), raw).toBeNull();
    }
    expect(decodeFrame(new ArrayBuffer(2))).toBeNull();
  });
});

describe("payload decoders", () => {
  it("progress, clamped, with the seed's task_id spelling", () => {
    expect(
      decodeProgress({ task_id: "j", progress: 120, pct: 120, current_bar: 5, total_bars: 4 }),
    ).toEqual({ jobId: "j", progress: 100, currentBar: 5, totalBars: 4 });
    expect(decodeProgress({ job_id: "j", progress: "50" })).toBeNull();
    expect(decodeProgress({ progress: 50 })).toBeNull();
  });

  it("log lines keep only strings", () => {
    expect(decodeLogLines({ lines: ["a", 2, "b"] })).toEqual(["a", "b"]);
    expect(decodeLogLines({ lines: "a" })).toBeNull();
  });

  it("equity keeps the well-formed [date, nav] points, in their order", () => {
    expect(
      decodeEquity({
        job_id: "j",
        task_id: "j",
        points: [
          ["2010-01-04", 1],
          ["2010-01-05", 1.0125],
        ],
      }),
    ).toEqual({
      jobId: "j",
      points: [
        ["2010-01-04", 1],
        ["2010-01-05", 1.0125],
      ],
    });
    const malformed = decodeEquity({
      task_id: "j",
      points: [
        ["2010-01-06", "1.1"],
        ["2010-01-07", null],
        ["2010-01-08", Number.NaN],
        ["20100109", 1],
        [20100110, 1],
        ["2010-01-11"],
        ["2010-01-12", 1, 2],
        { date: "2010-01-13", nav: 1 },
        "2010-01-14",
        null,
        ["2010-01-15", 0.98],
      ],
    });
    expect(malformed).toEqual({ jobId: "j", points: [["2010-01-15", 0.98]] });
    expect(decodeEquity({ job_id: "j", points: [] })).toEqual({ jobId: "j", points: [] });
    expect(decodeEquity({ job_id: "j", points: { "2010-01-04": 1 } })).toBeNull();
    expect(decodeEquity({ job_id: "j" })).toBeNull();
    expect(decodeEquity({ points: [["2010-01-04", 1]] })).toBeNull();
  });

  it("an equity frame off the wire", () => {
    const raw = JSON.stringify({
      channel: "job.j",
      seq: 9,
      event: "equity",
      data: { job_id: "j", task_id: "j", points: [["2010-01-04", 1]] },
      ts: 1,
    });
    const frame = decodeFrame(raw);
    expect(frame?.type).toBe("message");
    if (frame?.type !== "message") return;
    expect(frame.event).toBe("equity");
    expect(decodeEquity(frame.data)?.points).toEqual([["2010-01-04", 1]]);
  });

  it("status needs a known job status", () => {
    expect(
      decodeStatus({
        job_id: "j",
        kind: "job.failed",
        status: "FAILED",
        strategy_id: "s",
        attempts: 1,
        error: { code: "STRATEGY_ERROR", message: "boom" },
      }),
    ).toEqual({
      jobId: "j",
      kind: "job.failed",
      status: "FAILED",
      strategyId: "s",
      attempts: 1,
      error: { code: "STRATEGY_ERROR", message: "boom" },
    });
    expect(decodeStatus({ job_id: "j", status: "DONE" })).toBeNull();
    expect(decodeStatus({ job_id: "j", status: "RUNNING", error: { code: 3 } })?.error).toBeNull();
  });

  it("ticks need cpu and memory; the rest may be missing", () => {
    const tick = decodeTick(
      {
        cpu_percent: 12.5,
        cpu_count: 2,
        memory_percent: 40,
        load: [0.5, "x", 0.2],
        jobs: { RUNNING: 1, QUEUED: "2" },
      },
      10,
    );
    expect(tick).toMatchObject({
      ts: 10,
      cpuPercent: 12.5,
      cpuCount: 2,
      memoryPercent: 40,
      diskPercent: null,
      load: [0.5, 0.2],
      jobs: { RUNNING: 1 },
    });
    expect(decodeTick({ cpu_percent: 1 }, 0)).toBeNull();
  });

  it("events and processes as the HTTP API lists them", () => {
    const view = { id: 7, created_at: null, kind: "job.finished", subject: "j", user_id: 1 };
    expect(decodeEventView({ ...view, data: { status: "FINISHED" } })).toEqual({
      ...view,
      data: { status: "FINISHED" },
    });
    expect(decodeEventView({ ...view, data: null })?.data).toEqual({});
    expect(decodeEventView({ ...view, id: "7" })).toBeNull();
    const procs = decodeProcesses({
      processes: [{ pid: 3, role: "worker", memory_mb: 50 }, { pid: "x" }],
      total: 2,
    });
    expect(procs).toHaveLength(1);
    expect(procs?.[0]).toMatchObject({ pid: 3, role: "worker", memory_mb: 50, job_id: null });
    expect(decodeProcesses({ processes: {} })).toBeNull();
  });
});

// -- the client, over a fake WebSocket ---------------------------------------------------------

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  closedWith: number | null = null;

  constructor(
    readonly url: string,
    readonly protocols: string[],
    private readonly on: SocketEvents,
  ) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("not open");
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000): void {
    if (this.readyState === 0) throw new Error("closed while connecting");
    this.closedWith = code;
    this.readyState = 3;
    this.on.close(code, "");
  }

  // the server's side
  open(): void {
    this.readyState = 1;
    this.on.open();
  }
  push(frame: unknown): void {
    this.on.message(JSON.stringify(frame));
  }
  accept(epoch = "e1"): void {
    this.open();
    this.push({ event: "connected", data: { user_id: 1, epoch } });
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.on.close(code, "");
  }
  actions(action: string): Record<string, unknown>[] {
    return this.sent.filter((m) => m.action === action);
  }
}

function setup(token: string | null = "tok", verify = vi.fn(async () => true)) {
  const sockets: FakeSocket[] = [];
  const session = { token };
  const client = new LiveClient({
    url: () => "ws://test/api/ws",
    token: () => session.token,
    verify,
    socket: (url, protocols, on) => {
      const s = new FakeSocket(url, protocols, on);
      sockets.push(s);
      return s;
    },
    minDelayMs: 100,
    maxDelayMs: 1600,
    pingAfterMs: 1000,
    deadAfterMs: 3000,
    lingerMs: 500,
    random: () => 0.9999, // no jitter: each delay is its upper bound
  });
  const last = () => {
    const s = sockets.at(-1);
    if (!s) throw new Error("no socket");
    return s;
  };
  return { client, sockets, session, verify, last };
}

function recorder() {
  const frames: ChannelFrame[] = [];
  const calls: string[] = [];
  const handler: ChannelHandler = {
    frame: (f) => frames.push(f),
    reset: () => calls.push("reset"),
    subscribed: (resumed) => calls.push(resumed ? "resumed" : "subscribed"),
    error: (code) => calls.push(`error ${code}`),
    live: (v) => calls.push(v ? "live" : "down"),
  };
  return { frames, calls, handler };
}

const flush = () => vi.advanceTimersByTimeAsync(0);

function message(channel: string, seq: number, event = "log", data: object = { lines: [] }) {
  return { channel, seq, event, data, ts: seq };
}

describe("LiveClient", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("authenticates with the subprotocol, subscribes once connected and delivers in order", async () => {
    const { client, sockets, verify, last } = setup();
    const rec = recorder();
    client.subscribe("job.a", rec.handler);
    expect(client.getState()).toBe("connecting");
    await flush();
    expect(verify).toHaveBeenCalledOnce();
    expect(sockets).toHaveLength(1);
    expect(last().url).toBe("ws://test/api/ws");
    expect(last().protocols).toEqual(["quantdesk", "tok"]);
    last().accept();
    expect(client.getState()).toBe("open");
    expect(last().sent).toEqual([{ action: "subscribe", channel: "job.a" }]);
    last().push({ event: "subscribed", channel: "job.a", seq: 4, epoch: "e1" });
    expect(rec.calls).toEqual(["live", "subscribed"]);
    expect(client.isLive("job.a")).toBe(true);
    last().push(message("job.a", 5));
    last().push(message("job.a", 5)); // a duplicate
    last().push(message("job.b", 6)); // not subscribed
    last().push(message("job.a", 6, "progress", { progress: 10 }));
    expect(rec.frames.map((f) => [f.seq, f.event])).toEqual([
      [5, "log"],
      [6, "progress"],
    ]);
  });

  it("reconnects with exponential back-off and resumes after the last seq", async () => {
    const { client, sockets, last } = setup();
    const rec = recorder();
    client.subscribe("job.a", rec.handler);
    await flush();
    last().accept("e1");
    last().push({ event: "subscribed", channel: "job.a", seq: 0, epoch: "e1" });
    last().push(message("job.a", 1));
    last().push(message("job.a", 2));

    last().drop();
    expect(client.getState()).toBe("reconnecting");
    expect(client.isLive("job.a")).toBe(false);
    expect(rec.calls.at(-1)).toBe("down");
    // Each failed attempt doubles the delay: 100, 200, 400 ms...
    await vi.advanceTimersByTimeAsync(99);
    expect(sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(2);
    last().drop(); // refused before `connected`
    await vi.advanceTimersByTimeAsync(199);
    expect(sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(3);
    last().drop();
    await vi.advanceTimersByTimeAsync(400);
    expect(sockets).toHaveLength(4);

    last().accept("e1");
    expect(last().sent).toEqual([{ action: "subscribe", channel: "job.a", after: 2, epoch: "e1" }]);
    last().push({ event: "subscribed", channel: "job.a", seq: 4, epoch: "e1" });
    expect(rec.calls.slice(-2)).toEqual(["live", "resumed"]);
    last().push(message("job.a", 2)); // replayed twice: dropped
    last().push(message("job.a", 3));
    last().push(message("job.a", 4));
    expect(rec.frames.map((f) => f.seq)).toEqual([1, 2, 3, 4]);
  });

  it("starts the back-off over after a stable connection", async () => {
    const { client, sockets, last } = setup();
    client.subscribe("jobs", recorder().handler);
    await flush();
    last().drop();
    await vi.advanceTimersByTimeAsync(100);
    last().drop();
    await vi.advanceTimersByTimeAsync(200);
    last().accept();
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(1000); // open and answering for a while
      last().push({ event: "heartbeat", ts: i });
    }
    expect(sockets).toHaveLength(3);
    last().drop();
    expect(client.reconnectAttempts).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(sockets).toHaveLength(4);
  });

  it("resumes with the epoch its numbering came from and reloads on reset", async () => {
    const { client, last } = setup();
    const rec = recorder();
    client.subscribe("job.a", rec.handler);
    await flush();
    last().accept("old");
    last().push({ event: "subscribed", channel: "job.a", seq: 7, epoch: "old" });
    last().push(message("job.a", 8));
    last().drop();
    await vi.advanceTimersByTimeAsync(100);
    last().accept("new"); // the server restarted: another hub
    expect(last().sent).toEqual([
      { action: "subscribe", channel: "job.a", after: 8, epoch: "old" },
    ]);
    last().push({ event: "subscribed", channel: "job.a", seq: 2, epoch: "new" });
    last().push({ ...message("job.a", 2, "reset", { epoch: "new" }) });
    expect(rec.calls.slice(-3)).toEqual(["live", "resumed", "reset"]);
    last().push(message("job.a", 3)); // the new numbering is delivered
    expect(rec.frames.map((f) => f.seq)).toEqual([8, 3]);
    last().drop(); // a short-lived connection: the back-off goes on (200 ms)
    await vi.advanceTimersByTimeAsync(200);
    last().accept("new");
    expect(last().sent).toEqual([
      { action: "subscribe", channel: "job.a", after: 3, epoch: "new" },
    ]);
  });

  it("drops duplicates when a replay overlaps the live tail (event channels)", async () => {
    const { client, last } = setup();
    const rec = recorder();
    client.subscribe("events", rec.handler);
    await flush();
    last().accept();
    last().push({ event: "subscribed", channel: "events", seq: 10, epoch: "e1" });
    last().push(message("events", 11, "event"));
    last().drop();
    await vi.advanceTimersByTimeAsync(100);
    last().accept();
    last().push(message("events", 15, "event")); // live, before the replay
    last().push({ event: "subscribed", channel: "events", seq: 15, epoch: "e1" });
    for (const seq of [12, 13, 15]) last().push(message("events", seq, "event"));
    expect(rec.frames.map((f) => f.seq)).toEqual([11, 15, 12, 13]);
  });

  it("checks the token again after a refused handshake and stops on logout", async () => {
    const verify = vi.fn(async () => true);
    const { client, sockets, session, last } = setup("tok", verify);
    client.subscribe("jobs", recorder().handler);
    await flush();
    last().drop(1006); // the handshake failed: maybe the token expired
    verify.mockResolvedValueOnce(false); // ... it did (the HTTP client ends the session)
    await vi.advanceTimersByTimeAsync(100);
    expect(verify).toHaveBeenCalledTimes(2);
    expect(sockets).toHaveLength(1);
    session.token = null;
    client.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sockets).toHaveLength(1);
    expect(client.getState()).toBe("idle");
    session.token = "tok2";
    client.restart();
    await flush();
    expect(sockets).toHaveLength(2);
    expect(last().protocols).toEqual(["quantdesk", "tok2"]);
  });

  it("makes no socket without a session", async () => {
    const { client, sockets, verify } = setup(null);
    client.subscribe("jobs", recorder().handler);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sockets).toHaveLength(0);
    expect(verify).not.toHaveBeenCalled();
    expect(client.getState()).toBe("idle");
  });

  it("pings a silent socket and replaces a dead one", async () => {
    const { client, sockets, last } = setup();
    client.subscribe("system.status", recorder().handler);
    await flush();
    last().accept();
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().actions("ping")).toHaveLength(1);
    last().push({ event: "pong", ts: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().actions("ping")).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2000); // 3 s without a frame
    expect(sockets[0].closedWith).toBe(4000);
    await vi.advanceTimersByTimeAsync(100);
    expect(sockets).toHaveLength(2);
  });

  it("shares a channel, lingers after its last handler and unsubscribes", async () => {
    const { client, last } = setup();
    const a = recorder();
    const b = recorder();
    const offA = client.subscribe("jobs", a.handler);
    await flush();
    last().accept();
    last().push({ event: "subscribed", channel: "jobs", seq: 1, epoch: "e1" });
    const offB = client.subscribe("jobs", b.handler);
    expect(b.calls).toEqual(["live", "subscribed"]); // already live: told at once
    last().push(message("jobs", 2, "status"));
    expect([a.frames.length, b.frames.length]).toEqual([1, 1]);
    offA();
    offB();
    await vi.advanceTimersByTimeAsync(400);
    const again = client.subscribe("jobs", a.handler); // back within the linger: kept
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().actions("unsubscribe")).toHaveLength(0);
    expect(last().actions("subscribe")).toHaveLength(1);
    again();
    await vi.advanceTimersByTimeAsync(500);
    expect(last().actions("unsubscribe")).toEqual([{ action: "unsubscribe", channel: "jobs" }]);
  });

  it("replays the buffered frames to a handler with history, on a first subscription", async () => {
    const { client, last } = setup();
    const plain = recorder();
    const history = recorder();
    client.subscribe("job.a", plain.handler);
    client.subscribe("job.a", { ...history.handler, history: true });
    await flush();
    last().accept();
    expect(last().sent).toEqual([{ action: "subscribe", channel: "job.a", after: 0 }]);
    last().push({ event: "subscribed", channel: "job.a", seq: 3, epoch: "e1" });
    expect(plain.calls).toEqual(["live", "subscribed"]); // it reloads over HTTP
    expect(history.calls).toEqual(["live", "subscribed"]);
    for (const seq of [1, 2, 3]) last().push(message("job.a", seq, "equity"));
    last().push(message("job.a", 4, "equity")); // live
    expect(history.frames.map((f) => [f.seq, f.replayed ?? false])).toEqual([
      [1, true],
      [2, true],
      [3, true],
      [4, false],
    ]);
    expect(plain.frames.map((f) => f.seq)).toEqual([4]);
    last().push(message("job.a", 4)); // a duplicate
    expect(history.frames).toHaveLength(4);
  });

  it("asks the history again for a handler joining a channel already live", async () => {
    const { client, last } = setup();
    const plain = recorder();
    client.subscribe("job.a", plain.handler);
    await flush();
    last().accept();
    last().push({ event: "subscribed", channel: "job.a", seq: 2, epoch: "e1" });
    last().push(message("job.a", 3));
    last().push(message("job.a", 4));
    const history = recorder();
    client.subscribe("job.a", { ...history.handler, history: true });
    expect(history.calls).toEqual(["live", "subscribed"]); // live already: told at once
    expect(last().actions("subscribe")).toEqual([
      { action: "subscribe", channel: "job.a" },
      { action: "subscribe", channel: "job.a", after: 0, epoch: "e1" },
    ]);
    last().push(message("job.a", 5)); // live, before the answer
    last().push({ event: "subscribed", channel: "job.a", seq: 5, epoch: "e1" });
    for (const seq of [1, 2, 3, 4, 5]) last().push(message("job.a", seq)); // the buffer
    last().push(message("job.a", 6));
    expect(history.frames.map((f) => [f.seq, f.replayed ?? false])).toEqual([
      [5, false],
      [1, true],
      [2, true],
      [3, true],
      [4, true],
      [6, false],
    ]);
    expect(plain.frames.map((f) => f.seq)).toEqual([3, 4, 5, 6]);
    expect(plain.calls).toEqual(["live", "subscribed"]); // nothing else for it

    // A third handler whose history the hub no longer has: only it is told to reset.
    const late = recorder();
    client.subscribe("job.a", { ...late.handler, history: true });
    last().push({ event: "subscribed", channel: "job.a", seq: 6, epoch: "e1" });
    last().push(message("job.a", 6, "reset", { epoch: "e1" }));
    expect(late.calls).toEqual(["live", "subscribed", "reset"]);
    expect([plain.calls.at(-1), history.calls.at(-1)]).toEqual(["subscribed", "subscribed"]);
    last().push(message("job.a", 7));
    for (const rec of [plain, history, late]) expect(rec.frames.at(-1)?.seq).toBe(7);
  });

  it("asks an unanswered history again after a reconnect, and resumes the rest", async () => {
    const { client, last } = setup();
    const plain = recorder();
    client.subscribe("job.a", plain.handler);
    await flush();
    last().accept();
    last().push({ event: "subscribed", channel: "job.a", seq: 0, epoch: "e1" });
    last().push(message("job.a", 1));
    last().push(message("job.a", 2));
    const history = recorder();
    client.subscribe("job.a", { ...history.handler, history: true });
    last().drop(); // before the answer
    await vi.advanceTimersByTimeAsync(100);
    last().accept();
    expect(last().sent).toEqual([{ action: "subscribe", channel: "job.a", after: 0, epoch: "e1" }]);
    last().push({ event: "subscribed", channel: "job.a", seq: 4, epoch: "e1" });
    expect(plain.calls.at(-1)).toBe("resumed");
    for (const seq of [1, 2, 3, 4]) last().push(message("job.a", seq));
    expect(history.frames.map((f) => [f.seq, f.replayed ?? false])).toEqual([
      [1, true],
      [2, true],
      [3, false], // missed while down: everyone's
      [4, false],
    ]);
    expect(plain.frames.map((f) => f.seq)).toEqual([1, 2, 3, 4]);
  });

  it("reports refused channels and never closes a socket that is still connecting", async () => {
    const { client, sockets, last } = setup();
    const rec = recorder();
    client.subscribe("logs", rec.handler);
    await flush();
    last().accept();
    last().push({
      event: "error",
      channel: "logs",
      error: { code: "FORBIDDEN", message: "admins" },
    });
    expect(rec.calls).toEqual(["error FORBIDDEN"]);
    expect(client.isLive("logs")).toBe(false);

    client.restart(); // closes the open socket, opens another
    await flush();
    expect(sockets).toHaveLength(2);
    expect(sockets[1].readyState).toBe(0);
    client.stop(); // still connecting: closed once it opens
    expect(sockets[1].closedWith).toBeNull();
    sockets[1].open();
    expect(sockets[1].closedWith).toBe(1000);
  });
});
