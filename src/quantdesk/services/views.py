"""What services answer, shared by several of them: error details and the compile check's answer.

The answers of each concept live beside it (``views_strategies``, ``views_jobs``,
``views_users``, ``views_data``); ``quantdesk.api.schemas`` re-exports them all, so their class
names are the OpenAPI component names the web client's generated types refer to.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    """What went wrong: a stable upper-case ``code`` and a human ``message``."""

    code: str = Field(examples=["INVALID_ARGUMENT"])
    message: str


class DiagnosticLevel(StrEnum):
    """How bad a compile diagnostic is."""

    ERROR = "error"
    WARNING = "warning"


class Diagnostic(BaseModel):
    """One finding of ``POST /api/backtest/strategies/{strategy_id}/compile`` (1-based)."""

    line: int
    column: int
    level: DiagnosticLevel
    message: str


class CompileResult(BaseModel):
    """``POST /api/backtest/strategies/{strategy_id}/compile``: one shape for every outcome.

    ``error`` is absent when the check passed (200); it is set for 400, 403, 422 and 500.
    """

    ok: bool = Field(description="true when the check passed (200)")
    stdout: str = Field(description="what passed, one check per line")
    stderr: str = Field(description="what failed, one problem per line")
    diagnostics: list[Diagnostic]
    error: ErrorDetail | None = Field(None, description="absent when the check passed")

    @classmethod
    def refused(cls, code: str, message: str) -> CompileResult:
        """The answer when no check ran: ``code`` and ``message`` (also as ``stderr``)."""
        return cls.of(False, "", message, [], code)

    @classmethod
    def of(
        cls,
        ok: bool,
        stdout: str,
        stderr: str,
        diagnostics: list[Diagnostic],
        code: str | None = None,
    ) -> CompileResult:
        """An answer; with ``code``, an ``error`` whose message is ``stderr`` (else ``code``)."""
        error = ErrorDetail(code=code, message=stderr or code) if code is not None else None
        return cls(ok=ok, stdout=stdout, stderr=stderr, diagnostics=diagnostics, error=error)
