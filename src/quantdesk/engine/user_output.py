"""Strategy output: ``print()`` becomes log lines (every in-process engine uses it)."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from quantdesk.engine.session import StrategySession


class LogTarget(Protocol):
    """Anything that records a strategy log line (the engine, or another engine's book)."""

    def log(self, level: str, message: str) -> None:
        """Record ``message`` at ``level`` (``INFO``, ``WARNING``...), stamped with the bar date."""
        ...


class PrintToLog(io.TextIOBase):
    """``print()`` in a strategy becomes an ``INFO`` log line of ``target``.

    Stdout stays clean; used with ``contextlib.redirect_stdout`` by every in-process engine.
    """

    def __init__(self, target: LogTarget) -> None:
        self._engine = target
        self._partial = ""

    def writable(self) -> bool:
        """Always True: this stream only writes."""
        return True

    def write(self, text: str) -> int:
        """Log each complete line of ``text``; keep the rest until more text or ``flush``.

        Returns ``len(text)`` (all of it is taken).
        """
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._engine.log("INFO", line)
        return len(text)

    def flush(self) -> None:
        """Log the pending partial line, if any."""
        if self._partial:
            self._engine.log("INFO", self._partial)
            self._partial = ""


class StrategyLogger:
    """``logger`` in the strategy: lines are stamped with the bar date and kept in the result."""

    def __init__(self, engine: StrategySession) -> None:
        self._engine = engine

    def debug(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``DEBUG`` (``msg`` and ``args`` joined by spaces if that fails)."""
        self._engine.log("DEBUG", _fmt(msg, args))

    def info(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``INFO`` (``msg`` and ``args`` joined by spaces if that fails)."""
        self._engine.log("INFO", _fmt(msg, args))

    def warning(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``WARNING`` (``msg`` and ``args`` joined by spaces if that fails).

        Also available as ``warn``.
        """
        self._engine.log("WARNING", _fmt(msg, args))

    warn = warning

    def error(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``ERROR`` (``msg`` and ``args`` joined by spaces if that fails)."""
        self._engine.log("ERROR", _fmt(msg, args))

    def critical(self, msg: object, *args: object) -> None:
        """Log ``msg`` with ``args`` at ``CRITICAL``."""
        self._engine.log("CRITICAL", _fmt(msg, args))

    def notice(self, msg: object, *args: object) -> None:
        """Log ``msg`` with ``args`` at ``INFO`` (logbook's NOTICE level)."""
        self._engine.log("INFO", _fmt(msg, args))

    def exception(self, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``ERROR``, as ``error`` (no traceback is added)."""
        self._engine.log("ERROR", _fmt(msg, args))

    def log(self, level: int, msg: object, *args: object) -> None:
        """Log ``msg % args`` at ``level``, a ``logging`` level number (e.g. ``logging.INFO``)."""
        self._engine.log(logging.getLevelName(level), _fmt(msg, args))


def _fmt(msg: object, args: tuple[object, ...]) -> str:
    """``msg`` with ``args`` filled in.

    ``str.format`` when it has ``{`` (RQAlpha's logbook style), else ``%`` (the ``logging``
    style); joined by spaces when neither fits.
    """
    text = str(msg)
    if args:
        try:
            text = text.format(*args) if "{" in text else text % args
        except (TypeError, ValueError, IndexError, KeyError):
            text = " ".join([text, *map(str, args)])
    return text
