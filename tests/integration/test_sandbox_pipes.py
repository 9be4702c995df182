"""The caller's side of a sandboxed run (``jobs/sandbox/handle.py``) on real pipes."""

from __future__ import annotations

import fcntl
import json
import os
from typing import Any

from quantdesk.jobs.sandbox.handle import Pipes


def test_every_event_is_delivered_when_the_outcome_comes_behind_many() -> None:
    """Regression: the run ended once the outcome and the log were in, leaving whatever the
    events pipe held beyond one read (64 KiB): a job's last line, its error report, was lost
    and the job failed INTERNAL_ERROR instead of with its own code."""
    pipes = Pipes()
    log_w, events_w, outcome_w = pipes.writers
    seen: list[dict[str, Any]] = []
    run = pipes.run(os.getpid(), None, seen.append)
    lines = [json.dumps({"progress": i, "pad": "x" * 100}) + "\n" for i in range(2000)]
    lines.append(json.dumps({"error": {"code": "STRATEGY_ERROR", "message": "boom"}}) + "\n")

    fcntl.fcntl(events_w, fcntl.F_SETPIPE_SZ, 1 << 20)  # all of it waits in the pipe
    os.write(log_w, b"done\n")
    os.write(events_w, "".join(lines).encode())
    os.write(outcome_w, (json.dumps({"event": "exited", "exit_code": 1}) + "\n").encode())
    pipes.close_writers()
    try:
        assert run.wait(5)
    finally:
        run.close()
    assert run.outcome is not None and run.outcome.exit_code == 1
    assert len(seen) == len(lines) and seen[-1]["error"]["code"] == "STRATEGY_ERROR"
    assert bytes(run.output) == b"done\n"
