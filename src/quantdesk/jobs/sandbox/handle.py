"""The caller's side of one sandboxed run: its three pipes, a capped log, and a kill switch.

The sandboxed code writes its output to the log pipe and JSON lines to the events pipe; both
are untrusted (size-capped, validated by the reader). Only the monitor, which runs our code
as root outside the sandbox, writes the outcome pipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quantdesk.jobs.artifacts import open_append
from quantdesk.jobs.sandbox.policy import Outcome

#: Longest events line kept (longer ones are dropped whole).
MAX_EVENT_LINE = 1024 * 1024
_READ = 65536


class CappedLog:
    """Appends to a file until ``cap`` bytes were written by this run, then writes one marker
    line and drops the rest (counting it)."""

    def __init__(self, path: Path, cap: int, setting: str = "BACKTEST_LOG_MB") -> None:
        self._fh = open_append(path)
        self._cap = cap
        self._setting = setting
        self.written = 0
        self.dropped = 0

    def write(self, data: bytes) -> None:
        room = self._cap - self.written
        if room > 0:
            chunk = data[:room]
            self._fh.write(chunk)
            self._fh.flush()
            self.written += len(chunk)
            data = data[room:]
            if data:
                self._fh.write(
                    f"\n[log truncated at {self._cap // (1024 * 1024)} MB ({self._setting}); "
                    "further output is discarded, the job goes on]\n".encode()
                )
                self._fh.flush()
        self.dropped += len(data)

    def close(self) -> None:
        self._fh.close()


class SandboxRun:
    """A started run: pump its pipes with ``wait``, stop it with ``kill``.

    Args:
        monitor_pid: The monitor's pid (our process, outside the sandbox).
        log_fd, events_fd, outcome_fd: Read ends of the three pipes (owned by this object).
        log: Where log bytes go (``None``: kept in ``output``, up to 1 MiB).
        on_event: Called with each valid JSON object from the events pipe.
        process: The monitor when it is our child (the one-shot launcher), reaped at the end.
    """

    def __init__(
        self,
        monitor_pid: int,
        log_fd: int,
        events_fd: int,
        outcome_fd: int,
        log: CappedLog | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.monitor_pid = monitor_pid
        self.init_pid: int | None = None
        self.cgroup: str | None = None
        self.outcome: Outcome | None = None
        self.output = bytearray()
        self._log = log
        self._on_event = on_event
        self._process = process
        self._buffers: dict[int, bytearray] = {events_fd: bytearray(), outcome_fd: bytearray()}
        self._open = {log_fd: "log", events_fd: "events", outcome_fd: "outcome"}
        self.started = time.monotonic()

    @property
    def done(self) -> bool:
        """True once the monitor reported (or vanished) and the log pipe is drained."""
        return "outcome" not in self._open.values() and "log" not in self._open.values()

    def wait(self, timeout: float) -> bool:
        """Move whatever arrives within ``timeout`` seconds; True when the run is over."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while not self.done:
            left = deadline - time.monotonic()
            if left < 0:
                return False
            ready, _, _ = select.select(list(self._open), [], [], left)
            for fd in ready:
                self._read(fd)
            if not ready:
                return self.done
        self._finish()
        return True

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return
        kind = self._open[fd]
        if not data:
            os.close(fd)
            del self._open[fd]
            if kind == "outcome" and self.outcome is None:
                self.outcome = Outcome(error="the sandbox monitor ended without reporting")
            return
        if kind == "log":
            if self._log is not None:
                self._log.write(data)
            elif len(self.output) < 1024 * 1024:
                self.output += data[: 1024 * 1024 - len(self.output)]
            return
        buffer = self._buffers[fd]
        buffer += data
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            self._line(kind, line)
        if len(buffer) > MAX_EVENT_LINE:
            buffer.clear()

    def _line(self, kind: str, line: bytes) -> None:
        if len(line) > MAX_EVENT_LINE:
            return
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if kind == "events":
            if self._on_event is not None:
                self._on_event(message)
            return
        event = message.get("event")
        if event == "started" and isinstance(message.get("pid"), int):
            self.init_pid = message["pid"]
            if isinstance(message.get("cgroup"), str):
                self.cgroup = message["cgroup"]
        elif event == "exited":
            self.outcome = Outcome.from_dict(message)
        elif event == "error":
            self.outcome = Outcome(error=str(message.get("message", "sandbox error")))

    def _finish(self) -> None:
        for fd in list(self._open):
            os.close(fd)
        self._open.clear()
        if self._process is not None:
            self._process.wait()

    def kill(self, grace: float = 2.0) -> None:
        """Kill the sandbox's init (the kernel then kills everything in it); the monitor
        reports and removes the control group. Falls back to killing the monitor."""
        target = self.init_pid or self.monitor_pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)
        if not self.wait(grace):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.monitor_pid, signal.SIGKILL)
            self.wait(grace)
        self._finish()

    def close(self) -> None:
        """Release the pipes (after ``wait`` returned True or ``kill``)."""
        self._finish()
