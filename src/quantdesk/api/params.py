"""Query and path parameters with the ranges every store can hold.

An ``offset`` of 10**32 is a 400 naming the range, never an ``OverflowError`` from the database.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from quantdesk.core.limits import MAX_ID, MAX_POSITION

Offset = Annotated[int, Query(ge=0, le=MAX_POSITION, description="rows to skip")]
Page = Annotated[int, Query(ge=1, le=MAX_POSITION)]
OptionalPage = Annotated[int | None, Query(ge=1, le=MAX_POSITION)]
ByteOffset = Annotated[
    int | None, Query(ge=0, le=MAX_POSITION, description="byte offset to read from")
]
TailBytes = Annotated[int | None, Query(ge=0, le=MAX_POSITION, description="last N bytes")]
VersionPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a saved version number")]
UserIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]

StrategyLimit = Annotated[
    int, Query(ge=1, le=MAX_POSITION, description="default 100; larger values give 500")
]
JobLimit = Annotated[
    int, Query(ge=1, le=MAX_POSITION, description="default 100; larger values give 1000")
]
