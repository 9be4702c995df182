"""Job states and the error codes a failed job carries (the contract's names)."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """The contract's job states."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    FINISHED = "FINISHED"

    @property
    def is_final(self) -> bool:
        """True for FAILED, CANCELLED and FINISHED."""
        return self in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.FINISHED)


class JobErrorCode(StrEnum):
    """``error.code`` of a FAILED job (besides the ``QuantdeskError`` codes of the run)."""

    BACKTEST_TIMEOUT = "BACKTEST_TIMEOUT"
    RQALPHA_TIMEOUT = "RQALPHA_TIMEOUT"  # the contract's code when the engine was RQAlpha
    STRATEGY_ERROR = "STRATEGY_ERROR"
    WORKER_LOST = "WORKER_LOST"
    MEMORY_LIMIT = "MEMORY_LIMIT"  # BACKTEST_MEMORY_MB exceeded (never retried)
    PROCESS_LIMIT = "PROCESS_LIMIT"  # BACKTEST_MAX_PROCS exceeded
    DISK_LIMIT = "DISK_LIMIT"  # BACKTEST_DISK_MB (or the private /tmp) full
    SANDBOX_UNAVAILABLE = "SANDBOX_UNAVAILABLE"  # strict mode and a core layer is missing
    INTERNAL_ERROR = "INTERNAL_ERROR"
