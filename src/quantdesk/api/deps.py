"""Request dependencies: the platform and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from quantdesk.core.errors import Unauthorized
from quantdesk.services.auth import Principal
from quantdesk.services.platform import Platform


def platform(request: Request) -> Platform:
    """The app's ``Platform``."""
    return request.app.state.platform  # type: ignore[no-any-return]


def principal(
    request: Request,
    authorization: Annotated[
        str | None, Header(description="`<token>` or `Bearer <token>`")
    ] = None,
) -> Principal:
    """The caller of ``Authorization: <token>`` or ``Authorization: Bearer <token>``.

    Raises:
        Unauthorized: missing header, bad or expired token.
    """
    if not authorization or not authorization.strip():
        raise Unauthorized("missing Authorization header; log in with POST /api/login")
    token = authorization.strip()
    scheme, _, rest = token.partition(" ")
    if rest and scheme.lower() == "bearer":
        token = rest.strip()
    return platform(request).auth.authenticate(token)


PlatformDep = Annotated[Platform, Depends(platform)]
PrincipalDep = Annotated[Principal, Depends(principal)]
