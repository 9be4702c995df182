"""Server logging: the two files, JSON lines, and rotation by the supervisor only."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantdesk.core import logs


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    logs.configure(None)  # closes the files this module opened
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_info_and_errors_go_to_their_files_and_rotate(tmp_path: Path) -> None:
    logs.configure(tmp_path, rotating=True, max_mb=0.001, backups=2)
    log = logging.getLogger("quantdesk.test")
    log.info("an info line")
    log.error("an error line")
    info = (tmp_path / "server.log").read_text()
    err = (tmp_path / "server.err.log").read_text()
    assert "INFO quantdesk.test" in info and "an error line" in info
    assert "an info line" not in err and "ERROR quantdesk.test" in err
    for i in range(40):
        log.info("filler %d %s", i, "x" * 40)
    logs.rotate()
    assert (tmp_path / "server.log.1").is_file()
    assert not (tmp_path / "server.log.3").exists()  # two backups kept


def test_json_lines(tmp_path: Path) -> None:
    logs.configure(tmp_path, json_lines=True)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("quantdesk.test").exception("failed")
    line = json.loads((tmp_path / "server.err.log").read_text().splitlines()[-1])
    assert line["level"] == "ERROR" and line["message"] == "failed" and "boom" in line["exc"]
    assert {"ts", "logger", "pid"} <= set(line)
    logs.rotate()  # not the rotating process: nothing happens
    assert not (tmp_path / "server.log.1").exists()
