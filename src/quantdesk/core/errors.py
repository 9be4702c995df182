"""The error hierarchy every layer raises.

Each error carries a stable machine ``code`` (the contract's ``error.code``) and a human
message. Adapters (CLI, HTTP) map them to exit codes / status codes in one place.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any


class QuantdeskError(Exception):
    """Base class of all expected (user-facing) errors.

    Attributes:
        code: Stable upper-case error code, e.g. ``"INVALID_ARGUMENT"``.
        message: Human-readable explanation, safe to show to the user.
    """

    code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(QuantdeskError):
    """An argument is malformed or out of range (bad date, negative cash, bad parameter...)."""

    code = "INVALID_ARGUMENT"


class NotFound(QuantdeskError):
    """A named thing (instrument, file, strategy) does not exist."""

    code = "NOT_FOUND"


class DataUnavailable(QuantdeskError):
    """The catalog has no data for the requested instrument and date range."""

    code = "DATA_UNAVAILABLE"


class DataValidationError(QuantdeskError):
    """Imported market data broke a validation rule (see ``quantdesk.data.validation``)."""

    code = "DATA_INVALID"


class StrategyError(QuantdeskError):
    """The user's strategy raised an exception while running.

    Attributes:
        user_traceback: The traceback restricted to frames of the strategy file.
    """

    code = "STRATEGY_ERROR"

    def __init__(self, message: str, user_traceback: str = "") -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


class StrategySyntaxError(StrategyError):
    """The strategy source does not parse; ``lineno``/``offset`` locate the problem."""

    code = "STRATEGY_SYNTAX_ERROR"

    def __init__(self, message: str, lineno: int | None, offset: int | None) -> None:
        super().__init__(message)
        self.lineno = lineno
        self.offset = offset


class EngineUnavailable(QuantdeskError):
    """The requested backtest engine is not installed or not configured.

    E.g. no ``RQALPHA_COMMAND``, or ``backtrader`` missing.
    """

    code = "ENGINE_UNAVAILABLE"


class EngineFailed(QuantdeskError):
    """An external engine (RQAlpha) exited with an error that is not the strategy's."""

    code = "ENGINE_FAILED"


class Unauthorized(QuantdeskError):
    """Missing, invalid or expired credentials (HTTP 401)."""

    code = "UNAUTHORIZED"


class Forbidden(QuantdeskError):
    """Authenticated but not allowed (HTTP 403)."""

    code = "FORBIDDEN"


class UserDisabled(Forbidden):
    """The account is disabled (HTTP 403).

    Its right password at login, and its tokens and API keys afterwards, are refused with this
    (a wrong password still answers 401).
    """

    code = "USER_DISABLED"


class Conflict(QuantdeskError):
    """The request conflicts with the current state (HTTP 409).

    Attributes:
        data: Optional details returned with the error (e.g. blocking job ids).
    """

    code = "CONFLICT"

    def __init__(self, message: str, data: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.data = data


class ResultNotReady(Conflict):
    """A job's result was asked for before the job FINISHED (HTTP 409)."""

    code = "RESULT_NOT_READY"


class Unprocessable(QuantdeskError):
    """Well-formed but semantically invalid input (HTTP 422)."""

    code = "UNPROCESSABLE_ENTITY"


class InternalError(QuantdeskError):
    """Something on the server side is broken (HTTP 500), e.g. a corrupt result file."""

    code = "INTERNAL_ERROR"


class PayloadTooLarge(QuantdeskError):
    """What was asked for is too large to answer this way (HTTP 413)."""

    code = "PAYLOAD_TOO_LARGE"


class TooManyRequests(QuantdeskError):
    """Rate limited (HTTP 429).

    Attributes:
        retry_after: Seconds until the next attempt may succeed.
    """

    code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(QuantdeskError):
    """The server (or a worker) must not start with these settings."""

    code = "CONFIGURATION_ERROR"


def describe_validation_errors(
    errors: Sequence[Mapping[str, Any]],
    names: Mapping[str, str] | None = None,
    skip: Collection[str] = ("body", "query", "path", "header"),
) -> str:
    """One message from pydantic's ``errors()``: ``"field: what is wrong"`` joined by ``; ``.

    A message that already names its field is not prefixed with it. ``names`` renames
    fields (a caller's spelling); ``skip`` drops location parts that are not fields.
    """
    rename = names or {}
    messages = []
    for err in errors:
        if err.get("type") == "json_invalid":
            messages.append("the body is not valid JSON")
            continue
        parts = [str(rename.get(str(p), p)) for p in err.get("loc", ()) if p not in skip]
        message = str(err.get("msg") or "invalid")
        named = bool(parts) and re.search(rf"\b{re.escape(parts[-1])}\b", message) is not None
        messages.append(message if not parts or named else f"{'.'.join(parts)}: {message}")
    return "; ".join(dict.fromkeys(messages)) or "invalid request"
