"""The compile check (§3): admin only; static syntax and dependency checks in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from quantdesk.core.errors import Forbidden, InvalidArgument, NotFound
from quantdesk.core.settings import Settings
from quantdesk.jobs.runner import child_env
from quantdesk.services.auth import Principal
from quantdesk.services.strategies import StrategyService, check_strategy_id


class CompileService:
    """Runs ``quantdesk.jobs.compile_check`` with ``BACKTEST_COMPILE_TIMEOUT``."""

    def __init__(self, settings: Settings, strategies: StrategyService) -> None:
        self._settings = settings
        self._strategies = strategies

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
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-m", "quantdesk.jobs.compile_check"],
                input=json.dumps({"code": code}),
                capture_output=True,
                text=True,
                env=child_env(),  # no proxies, no credentials
                timeout=self._settings.backtest_compile_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            message = f"compile check timed out after {self._settings.backtest_compile_timeout:g}s"
            return 500, _body(False, "", message, [], "INTERNAL_ERROR")
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            return 500, _body(False, "", proc.stderr.strip()[-2000:], [], "INTERNAL_ERROR")
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
