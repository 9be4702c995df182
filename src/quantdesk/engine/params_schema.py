"""The parameter schema of a strategy, read statically from its ``PARAMS`` dict.

The code is parsed with ``ast``, never executed: only a module-level ``PARAMS = {...}`` whose
keys are string literals and whose values are literals counts.
"""

from __future__ import annotations

import ast
from typing import Any

_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", tuple: "list"}


def params_schema(source: str) -> list[dict[str, Any]]:
    """``[{"name", "type", "default"}]`` of ``PARAMS`` (empty when absent or not literal).

    ``type`` is one of ``int``, ``float``, ``bool``, ``str``, ``list`` or ``any``.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not any(isinstance(t, ast.Name) and t.id == "PARAMS" for t in targets):
            continue
        if not isinstance(value, ast.Dict):
            return []
        schema = []
        for key, item in zip(value.keys, value.values, strict=True):
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
    return []
