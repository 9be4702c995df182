"""Server logging: the console plus ``LOG_DIR/server.log`` (INFO+) and ``server.err.log`` (ERROR+).

Every process of ``quantdesk serve`` (supervisor, API, workers) appends to the same two files.
Only the supervisor rotates them (``LOG_MAX_MB``, ``LOG_BACKUPS`` kept): it checks their size
every few seconds (``rotate``); the other processes reopen a file that was rotated under them
(``WatchedFileHandler``). Lines are ``time level logger [pid]: message``, or JSON objects with
``LOG_JSON`` (``ts, level, logger, pid, message``, plus ``exc`` for a traceback).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from pathlib import Path

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"
#: Handlers this module installed (so a second ``configure`` replaces them).
_OURS: list[logging.Handler] = []


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        out = {"ts": record.created, "level": record.levelname, "logger": record.name,
               "pid": record.process, "message": record.getMessage()}  # fmt: skip
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(
    log_dir: Path | None,
    *,
    json_lines: bool = False,
    rotating: bool = False,
    max_mb: float = 10.0,
    backups: int = 5,
) -> None:
    """Log INFO+ to stderr and, with ``log_dir``, to its two files (see the module docstring).

    Args:
        log_dir: Folder of ``server.log`` and ``server.err.log`` (created); ``None``: console.
        json_lines: JSON objects instead of text lines (files and console).
        rotating: This process rotates the files (the supervisor); others reopen them.
        max_mb: Size at which a file is rotated.
        backups: Rotated files kept.
    """
    root = logging.getLogger()
    for handler in _OURS:
        root.removeHandler(handler)
        handler.close()
    _OURS.clear()
    root.setLevel(logging.INFO)
    formatter: logging.Formatter = JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT)
    console = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [console]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        for name, level in (("server.log", logging.INFO), ("server.err.log", logging.ERROR)):
            path = log_dir / name
            file: logging.Handler = (
                logging.handlers.RotatingFileHandler(
                    path, maxBytes=int(max_mb * 2**20), backupCount=backups, encoding="utf-8"
                )
                if rotating
                else logging.handlers.WatchedFileHandler(path, encoding="utf-8")
            )
            file.setLevel(level)
            handlers.append(file)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
        _OURS.append(handler)


def rotate() -> None:
    """Rotate the files that reached their size.

    Only in the process that called ``configure`` with ``rotating``; a no-op elsewhere.
    """
    probe = logging.LogRecord("quantdesk", logging.INFO, __file__, 0, "", None, None)
    for handler in _OURS:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and handler.shouldRollover(
            probe
        ):
            handler.doRollover()
