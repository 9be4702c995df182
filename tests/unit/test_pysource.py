"""Parsing strategy source from many threads at once (the API's thread pool)."""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from quantdesk.backtest.engines import detect_engine
from quantdesk.core.pysource import parse_module
from quantdesk.engine.params_schema import params_schema

SOURCE = (Path(__file__).parents[2] / "src" / "quantdesk" / "engine" / "loop.py").read_text()


class _Cycle:
    """Cyclic garbage whose finaliser yields the GIL, as any object collected mid-parse may."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def test_parsing_from_many_threads_never_fails_with_a_system_error() -> None:
    # Regression: 50 concurrent POST /api/backtest/run failed one with "SystemError: AST
    # constructor recursion depth mismatch" (CPython gh-106905) inside detect_engine.
    stop = threading.Event()

    def make_garbage() -> None:
        while not stop.is_set():
            _Cycle()
            time.sleep(0)

    threshold = gc.get_threshold()
    gc.set_threshold(50, 1000, 1000)
    garbage = threading.Thread(target=make_garbage, daemon=True)
    garbage.start()
    try:

        def work(_: int) -> tuple[str, int]:
            return detect_engine(SOURCE), len(params_schema(SOURCE))

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(work, range(8)))
    finally:
        stop.set()
        garbage.join()
        gc.set_threshold(*threshold)
    assert results == [("native", 0)] * 8


@pytest.mark.parametrize(
    "source", ["x = 1\x00", "-" * 200_000 + "1", "(" * 300 + ")" * 300, "def f(:\n"]
)
def test_hostile_source_is_a_syntax_error(source: str) -> None:
    with pytest.raises(SyntaxError):
        parse_module(source)
    assert params_schema(source) == []
    assert detect_engine(source) == "native"
