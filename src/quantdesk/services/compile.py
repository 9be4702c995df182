"""The compile check (§3): admin only; static syntax and dependency checks.

Run in the same sandbox as jobs (the one-shot launcher: its own uid, namespaces, seccomp,
limits).
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, ValidationError

from quantdesk.core.errors import Forbidden, InvalidArgument, NotFound
from quantdesk.core.settings import Settings
from quantdesk.jobs.runner import child_env
from quantdesk.jobs.sandbox import Detection, Sandbox
from quantdesk.services.auth import Principal
from quantdesk.services.strategies import StrategyService, check_strategy_id
from quantdesk.services.views import CompileResult, Diagnostic, DiagnosticLevel


class CompileService:
    """Runs ``quantdesk.jobs.compile_check`` in the sandbox with ``BACKTEST_COMPILE_TIMEOUT``."""

    def __init__(self, settings: Settings, strategies: StrategyService, sandbox: Sandbox) -> None:
        self._settings = settings
        self._strategies = strategies
        self._sandbox = sandbox
        self._lock = threading.Lock()

    def sandbox(self) -> Detection:
        """This process's sandbox self-test (run once, on first use)."""
        with self._lock:
            return self._sandbox.detection or self._sandbox.detect()

    def check(
        self, principal: Principal, strategy_id: str, code: str | None
    ) -> tuple[int, CompileResult]:
        """``(status, answer)``, one answer shape for every outcome.

        200 passed; 400 bad request / no saved code; 403 not an admin; 422 syntax error or a
        missing dependency; 500 timeout or internal failure. Blank ``code`` checks the saved
        code. Nothing is saved.
        """
        try:
            if not principal.is_admin:
                raise Forbidden("compile is for admins")
            check_strategy_id(strategy_id)
            if code is None or not code.strip():
                try:
                    code = self._strategies.read_code(principal, strategy_id)
                except NotFound:
                    raise InvalidArgument(
                        f"no code given and strategy {strategy_id!r} has no saved code"
                    ) from None
        except (Forbidden, InvalidArgument) as exc:
            return (403 if isinstance(exc, Forbidden) else 400), CompileResult.refused(
                exc.code, exc.message
            )
        detection = self.sandbox()
        if not detection.runnable:
            missing = ", ".join(detection.missing)
            message = f"the sandbox is unavailable ({missing}) and BACKTEST_SANDBOX=strict"
            return 500, CompileResult.refused("SANDBOX_UNAVAILABLE", message)
        timeout = self._settings.backtest_compile_timeout
        policy = self._sandbox.policy(None, cgroup="compile-", env=child_env())
        reports: list[dict[str, Any]] = []
        try:
            run = self._sandbox.starter.spawn(
                policy, "compile", {"code": code}, on_event=reports.append
            )
        except (OSError, RuntimeError) as exc:
            return 500, CompileResult.refused(
                "INTERNAL_ERROR", f"the sandbox could not start: {exc}"
            )
        if not run.wait(timeout):
            run.kill()
            return 500, CompileResult.refused(
                "INTERNAL_ERROR", f"compile check timed out after {timeout:g}s"
            )
        found = next((r for r in reports if "diagnostics" in r), None)
        try:
            result = _Report.model_validate(found)
        except ValidationError:
            output = run.output.decode(errors="replace").strip()[-2000:]
            reason = (run.outcome.error if run.outcome else None) or output or "no result"
            return 500, CompileResult.refused("INTERNAL_ERROR", reason)
        if any(d.level == DiagnosticLevel.ERROR for d in result.diagnostics):
            return 422, CompileResult.of(
                False, result.stdout, result.stderr, result.diagnostics, "UNPROCESSABLE_ENTITY"
            )
        return 200, CompileResult.of(True, result.stdout, result.stderr, result.diagnostics)


class _Report(BaseModel):
    """What ``quantdesk.jobs.compile_check`` reports from the sandbox."""

    stdout: str
    stderr: str
    diagnostics: list[Diagnostic]
