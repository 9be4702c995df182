"""Static PARAMS extraction: types and defaults without executing anything."""

from __future__ import annotations

from quantdesk.engine.params_schema import params_schema


def test_literal_params_give_types_and_defaults() -> None:
    code = (
        "import os\nos.system('echo never run')\n"
        "PARAMS = {'fast': 10, 'w': 0.5, 'on': True, 'name': 'x', 'ids': ('A', 'B'), 'f': len}\n"
    )
    assert params_schema(code) == [
        {"name": "fast", "type": "int", "default": 10},
        {"name": "w", "type": "float", "default": 0.5},
        {"name": "on", "type": "bool", "default": True},
        {"name": "name", "type": "str", "default": "x"},
        {"name": "ids", "type": "list", "default": ["A", "B"]},
        {"name": "f", "type": "any", "default": None},
    ]


def test_no_or_odd_params() -> None:
    assert params_schema("def init(c):\n    pass\n") == []
    assert params_schema("PARAMS = dict(a=1)\n") == []
    assert params_schema("def broken(:\n") == []
    assert params_schema("PARAMS: dict = {'n': 3}\n") == [
        {"name": "n", "type": "int", "default": 3}
    ]
