r"""JSON request bodies checked once, for every route, before any model sees them.

Python's ``json`` accepts what no other layer can store or run: ``NaN``/``Infinity``,
``1e400`` (read as infinity), integers of hundreds of digits, and ``"\ud800"`` (a lone
surrogate, which no UTF-8 file or database can hold). Each is refused here with 400
``INVALID_ARGUMENT`` naming the field, instead of failing later as a 500 or a failed job.

Query and path integers get explicit ranges (``api/params.py``); this module covers bodies.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from quantdesk.core.errors import describe_validation_errors
from quantdesk.services.views import CompileResult

#: Integers in a body must fit in a signed 64-bit integer (what every store and engine holds).
MAX_INT = 2**63 - 1
#: Deepest nesting of arrays and objects accepted.
MAX_DEPTH = 32


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def check_json(value: Any) -> None:
    """Check ``value`` (parsed JSON) for what no store or engine can hold.

    Raises:
        ValueError: naming the first place in ``value`` that holds a non-finite number, an
            integer outside ±(2**63-1), a string that is not valid Unicode (lone surrogates),
            or nesting deeper than ``MAX_DEPTH``.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict):
            items = list(item.items())
        elif isinstance(item, list):
            items = [(str(i), v) for i, v in enumerate(item)]
        else:
            _check_scalar(item, where or "body")
            continue
        if depth >= MAX_DEPTH:
            raise ValueError(f"{where or 'body'}: nested deeper than {MAX_DEPTH} levels")
        for key, child in items:
            path = f"{where}.{key}" if where else str(key)
            _check_scalar(key, f"a key of {where or 'body'}")
            stack.append((child, path, depth + 1))


def _check_scalar(item: Any, where: str) -> None:
    if isinstance(item, bool) or item is None:
        return
    if isinstance(item, int):
        if not -MAX_INT <= item <= MAX_INT:
            raise ValueError(f"{where}: integers must be within ±{MAX_INT}")
    elif isinstance(item, float):
        if not math.isfinite(item):
            raise ValueError(f"{where}: numbers must be finite (at most about 1.8e308)")
    elif isinstance(item, str):
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: the text is not valid Unicode (a lone surrogate "
                             "such as \\ud800)") from None  # fmt: skip


class CheckedRequest(Request):
    """A request whose ``json()`` refuses what ``check_json`` refuses (400)."""

    async def json(self) -> Any:
        """The body parsed as JSON (once, then cached), ``NaN``/``Infinity`` refused.

        Raises:
            HTTPException: 400 naming the field, for what ``check_json`` refuses.
            json.JSONDecodeError: the body is not JSON (or holds ``NaN``/``Infinity``).
        """
        if not hasattr(self, "_json"):
            body = await self.body()
            value = json.loads(body, parse_constant=_refuse_constant)
            try:
                check_json(value)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
            self._json = value
        return self._json


class CheckedRoute(APIRoute):
    """Every route of the API: its handler gets a ``CheckedRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler for this route, given a ``CheckedRequest`` in place of the request."""
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            return await handler(CheckedRequest(request.scope, request.receive))

        return checked


class CompileRoute(CheckedRoute):
    """The compile check's route: a bad body answers 400 in the compile answer's shape (§3).

    The contract gives that route one body shape for every outcome, a 400 included: a body
    that is not JSON (``zzz``) or not an object (``[1]``) gets ``ok, stdout, stderr,
    diagnostics, error`` too.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The checked handler, with a refused body answered as a ``CompileResult``."""
        handler = super().get_route_handler()

        async def shaped(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                result = CompileResult.refused(
                    "INVALID_ARGUMENT", describe_validation_errors(exc.errors())
                )
                return JSONResponse(result.model_dump(mode="json", exclude_none=True), 400)

        return shaped
