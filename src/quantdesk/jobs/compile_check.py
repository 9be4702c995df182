"""The compile check, run in the sandbox (target ``compile``: ``run(code)``).

Or by hand as ``python -I -m quantdesk.jobs.compile_check`` with ``{"code": ...}`` on stdin.

Static only — the strategy is never executed: ``ast.parse`` for syntax, then every absolute
``import`` / ``from ... import`` is resolved with ``importlib.util.find_spec`` in this
interpreter (the job runtime). ``rqalpha`` resolves to quantdesk's own API. A warning when
the code defines neither an ``init``/``handle_bar``-style hook nor a ``backtrader.Strategy``
subclass (``detect_engine``), i.e. no engine has anything to run. Prints one JSON
object: ``{"stdout", "stderr", "diagnostics": [{line, column, level, message}]}``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import sys
from typing import Any

#: Modules the native engine provides itself.
PROVIDED = frozenset({"rqalpha"})
HOOKS = ("init", "before_trading", "handle_bar", "after_trading")


def diagnose(code: str) -> dict[str, Any]:
    """Syntax and dependency diagnostics of ``code``."""
    diagnostics: list[dict[str, Any]] = []
    out: list[str] = []
    try:
        tree = ast.parse(code, filename="strategy.py")
    except SyntaxError as exc:
        diagnostics.append(
            {
                "line": exc.lineno or 1,
                "column": exc.offset or 1,
                "level": "error",
                "message": f"syntax error: {exc.msg}",
            }
        )
        return {"stdout": "", "stderr": f"syntax error: {exc.msg}", "diagnostics": diagnostics}
    out.append("syntax check passed")
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                diagnostics.append(_diag(node, "error", "relative imports are not supported"))
                continue
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            if top in PROVIDED:
                continue
            try:
                found = importlib.util.find_spec(name) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                diagnostics.append(_diag(node, "error", f"dependency '{name}' is not installed"))
    if not _runnable(tree, code):
        diagnostics.append(
            {"line": 1, "column": 1, "level": "warning",
             "message": "no init/handle_bar and no backtrader.Strategy subclass defined: "
                        "no engine has anything to run"}
        )  # fmt: skip
    errors = [d for d in diagnostics if d["level"] == "error"]
    if not errors:
        out.append("dependency check passed")
    stderr = "\n".join(d["message"] for d in errors)
    return {"stdout": "\n".join(out), "stderr": stderr, "diagnostics": diagnostics}


def _runnable(tree: ast.Module, code: str) -> bool:
    """True if ``code`` defines a hook (native/rqalpha) or a ``bt.Strategy`` subclass."""
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    if defined & set(HOOKS):
        return True
    # Imported only here: it loads the backtest layer (pandas...), which hooks never need.
    from quantdesk.backtest.engines import detect_engine

    return detect_engine(code) == "backtrader"


def _diag(node: ast.AST, level: str, message: str) -> dict[str, Any]:
    return {
        "line": getattr(node, "lineno", 1),
        "column": getattr(node, "col_offset", 0) + 1,
        "level": level,
        "message": message,
    }


def run(code: str) -> int:
    """The sandbox target: the diagnostics of ``code`` as one JSON line on the events pipe.

    The events pipe is fd 3 (``EVENTS_FD``). Returns the exit status, 0.
    """
    from quantdesk.jobs.events import EVENTS_FD

    os.write(EVENTS_FD, (json.dumps(diagnose(code)) + "\n").encode())
    return 0


if __name__ == "__main__":
    payload = json.load(sys.stdin)
    json.dump(diagnose(payload["code"]), sys.stdout)
