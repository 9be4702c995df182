"""Tables (SQLAlchemy 2 ``Mapped`` classes), kept apart from the API schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """``value`` in UTC for the database; naive on SQLite.

        Raises:
            ValueError: ``value`` is naive.
        """
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: Any,
        dialect: Dialect,  # noqa: ARG002 (TypeDecorator's signature)
    ) -> dt.datetime | None:
        """The stored value as an aware UTC datetime (a naive one is taken as UTC)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


class Base(DeclarativeBase):
    """Declarative base of every table."""


class UserRow(Base):
    """A login."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mobile: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="researcher")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: Embedded in every token (``ver``); bumped on a password or role change, disabling and
    #: "log out everywhere", which revokes every token issued before.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StrategyRow(Base):
    """Metadata of a strategy; its code lives in a file (the contract's layout)."""

    __tablename__ = "strategies"

    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    size: Mapped[int] = mapped_column(Integer)
    code_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StrategyVersionRow(Base):
    """One saved version of a strategy's code (every save keeps one)."""

    __tablename__ = "strategy_versions"

    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    strategy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text)
    code_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class JobRow(Base):
    """A backtest job; this row is the source of truth of its state.

    Leases: a worker owns a RUNNING job while ``lease_expires_at`` is in the future and its
    ``fence`` matches the value it claimed with; every claim increments ``fence``, so a worker
    that lost its lease can no longer commit.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_owner_strategy", "owner_id", "strategy_id", "created_at"),
        Index("ix_jobs_owner_hash", "owner_id", "request_hash", "created_at"),
        Index("ix_jobs_owner_idempotency_key", "owner_id", "idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: ``backtest`` or ``data_update`` (an update of the catalog from a source).
    kind: Mapped[str] = mapped_column(String(16), default="backtest", server_default="backtest")
    strategy_id: Mapped[str] = mapped_column(String(64))  # "" for an inline run
    #: The strategy's name when the job was created (an inline run's ``strategy_name``).
    strategy_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    #: The user's title and notes of the run (editable; shown in lists and reports).
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: The saved code version the job ran (null: inline code, or a job from before versions).
    strategy_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Headline metrics of a FINISHED job (from its summary), for sorting the jobs list.
    total_returns: Mapped[float | None] = mapped_column(Float, nullable=True)
    sharpe: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_drawdown: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Seconds from the first claim to the final state (set when the job ends).
    run_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_hash: Mapped[str] = mapped_column(String(64))
    run_dir: Mapped[str] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    fence: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    current_bar: Mapped[int] = mapped_column(Integer, default=0)
    total_bars: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    retry_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: The sandbox level of the worker that last ran it (``strong``, ``standard``...).
    sandbox_level: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ApiKeyRow(Base):
    """An API key: a public ``id`` (``X-API-Key``) and an argon2 hash of its secret."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StrategyRenameRow(Base):
    """An old strategy id that now resolves to another (the contract's rename map)."""

    __tablename__ = "strategy_renames"

    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    from_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    to_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class IdempotencyKeyRow(Base):
    """An ``Idempotency-Key`` a user sent with ``POST /api/backtest/run``.

    The job it created and a fingerprint of the request body, remembered for
    ``IDEMPOTENCY_KEY_HOURS``.
    """

    __tablename__ = "idempotency_keys"

    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: SHA-256 of the canonical JSON of the request body (``None``: recorded before 0008).
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    job_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class EventRow(Base):
    """A platform event (``core.events.EventKind``): who did what to which subject, when.

    ``id`` is the event's sequence number on the ``events`` channel (strictly increasing).
    ``user_id`` is the user it belongs to (the job's owner, the account that logged in);
    ``None`` for platform-wide events (workers), which only admins see.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_kind_id", "kind", "id"),
        Index("ix_events_subject_id", "subject", "id"),
        Index("ix_events_user_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ResearchItemRow(Base):
    """A research item (the contract's ``Research``): a notebook and its description."""

    __tablename__ = "research_items"

    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    notebook_path: Mapped[str] = mapped_column(String(255))
    kernel: Mapped[str] = mapped_column(String(64), default="python3")
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ResearchSessionRow(Base):
    """A notebook session of a research item: a user's Jupyter server while it runs.

    ``host`` and ``pid`` name the supervising launcher process (any API process on that host
    can stop it); ``socket`` is the server's Unix socket the proxy connects to. With an
    external Jupyter, ``external_id`` is its session id instead.
    """

    __tablename__ = "research_sessions"
    __table_args__ = (Index("ix_research_sessions_owner_item", "owner_id", "item_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    item_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    notebook_path: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_active_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    socket: Mapped[str] = mapped_column(String(255), default="")
    #: The session's id in an external Jupyter (``RESEARCH_NOTEBOOK_API_BASE``).
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
