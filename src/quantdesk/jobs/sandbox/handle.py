"""The caller's side of one sandboxed run: its three pipes, a capped log, and a kill switch.

The sandboxed code writes its output to the log pipe and JSON lines to the events pipe; both
are untrusted (size-capped, validated by the reader). Only the monitor, which runs our code
as root outside the sandbox, writes the outcome pipe.
"""

from __future__ import annotations

import contextlib
import json
import logging
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

log = logging.getLogger(__name__)

#: Bytes of log kept for the live stream between two sends (about every 0.25 s).
LIVE_LOG_BYTES = 256 * 1024
#: Longest events line kept (longer ones are dropped whole).
MAX_EVENT_LINE = 1024 * 1024
_READ = 65536


class CappedLog:
    """Appends to a file until ``cap`` bytes were written by this run.

    Then it writes one marker line and drops the rest (counting it).
    """

    def __init__(self, path: Path, cap: int, setting: str = "BACKTEST_LOG_MB") -> None:
        self._fh = open_append(path)
        self._cap = cap
        self._setting = setting
        self.written = 0
        self.dropped = 0
        #: Whether the marker line was written (the first time a byte was dropped).
        self.truncated = False

    def write(self, data: bytes) -> None:
        """Append what fits under the cap (flushed); count the rest in ``dropped``.

        The first write that has to drop a byte also appends the truncation marker line
        (after the ``cap`` bytes kept; ``written`` counts the output only), whether the cap
        was reached in that write or exactly at the end of an earlier one.
        """
        room = max(self._cap - self.written, 0)
        kept, data = data[:room], data[room:]
        out = [kept] if kept else []
        if data and not self.truncated:
            self.truncated = True
            out.append(
                f"\n[log truncated at {self._cap // (1024 * 1024)} MB ({self._setting}); "
                "further output is discarded, the job goes on]\n".encode()
            )
        if out:
            self._fh.write(b"".join(out))
            self._fh.flush()
        self.written += len(kept)
        self.dropped += len(data)

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


class LiveLog(CappedLog):
    """The job's ``run.log`` that also keeps what it wrote since the last ``take_lines``.

    At most ``LIVE_LOG_BYTES`` wait between two takes (the rest is only in the file).
    """

    def __init__(self, path: Path, cap: int) -> None:
        super().__init__(path, cap)
        self._live = bytearray()
        self.live_dropped = 0

    def write(self, data: bytes) -> None:
        """Append to the file (capped) and keep a copy for the live stream."""
        before = self.written
        super().write(data)
        kept = data[: self.written - before]
        room = LIVE_LOG_BYTES - len(self._live)
        self._live += kept[:room]
        self.live_dropped += max(0, len(kept) - room)

    def take_lines(self) -> list[str]:
        """The complete lines written since the last call (a partial last line waits)."""
        cut = self._live.rfind(b"\n")
        if cut < 0:
            return []
        text = bytes(self._live[:cut]).decode("utf-8", errors="replace")
        del self._live[: cut + 1]
        return text.split("\n")


class Pipes:
    """The three pipes of a run (log, events, outcome).

    The write ends go to the sandbox, the read ends become a ``SandboxRun``. Use as
    ``try: ... except: close_readers() finally: close_writers()``.
    """

    def __init__(self) -> None:
        self._pairs = [os.pipe() for _ in range(3)]

    @property
    def writers(self) -> list[int]:
        """The write ends' descriptors, in order log, events, outcome."""
        return [w for _, w in self._pairs]

    def close_writers(self) -> None:
        """Close this process's copies of the write ends (errors ignored)."""
        for _, w in self._pairs:
            with contextlib.suppress(OSError):
                os.close(w)

    def close_readers(self) -> None:
        """Close the read ends (errors ignored): when no ``SandboxRun`` will own them."""
        for r, _ in self._pairs:
            with contextlib.suppress(OSError):
                os.close(r)

    def run(
        self,
        monitor_pid: int,
        log: CappedLog | None,
        on_event: Callable[[dict[str, Any]], None] | None,
        process: subprocess.Popen[bytes] | None = None,
    ) -> SandboxRun:
        """The started run reading these pipes (which it then owns)."""
        (log_fd, _), (events_fd, _), (outcome_fd, _) = self._pairs
        return SandboxRun(monitor_pid, log_fd, events_fd, outcome_fd, log, on_event, process)


class SandboxRun:
    """A started run: pump its pipes with ``wait``, stop it with ``kill``.

    Args:
        monitor_pid: The monitor's pid (our process, outside the sandbox).
        log_fd, events_fd, outcome_fd: Read ends of the three pipes (owned by this object).
        log: Where log bytes go (``None``: kept in ``output``, up to 1 MiB).
        on_event: Called with each valid JSON object from the events pipe.
        process: The one-shot launcher when it started the run (the monitor's parent, our
            child), reaped at the end.
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
        # A pidfd, not the number: a signal can never reach a process that reused the pid.
        self._pidfd: int | None = None
        if process is None:
            with contextlib.suppress(OSError):
                self._pidfd = os.pidfd_open(monitor_pid)
        self._buffers: dict[int, bytearray] = {events_fd: bytearray(), outcome_fd: bytearray()}
        self._open = {log_fd: "log", events_fd: "events", outcome_fd: "outcome"}

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
        self._drain_events()
        self._finish()
        return True

    def _drain_events(self) -> None:
        """Read what the events pipe still holds once the run is over.

        Its last lines, such as the error report, may sit behind more than one read's worth.
        Does not wait for an end of file that a process left behind by an unconfined run could
        withhold.
        """
        for fd, kind in list(self._open.items()):
            if kind != "events":
                continue
            os.set_blocking(fd, False)
            while fd in self._open and self._read(fd):
                pass

    def _read(self, fd: int) -> bool:
        """Move one read's worth from ``fd``; False when there was nothing to read."""
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return False
        kind = self._open[fd]
        if not data:
            os.close(fd)
            del self._open[fd]
            if kind == "outcome" and self.outcome is None:
                self.outcome = Outcome(error="the sandbox monitor ended without reporting")
            return True
        if kind == "log":
            if self._log is not None:
                self._log.write(data)
            elif len(self.output) < 1024 * 1024:
                self.output += data[: 1024 * 1024 - len(self.output)]
            return True
        buffer = self._buffers[fd]
        buffer += data
        if b"\n" not in data:
            if len(buffer) > MAX_EVENT_LINE:
                buffer.clear()  # an overlong line is dropped whole
            return True
        *lines, rest = bytes(buffer).split(b"\n")  # one split per read: linear in the input
        buffer[:] = rest if len(rest) <= MAX_EVENT_LINE else b""
        for line in lines:
            if len(line) <= MAX_EVENT_LINE:
                self._line(kind, line)
        return True

    def _line(self, kind: str, line: bytes) -> None:
        try:  # untrusted on the events pipe: anything may come (deep nesting, huge numbers...)
            message = json.loads(line)
        except (ValueError, RecursionError):
            return
        if not isinstance(message, dict):
            return
        if kind == "events":
            if self._on_event is not None:
                try:
                    self._on_event(message)
                except Exception:  # a malformed event is the job's problem, not the worker's
                    log.warning("ignored a malformed event from a sandbox", exc_info=True)
            return
        event = message.get("event")
        if event == "started" and self.init_pid is None and isinstance(message.get("pid"), int):
            self.init_pid = message["pid"]
            if isinstance(message.get("cgroup"), str):
                self.cgroup = message["cgroup"]
        elif event == "exited" and self.outcome is None:
            try:
                self.outcome = Outcome.from_dict(message)
            except (TypeError, ValueError):
                self.outcome = Outcome(error="the sandbox monitor sent a malformed outcome")
        elif event == "error" and self.outcome is None:
            self.outcome = Outcome(error=str(message.get("message", "sandbox error"))[:4000])

    def _finish(self) -> None:
        for fd in list(self._open):
            os.close(fd)
        self._open.clear()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        if self._process is not None:
            self._process.wait()

    def _signal(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, number)
            elif self._process is not None and self._process.poll() is None:
                self._process.send_signal(number)

    def kill(self, grace: float = 2.0) -> None:
        """Stop the run: SIGTERM to its monitor, SIGKILL if it has not ended within ``grace`` s.

        On SIGTERM the monitor kills everything in the sandbox and removes the control group;
        after a SIGKILL the processes below it die by their parent-death signals.
        """
        if not self.done:
            self._signal(signal.SIGTERM)
            if not self.wait(grace):
                self._signal(signal.SIGKILL)
                self.wait(grace)
        self._finish()

    def close(self) -> None:
        """Release the pipes (after ``wait`` returned True or ``kill``)."""
        self._finish()
