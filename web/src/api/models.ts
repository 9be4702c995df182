/**
 * Short names for the types generated from the server's OpenAPI schema (`src/api/schema.d.ts`,
 * `make web-client`), and the job-state constants. Aliases only: every shape the UI reads is
 * the schema's, so a change on the server shows up here as a type error.
 */
import type { Schemas } from "./client";

export type StrategyMeta = Schemas["StrategyMeta"];
export type Strategy = Schemas["Strategy"];
export type ParamSpec = Schemas["ParamSpec"];
export type RunBody = Schemas["RunRequest"];
export type Frequency = Schemas["Frequency"];
export type MarketName = Schemas["MarketName"];
export type Matching = Schemas["Matching"];
export type Adjust = Schemas["Adjust"];
export type EngineName = Schemas["EngineName"];
export type JobStatusView = Schemas["JobStatusView"];
export type ResultView = Schemas["ResultView"];
export type Equity = Schemas["Equity"];
export type InstrumentStats = Schemas["InstrumentStats"];
export type Bars = Schemas["Bars"];
export type RunOptions = Schemas["RunOptions"];
export type MarketOption = Schemas["MarketOption"];
export type LastRun = Schemas["LastRun"];
export type RunInfo = Schemas["RunInfo"];
export type PositionPage = Schemas["PositionPage"];
export type TradePage = Schemas["TradePage"];
export type InstrumentList = Schemas["InstrumentList"];
export type LastRuns = Schemas["LastRuns"];
export type JobList = Schemas["JobList"];
export type VersionInfo = Schemas["VersionInfo"];
export type StrategyVersions = Schemas["StrategyVersions"];
export type StrategyVersion = Schemas["StrategyVersion"];
export type Template = Schemas["Template"];
export type TemplateList = Schemas["TemplateList"];
/** `POST .../compile`: one shape for every outcome (200, 422, and 400/403/500 with `error`). */
export type CompileResult = Schemas["CompileResult"];
/** A compile diagnostic (1-based line and column). */
export type Diagnostic = Schemas["Diagnostic"];
/** `GET .../log` with `offset` or `tail` (without them the route answers plain text). */
export type LogSlice = Schemas["LogSlice"];
/** One platform event (`GET /api/events`, and the `events` channel's data). */
export type EventView = Schemas["EventView"];
/** `data` of `GET /api/events`: newest first. */
export type EventPage = Schemas["EventPage"];
/** One process of the platform (`GET /api/processes`, channel `system.processes`; admins). */
export type ProcessView = Schemas["ProcessView"];
export type ProcessList = Schemas["ProcessList"];
export type JobError = Schemas["JobError"];
/** A research item (`/api/research/items`); `session_status` is null without a live session. */
export type Research = Schemas["Research"];
export type ResearchList = Schemas["ResearchList"];
export type ResearchCreate = Schemas["ResearchCreate"];
/** `PUT /api/research/items/{id}`: only the fields to change. */
export type ResearchUpdate = Schemas["ResearchUpdate"];
export type ItemStatus = Schemas["ItemStatus"];
/** A research item's JupyterLab session (`.../notebook/session`). */
export type NotebookSession = Schemas["NotebookSession"];
export type SessionStatus = Schemas["SessionStatus"];
/** One fill: the schema types rows as `{[key: string]: unknown}`; readers convert fields. */
export type Trade = TradePage["trades"][number];

// -- /api/ws (`services/events/frames.py`): WebSocket frames are schema components, not operations

/** Every message a client sends to `/api/ws`. */
export type ClientAction = Schemas["ClientAction"];
export type SubscribeAction = Schemas["SubscribeAction"];
/** The first frame of an authenticated socket, and the answers to `subscribe`/`unsubscribe`. */
export type ConnectedFrame = Schemas["ConnectedFrame"];
export type SubscribedFrame = Schemas["SubscribedFrame"];
export type UnsubscribedFrame = Schemas["UnsubscribedFrame"];
export type ErrorFrame = Schemas["ErrorFrame"];
/** `{channel, seq, event, data, ts}`: a message on a channel, whatever its event. */
export type WireChannelFrame = Schemas["ChannelFrame"];
/** The `data` of each channel event. */
export type JobProgressData = Schemas["JobProgressData"];
export type JobLogData = Schemas["JobLogData"];
export type JobEquityData = Schemas["JobEquityData"];
export type JobStatusData = Schemas["JobStatusData"];
export type SystemStatusData = Schemas["SystemStatusData"];
export type LogRecordData = Schemas["LogRecordData"];

/** The contract's job states (the schema's `JobStatus` enum). */
export type JobStatus = Schemas["JobStatus"];
export const JOB_STATUSES: JobStatus[] = ["QUEUED", "RUNNING", "FINISHED", "FAILED", "CANCELLED"];
export const ACTIVE: readonly JobStatus[] = ["QUEUED", "RUNNING"];
/** The states a job ends in. */
export const FINAL: readonly JobStatus[] = ["FINISHED", "FAILED", "CANCELLED"];
