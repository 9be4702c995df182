"""Reading ``run.log`` by byte ranges.

A slice never splits a UTF-8 character and never holds more than ``LOG_CHUNK`` bytes, so the
API answers ``offset`` / ``tail`` without reading the whole log (which may be as large as
``BACKTEST_LOG_MB``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from quantdesk.jobs.artifacts import open_regular

#: Most bytes of ``run.log`` one slice (``offset`` / ``tail``) holds.
LOG_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LogChunk:
    """A slice of ``run.log``.

    ``content`` is the text of bytes ``[offset, next_offset)``; ``size`` is the file size when
    it was read (``next_offset < size``: fetch again).
    """

    content: str
    offset: int
    next_offset: int
    size: int


def _is_continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def _sequence_length(lead: int) -> int:
    """Bytes of the UTF-8 sequence ``lead`` starts (1 for ASCII or an invalid lead)."""
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 1


def _incomplete_tail(data: bytes) -> int:
    """How many bytes at the end of ``data`` are an unfinished UTF-8 character (0-3)."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if not _is_continuation(byte):
            return back if _sequence_length(byte) > back else 0
    return 0


def read_log_chunk(
    path: Path,
    *,
    offset: int | None = None,
    tail: int | None = None,
    limit: int = LOG_CHUNK,
    final: bool = False,
) -> LogChunk:
    """At most ``limit`` bytes of the log at ``path``, decoded as UTF-8.

    From byte ``offset`` (clamped to the size), or its last ``tail`` bytes (at most the last
    ``limit``).

    A chunk never splits a character: it ends before an unfinished one (fetch again from
    ``next_offset`` to get it), and a ``tail`` starts after a partial one, so the contents of
    successive fetches from ``next_offset`` concatenate to the file's text exactly (bytes that
    are not UTF-8 read as U+FFFD, as in a whole decode). An unfinished character at the very
    end of the file is held back too, since the writer may be in the middle of it, unless
    ``final`` (the file no longer grows): then it is returned as U+FFFD.

    Raises:
        FileNotFoundError: as ``open_regular``. ValueError: negative ``offset`` or ``tail``,
            or ``limit`` under 4 (a chunk must hold any character).
    """
    if (offset is not None and offset < 0) or (tail is not None and tail < 0):
        raise ValueError("offset and tail must be >= 0")
    if limit < 4:
        raise ValueError("limit must be >= 4")
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        first = size - min(tail, limit) if tail is not None else offset or 0
        start = min(max(first, 0), size)
        fh.seek(start)
        data = fh.read(min(limit, size - start))
    end = start + len(data)
    if tail is not None and start > 0:
        # Bytes that continue a character begun before ``start`` (at most 3): start after them.
        skip = 0
        while skip < min(3, len(data)) and _is_continuation(data[skip]):
            skip += 1
        data = data[skip:]
        start += skip
    if end < size or not final:
        cut = _incomplete_tail(data)
        if cut:
            data = data[:-cut]
            end -= cut
    return LogChunk(
        content=data.decode("utf-8", errors="replace"), offset=start, next_offset=end, size=size
    )
