"""Parsing untrusted Python source into an AST, safely from any thread.

CPython 3.11 keeps the AST-to-object converter's recursion counter in interpreter-wide state,
so two threads inside ``ast.parse`` at once can fail with ``SystemError: AST constructor
recursion depth mismatch`` (CPython gh-106905, fixed in 3.12.5/3.13): a garbage collection
during the conversion runs Python code, the GIL switches, and the other thread moves the
counter. The API serves requests on a thread pool and parses strategies to detect the engine
and read ``PARAMS``, so every parse in a threaded process goes through :func:`parse_module`,
which holds one lock for the conversion. Parsing takes milliseconds; the lock costs nothing
measurable.
"""

from __future__ import annotations

import ast
import threading

_PARSE_LOCK = threading.Lock()


def parse_module(source: str, filename: str = "<strategy>") -> ast.Module:
    """The module AST of ``source``.

    Raises:
        SyntaxError: the source does not parse, holds a NUL byte, or nests too deeply for the
            parser (``MemoryError``/``RecursionError`` from CPython become a ``SyntaxError``
            so that a hostile file is a user error, never a server error).
    """
    with _PARSE_LOCK:
        try:
            return ast.parse(source, filename=filename)
        except (MemoryError, RecursionError) as exc:
            raise SyntaxError(f"{filename}: the code is nested too deeply to parse") from exc
        except ValueError as exc:  # NUL bytes on some 3.11 builds
            raise SyntaxError(f"{filename}: {exc}") from exc
