"""The parameter schema of a strategy, read statically from its code.

The code is parsed with ``ast``, never executed. Two forms count:

* a module-level ``PARAMS = {...}`` (native / RQAlpha-style strategies);
* a ``params = ((name, default), ...)``, ``params = {...}`` or ``params = dict(...)`` in a
  class body (backtrader's ``bt.Strategy.params``), when the module has no ``PARAMS``.

Only string-literal names count; a default that is not a literal has type ``any``.
"""

from __future__ import annotations

import ast
from typing import Any

from quantdesk.core.pysource import parse_module

_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", tuple: "list"}


def params_schema(source: str) -> list[dict[str, Any]]:
    """``[{"name", "type", "default"}]`` of the strategy's parameters.

    Empty when absent or not literal.

    ``type`` is one of ``int``, ``float``, ``bool``, ``str``, ``list`` or ``any``.
    """
    try:
        tree = parse_module(source)
    except SyntaxError:
        return []
    value = _assigned(tree.body, "PARAMS")
    if value is not None:
        return _schema(value)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            value = _assigned(node.body, "params")
            if value is not None:
                return _schema(value)
    return []


def _assigned(body: list[ast.stmt], name: str) -> ast.expr | None:
    for node in body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return value
    return None


def _entries(value: ast.expr) -> list[tuple[ast.expr | None, ast.expr]]:
    """(name, default) expressions of a dict literal, ``dict(k=v)`` or ``((k, v), ...)``."""
    if isinstance(value, ast.Dict):
        return list(zip(value.keys, value.values, strict=True))
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
        return [(ast.Constant(k.arg), k.value) for k in value.keywords if k.arg]
    if isinstance(value, ast.Tuple | ast.List):
        pairs: list[tuple[ast.expr | None, ast.expr]] = []
        for item in value.elts:
            if isinstance(item, ast.Tuple | ast.List) and len(item.elts) == 2:
                pairs.append((item.elts[0], item.elts[1]))
        return pairs
    return []


def _schema(value: ast.expr) -> list[dict[str, Any]]:
    schema = []
    for key, item in _entries(value):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            continue
        try:
            default = ast.literal_eval(item)
        except (ValueError, SyntaxError, TypeError):
            schema.append({"name": key.value, "type": "any", "default": None})
            continue
        kind = _TYPES.get(type(default), "any")
        if isinstance(default, tuple):
            default = list(default)
        schema.append({"name": key.value, "type": kind, "default": default})
    return schema
