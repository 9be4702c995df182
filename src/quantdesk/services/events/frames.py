"""The shapes of ``/api/ws``: what a client sends, and every frame the hub and ``api/ws.py`` send.

Server frames are built once and fanned out as they are (the hub keeps the same dict in its
buffer and queues it for every subscriber), so they are ``TypedDict``s: typed for mypy, plain
dicts on the wire, and described by JSON Schema through pydantic (``SERVER_FRAME`` validates
one; ``json_schemas`` feeds the OpenAPI document's components, hence the web client's generated
types). Client actions are parsed, so they are models (``CLIENT_ACTION``).

Every frame on a channel is ``{channel, seq, event, data, ts}`` (``ChannelFrame``); the typed
frames below (``JobProgressFrame``...) name each event's ``data``. Payloads that come from the
workers (progress, log lines, equity) pass through the hub unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic import with_config as _with_config
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from quantdesk.core.jobs import JobStatus
from quantdesk.services.events.processes import ProcessList

#: Frames and payloads list every key they have (``additionalProperties: false``).
_closed = _with_config(ConfigDict(extra="forbid"))

Seq = Annotated[int, Field(description="per channel; on events and jobs the event's id")]
Ts = Annotated[float, Field(description="epoch seconds when it was produced")]
ChannelName = Annotated[str, Field(examples=["job.0f3c", "jobs", "system.status"])]


# -- payloads (``data``) -------------------------------------------------------------------------


@_closed
class JobProgressData(TypedDict):
    """``progress`` on ``job.{id}``: at most every 250 ms while the job runs."""

    job_id: str
    task_id: Annotated[str, Field(description="= job_id (the seed's spelling)")]
    progress: Annotated[float, Field(description="percent, 0 to 100")]
    current_bar: Annotated[int, Field(description="sessions done")]
    total_bars: Annotated[int, Field(description="sessions in the window")]
    pct: Annotated[float, Field(description="= progress (the seed's spelling)")]


@_closed
class JobLogData(TypedDict):
    """``log`` on ``job.{id}``: the job's new log lines, oldest first."""

    job_id: str
    task_id: Annotated[str, Field(description="= job_id (the seed's spelling)")]
    lines: list[str]


@_closed
class JobEquityData(TypedDict):
    """``equity`` on ``job.{id}``: the NAV of the sessions run since the last batch."""

    job_id: str
    task_id: Annotated[str, Field(description="= job_id (the seed's spelling)")]
    points: Annotated[
        list[tuple[str, float]],
        Field(description="[date (YYYY-MM-DD), NAV (total value / starting cash)], in date order"),
    ]


@_closed
class StatusError(TypedDict):
    """``error`` of a job status change: why the job failed."""

    code: str
    message: str | None


@_closed
class JobStatusData(TypedDict):
    """``status`` on ``jobs`` and ``job.{id}``: a job's status changed (a platform event)."""

    job_id: str
    task_id: Annotated[str, Field(description="= job_id (the seed's spelling)")]
    kind: Annotated[str, Field(description="the event", examples=["job.finished"])]
    status: JobStatus
    strategy_id: Annotated[str, Field(description="'' for an inline run")]
    attempts: int
    error: StatusError | None
    retry_of: NotRequired[Annotated[str | None, Field(description="job.submitted, job.retried")]]
    worker: NotRequired[Annotated[str, Field(description="job.claimed: the lease owner")]]
    reason: NotRequired[Annotated[str, Field(description="why it went back to the queue")]]


@_closed
class EventData(TypedDict):
    """``event`` on ``events``: a platform event, as ``GET /api/events`` lists it."""

    id: Annotated[int, Field(description="= the frame's seq")]
    kind: Annotated[str, Field(examples=["job.finished"])]
    subject: Annotated[str, Field(description="a job id, a strategy id, a mobile...")]
    user_id: Annotated[int | None, Field(description="null: the platform's (admins only)")]
    data: dict[str, Any]
    created_at: Annotated[str | None, Field(description="ISO 8601")]


@_closed
class SystemStatusData(TypedDict):
    """``tick`` on ``system.status`` (every 2 s): the host, this API process and the queue.

    ``jobs``, ``queue_depth`` and ``running`` are absent when the hub has no job counts.
    """

    cpu_percent: float
    cpu_count: int | None
    memory_percent: float
    memory_used_mb: float
    memory_total_mb: float
    disk_percent: float
    disk_free_gb: float
    load: Annotated[list[float], Field(description="1, 5 and 15 minute load averages")]
    uptime_seconds: Annotated[float, Field(description="the host's")]
    api_uptime_seconds: Annotated[float, Field(description="this API process's")]
    subscribers: Annotated[int, Field(description="WebSocket clients of this API process")]
    jobs: NotRequired[Annotated[dict[str, int], Field(description="jobs per status (all users)")]]
    queue_depth: NotRequired[Annotated[int, Field(description="QUEUED jobs")]]
    running: NotRequired[Annotated[int, Field(description="RUNNING jobs")]]


@_closed
class LogRecordData(TypedDict):
    """``log`` on ``logs`` (admins): one log record (INFO and above) of the API process."""

    level: Annotated[str, Field(examples=["INFO", "WARNING"])]
    logger: str
    message: Annotated[str, Field(description="at most 4000 characters")]
    pid: int | None


@_closed
class ResetData(TypedDict):
    """``reset``: what was missed cannot be replayed; reload over HTTP, go on from ``seq``."""

    epoch: Annotated[str, Field(description="the hub numbering the channel now")]
    reason: str


@_closed
class ConnectedData(TypedDict):
    """``connected``: who the socket authenticated, and the hub's numbering."""

    user_id: int
    epoch: Annotated[str, Field(description="this hub's id: send it back with `after`")]


@_closed
class FrameError(TypedDict):
    """``error`` of an error frame: a stable upper-case ``code`` and a human ``message``."""

    code: Annotated[str, Field(examples=["NOT_FOUND", "INVALID_ARGUMENT"])]
    message: str


# -- frames on a channel -------------------------------------------------------------------------


class _OnChannel(TypedDict):
    channel: ChannelName
    seq: Seq
    ts: Ts


@_closed
class ChannelFrame(_OnChannel):
    """A message on a channel, whatever its event (the typed frames below name each ``data``)."""

    event: str
    data: dict[str, Any]


@_closed
class JobProgressFrame(_OnChannel):
    """``progress`` on ``job.{id}``."""

    event: Literal["progress"]
    data: JobProgressData


@_closed
class JobLogFrame(_OnChannel):
    """``log`` on ``job.{id}``."""

    event: Literal["log"]
    data: JobLogData


@_closed
class JobEquityFrame(_OnChannel):
    """``equity`` on ``job.{id}``."""

    event: Literal["equity"]
    data: JobEquityData


@_closed
class JobStatusFrame(_OnChannel):
    """``status`` on ``jobs`` (the caller's jobs) and ``job.{id}``."""

    event: Literal["status"]
    data: JobStatusData


@_closed
class EventFrame(_OnChannel):
    """``event`` on ``events`` (the caller's events; every event for admins)."""

    event: Literal["event"]
    data: EventData


@_closed
class SystemStatusFrame(_OnChannel):
    """``tick`` on ``system.status``."""

    event: Literal["tick"]
    data: SystemStatusData


@_closed
class ProcessesFrame(_OnChannel):
    """``processes`` on ``system.processes`` (admins): as ``GET /api/processes`` answers."""

    event: Literal["processes"]
    data: ProcessList


@_closed
class LogRecordFrame(_OnChannel):
    """``log`` on ``logs`` (admins)."""

    event: Literal["log"]
    data: LogRecordData


@_closed
class ResetFrame(_OnChannel):
    """``reset`` on any channel (instead of the frames a resuming client missed)."""

    event: Literal["reset"]
    data: ResetData


# -- control frames ------------------------------------------------------------------------------


@_closed
class ConnectedFrame(TypedDict):
    """The first frame of an authenticated socket."""

    event: Literal["connected"]
    data: ConnectedData


@_closed
class SubscribedFrame(TypedDict):
    """A subscription is live; what it missed (after ``after``) follows."""

    event: Literal["subscribed"]
    channel: str
    seq: Annotated[int, Field(description="the channel's latest seq before the replay")]
    epoch: str


@_closed
class UnsubscribedFrame(TypedDict):
    """The answer to ``unsubscribe``."""

    event: Literal["unsubscribed"]
    channel: str


@_closed
class ErrorFrame(TypedDict):
    """A refused message (``channel`` when it was about one) or failed authentication."""

    event: Literal["error"]
    error: FrameError
    channel: NotRequired[str]


@_closed
class PongFrame(TypedDict):
    """The answer to ``ping``."""

    event: Literal["pong"]
    ts: Ts


@_closed
class HeartbeatFrame(TypedDict):
    """Sent to a socket idle for 15 s."""

    event: Literal["heartbeat"]
    ts: Ts


#: What the hub queues for a subscriber (the typed channel frames are ``ChannelFrame``s).
Outgoing = (
    ChannelFrame | ConnectedFrame | SubscribedFrame | UnsubscribedFrame | ErrorFrame | PongFrame
    | HeartbeatFrame
)  # fmt: skip

#: Every frame the server sends, each channel event with its ``data``.
ServerFrame = (
    ConnectedFrame | SubscribedFrame | UnsubscribedFrame | ErrorFrame | PongFrame | HeartbeatFrame
    | JobProgressFrame | JobLogFrame | JobEquityFrame | JobStatusFrame | EventFrame
    | SystemStatusFrame | ProcessesFrame | LogRecordFrame | ResetFrame
)  # fmt: skip
SERVER_FRAME: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


# -- client actions ------------------------------------------------------------------------------


def channel_of(message: Mapping[str, Any]) -> object:
    """The channel a client message names.

    ``{"channel": "backtest", "task_id": id}`` (the seed's spelling) is ``job.{id}``.
    """
    channel = message.get("channel")
    task_id = message.get("task_id")
    if channel == "backtest" and isinstance(task_id, str):
        return f"job.{task_id}"
    return channel


class _ChannelAction(BaseModel):
    channel: Annotated[str, Field(strict=True, description="job.{id}, jobs, events, system.status, "
                                  "system.processes or logs")]  # fmt: skip
    task_id: str | None = Field(
        None, description='with channel "backtest": the same as channel job.{task_id}'
    )

    @model_validator(mode="before")
    @classmethod
    def _seed_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**data, "channel": channel_of(data)}
        return data

    @field_validator("task_id", mode="before")
    @classmethod
    def _ignored_unless_text(cls, value: object) -> str | None:
        return value if isinstance(value, str) else None


class AuthAction(BaseModel):
    """Authenticate by the first message (when the handshake carried no credentials)."""

    action: Literal["auth"]
    token: str


class SubscribeAction(_ChannelAction):
    """Subscribe to ``channel``; with ``after`` (a ``seq`` seen), replay what came after it."""

    action: Literal["subscribe"]
    after: int | None = Field(None, ge=0, strict=True, description="the last seq seen")
    epoch: str | None = Field(None, description="the hub that numbered `after`")

    @field_validator("epoch", mode="before")
    @classmethod
    def _epoch_unless_text(cls, value: object) -> str | None:
        return value if isinstance(value, str) else None


class UnsubscribeAction(_ChannelAction):
    """Stop a subscription."""

    action: Literal["unsubscribe"]


class PingAction(BaseModel):
    """Ask for a ``pong`` (keeps an idle socket alive)."""

    action: Literal["ping"]


#: Every message a client sends.
ClientAction = Annotated[
    AuthAction | SubscribeAction | UnsubscribeAction | PingAction, Field(discriminator="action")
]
CLIENT_ACTION: TypeAdapter[AuthAction | SubscribeAction | UnsubscribeAction | PingAction] = (
    TypeAdapter(ClientAction)
)


def json_schemas(ref_template: str) -> dict[str, dict[str, Any]]:
    """The JSON Schemas of every frame, payload and action, by name.

    ``ServerFrame`` and ``ClientAction`` are the unions; they refer to the others with
    ``ref_template`` (``#/components/schemas/{model}`` in an OpenAPI document).
    """
    named, defs = TypeAdapter.json_schemas(
        [("ServerFrame", "serialization", SERVER_FRAME),
         ("ClientAction", "validation", CLIENT_ACTION),
         ("ChannelFrame", "serialization", TypeAdapter(ChannelFrame))],
        ref_template=ref_template,
    )  # fmt: skip
    schemas: dict[str, dict[str, Any]] = dict(defs.get("$defs", {}))
    for schema in schemas.values():  # as FastAPI renders them: optional, not "null by default"
        for field in schema.get("properties", {}).values():
            if "default" in field and field["default"] is None:
                del field["default"]
    schemas["ServerFrame"] = {
        **named["ServerFrame", "serialization"],
        "description": "Every frame /api/ws sends (see ChannelFrame for one on a channel).",
    }
    schemas["ClientAction"] = {
        **named["ClientAction", "validation"],
        "description": "Every message a client of /api/ws sends (JSON).",
    }
    return schemas
