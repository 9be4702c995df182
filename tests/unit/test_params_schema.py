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
    assert params_schema("PARAMS = dict(a=1)\n") == [{"name": "a", "type": "int", "default": 1}]
    assert params_schema("PARAMS = make_params()\n") == []
    assert params_schema("def broken(:\n") == []
    assert params_schema("PARAMS: dict = {'n': 3}\n") == [
        {"name": "n", "type": "int", "default": 3}
    ]


def test_backtrader_params_are_read_from_the_strategy_class() -> None:
    code = (
        "import backtrader as bt\n\n"
        "class Sma(bt.Strategy):\n"
        "    params = (('fast', 10), ('slow', 30.5), ('name', 'x'), ('f', abs))\n"
    )
    assert params_schema(code) == [
        {"name": "fast", "type": "int", "default": 10},
        {"name": "slow", "type": "float", "default": 30.5},
        {"name": "name", "type": "str", "default": "x"},
        {"name": "f", "type": "any", "default": None},
    ]
    as_dict = "class S:\n    params = dict(fast=5, on=True)\n"
    assert params_schema(as_dict) == [
        {"name": "fast", "type": "int", "default": 5},
        {"name": "on", "type": "bool", "default": True},
    ]
    module_level_wins = "PARAMS = {'a': 1}\nclass S:\n    params = (('b', 2),)\n"
    assert [p["name"] for p in params_schema(module_level_wins)] == ["a"]
