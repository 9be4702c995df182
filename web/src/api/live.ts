/**
 * Live updates over `/api/ws` (the server's `api/ws.py` and `services/events/hub.py`): one
 * shared WebSocket per tab, opened on the first subscription.
 *
 * - Authentication: the subprotocols `["quantdesk", token]` (never the URL). A token is checked
 *   over HTTP (`GET /api/me`) before its first socket, and again after a socket closed before
 *   it was accepted: an expired session then ends through the HTTP client's 401 handling.
 * - Subscriptions are reference-counted per channel; after a reconnect every channel is
 *   subscribed again with `after` (its last `seq`) and the `epoch` that numbering came from, so
 *   the server replays what was missed or answers `reset` (the handler reloads over HTTP).
 * - Reconnects back off exponentially (with jitter); a socket silent for `pingAfterMs` gets a
 *   ping, one silent for `deadAfterMs` is dropped and replaced.
 * - Pages keep their HTTP polling as the fallback: `useChannel` says whether the channel is
 *   live, and they poll only while it is not.
 * - A handler with `history` also gets what the hub buffered before it joined (a subscribe with
 *   `after: 0`, again when it joins a channel already subscribed), flagged `replayed`; the other
 *   handlers of the channel never see those frames.
 *
 * The frames are typed by the server (`services/events/frames.py`, in the OpenAPI schema's
 * components, aliased in `./models`); what the UI reads of them is typed from those. A frame is
 * still untrusted input: `decodeFrame` and the payload decoders below check at run time every
 * field the UI reads.
 */
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import { getSession, onSession } from "./auth";
import { api } from "./client";
import type {
  ClientAction,
  ConnectedFrame,
  ErrorFrame,
  EventView,
  JobEquityData,
  JobProgressData,
  JobStatus,
  JobStatusData,
  ProcessView,
  SubscribeAction,
  SubscribedFrame,
  SystemStatusData,
  UnsubscribedFrame,
  WireChannelFrame,
} from "./models";
import { JOB_STATUSES } from "./models";

// -- decoding ----------------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;

/** `current_bar` → `currentBar`. */
type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;
/** A wire payload's fields as the UI names them (camelCase), with the schema's types. */
type Camel<T> = { [K in keyof T & string as CamelCase<K>]: T[K] };
/** Fields a frame may lack: `null` when it does. */
type OrNull<T> = { [K in keyof T]-?: Exclude<T[K], undefined> | null };
type Simplify<T> = { [K in keyof T]: T[K] } & {};

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

function optNumber(value: unknown): number | null {
  return isNumber(value) ? value : null;
}

function optString(value: unknown): string | null {
  return isString(value) ? value : null;
}

/** A message on a channel: `{channel, seq, event, data, ts}` (`data` is decoded per event). */
export type ChannelFrame = WireChannelFrame & {
  /** From the hub's buffer, sent before the handler joined (handlers with `history` only). */
  replayed?: boolean;
};

/** What the server sends, decoded. */
export type ServerFrame =
  | { type: "connected"; userId: ConnectedFrame["data"]["user_id"]; epoch: string }
  | ({ type: "subscribed" } & Omit<SubscribedFrame, "event">)
  | ({ type: "unsubscribed" } & Omit<UnsubscribedFrame, "event">)
  | ({ type: "error"; channel: string | null } & ErrorFrame["error"])
  | { type: "pong" }
  | { type: "heartbeat" }
  | ({ type: "message" } & ChannelFrame);

/** A frame of `/api/ws` from its text, or `null` when it is not one. */
export function decodeFrame(raw: unknown): ServerFrame | null {
  if (!isString(raw)) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!isObject(value) || !isString(value.event)) return null;
  const { event, channel, seq, data } = value;
  switch (event) {
    case "connected":
      if (!isObject(data) || !isNumber(data.user_id) || !isString(data.epoch)) return null;
      return { type: "connected", userId: data.user_id, epoch: data.epoch };
    case "subscribed":
      if (!isString(channel) || !isNumber(seq)) return null;
      return { type: "subscribed", channel, seq, epoch: optString(value.epoch) ?? "" };
    case "unsubscribed":
      return isString(channel) ? { type: "unsubscribed", channel } : null;
    case "error": {
      const error = value.error;
      if (!isObject(error)) return null;
      return {
        type: "error",
        channel: optString(channel),
        code: optString(error.code) ?? "ERROR",
        message: optString(error.message) ?? "",
      };
    }
    case "pong":
      return { type: "pong" };
    case "heartbeat":
      return { type: "heartbeat" };
    default:
      if (!isString(channel) || !isNumber(seq) || !isObject(data)) return null;
      return { type: "message", channel, seq, event, data, ts: optNumber(value.ts) ?? 0 };
  }
}

/** `progress` on `job.<id>` (`progress`: 0-100). */
export type JobProgress = Camel<
  Pick<JobProgressData, "job_id" | "progress" | "current_bar" | "total_bars">
>;

export function decodeProgress(data: JsonObject): JobProgress | null {
  const jobId = optString(data.job_id) ?? optString(data.task_id);
  const progress = optNumber(data.progress) ?? optNumber(data.pct);
  if (jobId === null || progress === null) return null;
  return {
    jobId,
    progress: Math.max(0, Math.min(100, progress)),
    currentBar: optNumber(data.current_bar) ?? 0,
    totalBars: optNumber(data.total_bars) ?? 0,
  };
}

/** `log` on `job.<id>`: its new lines. */
export function decodeLogLines(data: JsonObject): string[] | null {
  const { lines } = data;
  if (!Array.isArray(lines)) return null;
  return lines.filter(isString);
}

export function toJobStatus(value: unknown): JobStatus | null {
  return JOB_STATUSES.find((s) => s === value) ?? null;
}

/** One session of a run: its date (`YYYY-MM-DD`) and NAV (total value / starting cash). */
export type EquityPoint = JobEquityData["points"][number];

/** `equity` on `job.<id>`: the NAV of the sessions run since the last batch, in date order. */
export type JobEquity = Camel<Pick<JobEquityData, "job_id" | "points">>;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Malformed points (not a `[date, finite number]` pair) are left out. */
export function decodeEquity(data: JsonObject): JobEquity | null {
  const jobId = optString(data.job_id) ?? optString(data.task_id);
  const { points } = data;
  if (jobId === null || !Array.isArray(points)) return null;
  const out: EquityPoint[] = [];
  for (const point of points) {
    if (!Array.isArray(point) || point.length !== 2) continue;
    const day: unknown = point[0];
    const nav: unknown = point[1];
    if (isString(day) && DAY.test(day) && isNumber(nav)) out.push([day, nav]);
  }
  return { jobId, points: out };
}

/**
 * `status` on `jobs` and `job.<id>`: a job's status changed. `kind` is the platform event
 * (job.submitted, job.claimed, job.finished, job.deleted...).
 */
export type JobStatusChange = Simplify<
  Camel<Pick<JobStatusData, "job_id" | "kind" | "status" | "attempts">> &
    Camel<OrNull<Pick<JobStatusData, "strategy_id" | "error">>>
>;

export function decodeStatus(data: JsonObject): JobStatusChange | null {
  const jobId = optString(data.job_id) ?? optString(data.task_id);
  const status = toJobStatus(data.status);
  if (jobId === null || status === null) return null;
  const { error } = data;
  return {
    jobId,
    kind: optString(data.kind) ?? "",
    status,
    strategyId: optString(data.strategy_id),
    attempts: optNumber(data.attempts) ?? 0,
    error:
      isObject(error) && isString(error.code)
        ? { code: error.code, message: optString(error.message) }
        : null,
  };
}

/** What a `system.status` tick may lack (`null` when it does). */
type OptionalFigures = Omit<SystemStatusData, "cpu_percent" | "memory_percent" | "load" | "jobs">;

/** `tick` on `system.status`: CPU and memory, the other figures when the tick has them. */
export type SystemTick = Simplify<
  { ts: ChannelFrame["ts"] } & Camel<
    Pick<SystemStatusData, "cpu_percent" | "memory_percent" | "load">
  > &
    Camel<OrNull<OptionalFigures>> & {
      /** Job counts per status (every user's). */
      jobs: NonNullable<SystemStatusData["jobs"]>;
    }
>;

export function decodeTick(data: JsonObject, ts: number): SystemTick | null {
  const cpu = optNumber(data.cpu_percent);
  const memory = optNumber(data.memory_percent);
  if (cpu === null || memory === null) return null;
  const jobs: Record<string, number> = {};
  if (isObject(data.jobs)) {
    for (const [status, count] of Object.entries(data.jobs))
      if (isNumber(count)) jobs[status] = count;
  }
  return {
    ts,
    cpuPercent: cpu,
    cpuCount: optNumber(data.cpu_count),
    memoryPercent: memory,
    memoryUsedMb: optNumber(data.memory_used_mb),
    memoryTotalMb: optNumber(data.memory_total_mb),
    diskPercent: optNumber(data.disk_percent),
    diskFreeGb: optNumber(data.disk_free_gb),
    load: Array.isArray(data.load) ? data.load.filter(isNumber) : [],
    uptimeSeconds: optNumber(data.uptime_seconds),
    apiUptimeSeconds: optNumber(data.api_uptime_seconds),
    subscribers: optNumber(data.subscribers),
    queueDepth: optNumber(data.queue_depth),
    running: optNumber(data.running),
    jobs,
  };
}

/** `event` on `events`: a platform event, the same shape as `GET /api/events` lists. */
export function decodeEventView(data: JsonObject): EventView | null {
  const { id, kind, subject } = data;
  if (!isNumber(id) || !isString(kind) || !isString(subject)) return null;
  return {
    id,
    kind,
    subject,
    created_at: optString(data.created_at),
    user_id: optNumber(data.user_id),
    data: isObject(data.data) ? data.data : {},
  };
}

/** `processes` on `system.processes` (admins): the same shape as `GET /api/processes`. */
export function decodeProcesses(data: JsonObject): ProcessView[] | null {
  if (!Array.isArray(data.processes)) return null;
  const out: ProcessView[] = [];
  for (const p of data.processes) {
    if (!isObject(p) || !isNumber(p.pid)) continue;
    out.push({
      pid: p.pid,
      ppid: optNumber(p.ppid) ?? 0,
      role: optString(p.role) ?? "?",
      name: optString(p.name) ?? "?",
      status: optString(p.status) ?? "?",
      memory_mb: optNumber(p.memory_mb) ?? 0,
      cpu_percent: optNumber(p.cpu_percent) ?? 0,
      started_at: optString(p.started_at),
      host: optString(p.host) ?? "",
      job_id: optString(p.job_id),
      last_heartbeat: optString(p.last_heartbeat),
    });
  }
  return out;
}

// -- the client --------------------------------------------------------------------------------

/** What a subscriber of a channel is told. Every callback is optional. */
export interface ChannelHandler {
  /**
   * Also deliver the frames the hub still buffers from before this handler joined (up to its
   * last 1000 per channel), flagged `replayed`, before or among the live ones. A few frames
   * around the join may come twice (once live, once replayed); a `reset` instead of them means
   * they are gone. Read once, when the handler subscribes.
   */
  history?: boolean;
  /** A message on the channel (in `seq` order, without duplicates). */
  frame?(frame: ChannelFrame): void;
  /** The server could not replay what was missed: reload the channel's state over HTTP. */
  reset?(): void;
  /**
   * The channel is live for this handler: `resumed` when the server replays what was missed
   * since the last `seq` (after a reconnect); otherwise nothing is replayed, so the handler
   * reloads its state over HTTP to close the gap between its last load and now.
   */
  subscribed?(resumed: boolean): void;
  /** The server refused the subscription (`NOT_FOUND`, `FORBIDDEN`...). */
  error?(code: string, message: string): void;
  /** Whether pushes arrive (false: the socket is down or the channel was refused). */
  live?(live: boolean): void;
}

export type LiveState = "idle" | "connecting" | "open" | "reconnecting";

/** The part of a WebSocket the client uses (a browser `WebSocket` is one). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface SocketEvents {
  open(): void;
  message(data: unknown): void;
  close(code: number, reason: string): void;
}

export type SocketFactory = (url: string, protocols: string[], on: SocketEvents) => SocketLike;

export interface LiveOptions {
  url: () => string;
  /** The session's token (`null`: logged out, no socket). */
  token: () => string | null;
  /** Whether the server accepts the token (checked over HTTP before a socket uses it). */
  verify: (token: string) => Promise<boolean>;
  socket: SocketFactory;
  /** First reconnect delay and the cap of the exponential back-off. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Silence before a ping, and before the socket counts as dead. */
  pingAfterMs?: number;
  deadAfterMs?: number;
  /** How long a channel stays subscribed after its last handler left (page changes). */
  lingerMs?: number;
  /** 0 ≤ x < 1, for the jitter (tests pass a constant). */
  random?: () => number;
}

/** A subscribe sent and not answered yet. */
interface SubscribeRequest {
  /** The channel's `seq` when it was sent (null: none yet). */
  after: number | null;
  /** The handlers it asks the buffered frames for (null: no history asked). */
  history: Set<ChannelHandler> | null;
}

/** The history being replayed after a subscribe with `history` was answered. */
interface Replay {
  /** Frames up to this `seq` are the history (the ones above are delivered to everyone). */
  upTo: number;
  to: Set<ChannelHandler>;
  /** The channel was live already: a `reset` means only that the history is gone. */
  partial: boolean;
}

const CONNECTING = 0;
const OPEN = 1;
/** A socket open this long counts as stable: the back-off starts over after it closes. */
const STABLE_MS = 5000;

/** Sequence numbers remembered per channel to drop replayed duplicates. */
const RECENT = 2000;

interface Channel {
  handlers: Set<ChannelHandler>;
  /** The highest `seq` delivered (null: none yet) and the hub numbering it is from. */
  seq: number | null;
  epoch: string | null;
  /** The `after` of the last subscribe: what is not above it was delivered already. */
  floor: number | null;
  /** The `seq`s delivered lately: a replay and the live tail may overlap (event channels). */
  recent: Set<number>;
  live: boolean;
  /** The subscribes sent on this socket and not answered yet, oldest first. */
  requests: SubscribeRequest[];
  /** Handlers with `history` whose history no subscribe asked for yet. */
  wantHistory: Set<ChannelHandler>;
  replay: Replay | null;
  linger: ReturnType<typeof setTimeout> | null;
}

interface Connection {
  socket: SocketLike | null;
  connected: boolean;
  openedAt: number;
  /** Closed by us while still connecting: close it once it opens (no browser error). */
  abandoned: boolean;
}

export class LiveClient {
  private readonly opts: Required<LiveOptions>;
  private readonly channels = new Map<string, Channel>();
  private readonly stateListeners = new Set<() => void>();
  private conn: Connection | null = null;
  private state: LiveState = "idle";
  private attempts = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private lastReceived = 0;
  private pinged = false;
  private epoch: string | null = null;
  private verifiedToken: string | null = null;
  private stopped = false;
  /** A token check is under way (no socket yet). */
  private verifying = false;
  /** Bumped by every connect and stop: stale async steps see it changed and give up. */
  private generation = 0;

  constructor(options: LiveOptions) {
    this.opts = {
      minDelayMs: 500,
      maxDelayMs: 30_000,
      pingAfterMs: 20_000,
      deadAfterMs: 45_000,
      lingerMs: 3000,
      random: Math.random,
      ...options,
    };
  }

  getState = (): LiveState => this.state;

  onState = (listener: () => void): (() => void) => {
    this.stateListeners.add(listener);
    return () => {
      this.stateListeners.delete(listener);
    };
  };

  /** Whether `channel` is subscribed on the open socket. */
  isLive(channel: string): boolean {
    return this.channels.get(channel)?.live ?? false;
  }

  /** Listen to `channel` until the returned function is called. */
  subscribe(name: string, handler: ChannelHandler): () => void {
    let channel = this.channels.get(name);
    const created = channel === undefined;
    if (channel) {
      if (channel.linger !== null) clearTimeout(channel.linger);
      channel.linger = null;
    } else {
      channel = {
        handlers: new Set(),
        seq: null,
        epoch: null,
        floor: null,
        recent: new Set(),
        live: false,
        requests: [],
        wantHistory: new Set(),
        replay: null,
        linger: null,
      };
      this.channels.set(name, channel);
    }
    channel.handlers.add(handler);
    if (handler.history) channel.wantHistory.add(handler);
    // A new channel, or the history of one already subscribed (asked again with `after: 0`).
    if (this.state === "open" && (created || handler.history)) this.sendSubscribe(name, channel);
    if (channel.live) {
      handler.live?.(true);
      handler.subscribed?.(false);
    }
    this.ensureConnected();
    const joined = channel;
    return () => {
      joined.wantHistory.delete(handler);
      if (!joined.handlers.delete(handler) || joined.handlers.size > 0) return;
      joined.linger = setTimeout(() => this.drop(name, joined), this.opts.lingerMs);
    };
  }

  /** Start (again) after `stop`, with the session's current token. */
  restart(): void {
    this.stop();
    this.stopped = false;
    this.attempts = 0;
    this.ensureConnected();
  }

  /** Close the socket and stay closed until `restart` (logout). */
  stop(): void {
    this.stopped = true;
    this.verifying = false;
    this.generation++;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    this.closeConnection(1000, "bye");
    this.verifiedToken = null;
    this.setState("idle");
  }

  // -- connection ------------------------------------------------------------------------------

  private ensureConnected(): void {
    if (this.stopped || this.conn !== null || this.retry !== null || this.verifying) return;
    if (this.channels.size === 0) return;
    void this.connect();
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    const token = this.opts.token();
    if (!token) {
      this.setState("idle");
      return;
    }
    this.setState(this.attempts > 0 ? "reconnecting" : "connecting");
    if (this.verifiedToken !== token) {
      let ok = false;
      this.verifying = true;
      try {
        ok = await this.opts.verify(token);
      } catch {
        ok = false;
      } finally {
        if (gen === this.generation) this.verifying = false;
      }
      if (gen !== this.generation) return;
      if (!ok) {
        this.scheduleReconnect();
        return;
      }
      this.verifiedToken = token;
    }
    const conn: Connection = { socket: null, connected: false, openedAt: 0, abandoned: false };
    this.conn = conn;
    const events: SocketEvents = {
      open: () => {
        if (conn.abandoned) conn.socket?.close(1000, "bye");
      },
      message: (data) => {
        if (this.conn === conn) this.receive(conn, data);
      },
      close: () => {
        if (this.conn === conn) this.closed(conn);
      },
    };
    try {
      conn.socket = this.opts.socket(this.opts.url(), ["quantdesk", token], events);
    } catch {
      // An invalid URL or subprotocol: try again later (the token may change).
      this.conn = null;
      this.verifiedToken = null;
      this.scheduleReconnect();
      return;
    }
    this.lastReceived = Date.now();
    this.pinged = false;
    this.startWatchdog();
  }

  private receive(conn: Connection, raw: unknown): void {
    this.lastReceived = Date.now();
    this.pinged = false;
    const frame = decodeFrame(raw);
    if (frame === null) return;
    switch (frame.type) {
      case "connected":
        conn.connected = true;
        conn.openedAt = Date.now();
        this.epoch = frame.epoch;
        this.setState("open");
        for (const [name, channel] of this.channels) this.sendSubscribe(name, channel);
        return;
      case "subscribed": {
        const channel = this.channels.get(frame.channel);
        if (!channel) return;
        const request = channel.requests.shift();
        if (request?.history) {
          // The frames up to here that the hub sends next are the history.
          channel.replay = {
            upTo: request.after ?? frame.seq,
            to: request.history,
            partial: channel.live,
          };
        }
        if (channel.live) return; // a history asked for again: nothing else changes
        const resumed = request !== undefined && request.after !== null;
        channel.live = true;
        if (frame.epoch) this.epoch = frame.epoch;
        if (!resumed && (channel.seq === null || channel.seq < frame.seq)) {
          channel.seq = frame.seq;
          channel.epoch = this.epoch;
        }
        for (const h of [...channel.handlers]) {
          h.live?.(true);
          h.subscribed?.(resumed);
        }
        return;
      }
      case "error": {
        const channel = frame.channel === null ? undefined : this.channels.get(frame.channel);
        if (!channel) return;
        const was = channel.live;
        channel.live = false;
        channel.requests.shift();
        channel.replay = null;
        for (const h of [...channel.handlers]) {
          if (was) h.live?.(false);
          h.error?.(frame.code, frame.message);
        }
        return;
      }
      case "message": {
        const channel = this.channels.get(frame.channel);
        if (!channel) return;
        const replay = channel.replay;
        if (replay !== null) {
          if (frame.event === "reset" && replay.partial) {
            // The history asked for is gone; the channel itself goes on.
            channel.replay = null;
            for (const h of [...replay.to]) if (channel.handlers.has(h)) h.reset?.();
            return;
          }
          if (frame.event !== "reset" && frame.seq <= replay.upTo) {
            const message: ChannelFrame = {
              channel: frame.channel,
              seq: frame.seq,
              event: frame.event,
              data: frame.data,
              ts: frame.ts,
              replayed: true,
            };
            for (const h of [...replay.to]) if (channel.handlers.has(h)) h.frame?.(message);
            return;
          }
          channel.replay = null; // past the history
        }
        if (frame.event === "reset") {
          // The numbering starts over from here (another hub, or past the buffer).
          channel.seq = frame.seq;
          channel.floor = frame.seq;
          channel.epoch = this.epoch;
          channel.recent.clear();
          for (const h of [...channel.handlers]) h.reset?.();
          return;
        }
        if (channel.floor !== null && frame.seq <= channel.floor) return; // seen before
        if (channel.recent.has(frame.seq)) return; // a replay overlapping the live tail
        channel.recent.add(frame.seq);
        if (channel.recent.size > RECENT) {
          for (const old of channel.recent) {
            channel.recent.delete(old);
            break;
          }
        }
        if (channel.seq === null || frame.seq > channel.seq) {
          channel.seq = frame.seq;
          channel.epoch = this.epoch;
        }
        const message: ChannelFrame = {
          channel: frame.channel,
          seq: frame.seq,
          event: frame.event,
          data: frame.data,
          ts: frame.ts,
        };
        for (const h of [...channel.handlers]) h.frame?.(message);
        return;
      }
      default:
        return; // pong, heartbeat, unsubscribed: liveness only
    }
  }

  private closed(conn: Connection): void {
    this.conn = null;
    this.stopWatchdog();
    this.markAllDown();
    // Refused at the handshake? Check the token over HTTP before the next socket.
    if (!conn.connected) this.verifiedToken = null;
    else if (Date.now() - conn.openedAt >= STABLE_MS) this.attempts = 0;
    if (!this.stopped) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retry !== null) return;
    const base = Math.min(this.opts.maxDelayMs, this.opts.minDelayMs * 2 ** this.attempts);
    const delay = Math.round(base * (0.5 + this.opts.random() / 2));
    this.attempts++;
    this.setState("reconnecting");
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.channels.size === 0) {
        this.setState("idle");
        return;
      }
      this.ensureConnected();
    }, delay);
  }

  /** Reconnects since the last stable connection. */
  get reconnectAttempts(): number {
    return this.attempts;
  }

  private closeConnection(code: number, reason: string): void {
    const conn = this.conn;
    this.conn = null;
    this.stopWatchdog();
    this.markAllDown();
    if (conn?.socket) {
      if (conn.socket.readyState === CONNECTING) conn.abandoned = true;
      else if (conn.socket.readyState === OPEN) conn.socket.close(code, reason);
    }
  }

  private markAllDown(): void {
    for (const channel of this.channels.values()) {
      // Histories not answered yet are asked again on the next socket.
      for (const request of channel.requests)
        for (const h of request.history ?? [])
          if (channel.handlers.has(h)) channel.wantHistory.add(h);
      channel.requests = [];
      channel.replay = null;
      if (!channel.live) continue;
      channel.live = false;
      for (const h of [...channel.handlers]) h.live?.(false);
    }
  }

  private startWatchdog(): void {
    this.stopWatchdog();
    const every = Math.max(250, Math.min(5000, this.opts.pingAfterMs / 4));
    this.watchdog = setInterval(() => {
      const idle = Date.now() - this.lastReceived;
      if (idle >= this.opts.deadAfterMs) {
        const conn = this.conn;
        this.closeConnection(4000, "no heartbeat");
        if (conn) this.closed(conn);
      } else if (idle >= this.opts.pingAfterMs && !this.pinged && this.state === "open") {
        this.pinged = true;
        this.send({ action: "ping" });
      }
    }, every);
  }

  private stopWatchdog(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  // -- channels --------------------------------------------------------------------------------

  private sendSubscribe(name: string, channel: Channel): void {
    const history = channel.wantHistory.size > 0 ? new Set(channel.wantHistory) : null;
    channel.wantHistory.clear();
    const message: SubscribeAction = { action: "subscribe", channel: name };
    if (history !== null || channel.seq !== null) {
      // A history starts from the hub's oldest frame; the epoch still guards the numbering.
      message.after = history !== null ? 0 : channel.seq;
      if (channel.seq !== null && channel.epoch) message.epoch = channel.epoch;
    }
    // The first subscribe on this socket: what is not above `seq` was delivered already.
    if (!channel.live && channel.requests.length === 0) channel.floor = channel.seq;
    channel.requests.push({ after: channel.seq, history });
    this.send(message);
  }

  private drop(name: string, channel: Channel): void {
    if (this.channels.get(name) !== channel || channel.handlers.size > 0) return;
    this.channels.delete(name);
    if (this.state === "open") this.send({ action: "unsubscribe", channel: name });
  }

  private send(message: ClientAction): void {
    const socket = this.conn?.socket;
    if (socket && socket.readyState === OPEN) socket.send(JSON.stringify(message));
  }

  private setState(state: LiveState): void {
    if (state === this.state) return;
    this.state = state;
    for (const listener of [...this.stateListeners]) listener();
  }
}

// -- the tab's client and hooks ----------------------------------------------------------------

function browserSocket(url: string, protocols: string[], on: SocketEvents): SocketLike {
  const ws = new WebSocket(url, protocols);
  ws.onopen = () => on.open();
  ws.onmessage = (e) => on.message(e.data);
  ws.onclose = (e) => on.close(e.code, e.reason);
  return ws;
}

function socketUrl(): string {
  const { protocol, host } = globalThis.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}/api/ws`;
}

async function verifyToken(): Promise<boolean> {
  // The HTTP client adds the session's token; a 401 ends the session (and so this client).
  const res = await api.GET("/api/me");
  return res.response.ok;
}

/** The tab's one client (it connects on the first subscription). */
export const live = new LiveClient({
  url: socketUrl,
  token: () => getSession()?.token ?? null,
  verify: verifyToken,
  socket: browserSocket,
});

let lastToken = getSession()?.token ?? null;
onSession((session) => {
  const token = session?.token ?? null;
  if (token === lastToken) return;
  lastToken = token;
  if (token) live.restart();
  else live.stop();
});

/** The connection's state (re-renders when it changes). */
export function useLiveState(client: LiveClient = live): LiveState {
  return useSyncExternalStore(client.onState, client.getState, client.getState);
}

/**
 * Subscribe to `channel` (`null`: none) while mounted; `handler` may change every render (its
 * `history` is read when the channel changes). Returns whether the channel is live: poll over HTTP while it is not.
 */
export function useChannel(
  channel: string | null,
  handler: ChannelHandler,
  client: LiveClient = live,
): boolean {
  const latest = useRef(handler);
  latest.current = handler;
  const [isLive, setLive] = useState(false);
  useEffect(() => {
    if (channel === null) {
      setLive(false);
      return;
    }
    const off = client.subscribe(channel, {
      history: latest.current.history,
      frame: (f) => latest.current.frame?.(f),
      reset: () => latest.current.reset?.(),
      subscribed: (resumed) => latest.current.subscribed?.(resumed),
      error: (code, message) => latest.current.error?.(code, message),
      live: (value) => {
        setLive(value);
        latest.current.live?.(value);
      },
    });
    return () => {
      off();
      setLive(false);
    };
  }, [channel, client]);
  return isLive;
}
