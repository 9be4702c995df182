"""The compile check (§3): admin only; static syntax and dependency checks.

Run in the same sandbox as jobs (the one-shot launcher: its own uid, namespaces, seccomp,
limits).
"""

from __future__ import annotations

import threading
from typing import Any

from quantdesk.core.errors import Forbidden, InvalidArgument, NotFound
from quantdesk.core.settings import Settings
from quantdesk.jobs.runner import child_env
from quantdesk.jobs.sandbox import Detection, Sandbox
from quantdesk.services.auth import Principal
from quantdesk.services.strategies import StrategyService, check_strategy_id


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
        self, principal: Principal, strategy_id: str, code: object
    ) -> tuple[int, dict[str, Any]]:
        """``(status, body)`` with the contract's single body shape for every outcome.

        200 passed; 400 bad request / no saved code; 403 not an admin; 422 syntax error or a
        missing dependency; 500 timeout or internal failure. Nothing is saved.
        """
        try:
            if not principal.is_admin:
                raise Forbidden("compile is for admins")
            try:
                check_strategy_id(strategy_id)
            except InvalidArgument as exc:
                raise InvalidArgument(exc.message) from None
            if code is not None and not isinstance(code, str):
                raise InvalidArgument("code must be a string")
            if code is None or not code.strip():
                try:
                    code = self._strategies.read_code(principal, strategy_id)
                except NotFound:
                    raise InvalidArgument(
                        f"no code given and strategy {strategy_id!r} has no saved code"
                    ) from None
        except (Forbidden, InvalidArgument) as exc:
            status = 403 if isinstance(exc, Forbidden) else 400
            return status, _body(False, "", exc.message, [], exc.code)
        detection = self.sandbox()
        if not detection.runnable:
            missing = ", ".join(detection.missing)
            message = f"the sandbox is unavailable ({missing}) and BACKTEST_SANDBOX=strict"
            return 500, _body(False, "", message, [], "SANDBOX_UNAVAILABLE")
        timeout = self._settings.backtest_compile_timeout
        policy = self._sandbox.policy(None, cgroup="compile-", env=child_env())
        reports: list[dict[str, Any]] = []
        try:
            run = self._sandbox.starter.spawn(
                policy, "compile", {"code": code}, on_event=reports.append
            )
        except (OSError, RuntimeError) as exc:
            return 500, _body(
                False, "", f"the sandbox could not start: {exc}", [], "INTERNAL_ERROR"
            )
        if not run.wait(timeout):
            run.kill()
            return 500, _body(
                False, "", f"compile check timed out after {timeout:g}s", [], "INTERNAL_ERROR"
            )
        result = next((r for r in reports if "diagnostics" in r), None)
        if not isinstance(result, dict) or not isinstance(result.get("diagnostics"), list):
            output = run.output.decode(errors="replace").strip()[-2000:]
            reason = (run.outcome.error if run.outcome else None) or output or "no result"
            return 500, _body(False, "", reason, [], "INTERNAL_ERROR")
        errors = [d for d in result["diagnostics"] if d["level"] == "error"]
        if errors:
            return 422, _body(
                False, result["stdout"], result["stderr"], result["diagnostics"],
                "UNPROCESSABLE_ENTITY",
            )  # fmt: skip
        return 200, _body(True, result["stdout"], result["stderr"], result["diagnostics"])


def _body(
    ok: bool, stdout: str, stderr: str, diagnostics: list[Any], code: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ok": ok,
        "stdout": stdout,
        "stderr": stderr,
        "diagnostics": diagnostics,
    }
    if code is not None:
        body["error"] = {"code": code, "message": stderr or code}
    return body
