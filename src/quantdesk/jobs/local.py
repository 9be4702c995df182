"""Process supervision for ``quantdesk serve``: the API process and N workers.

Each is restarted with back-off when it dies.

``Supervisor`` keeps a set of ``ProcessSpec`` running. A process that exits (or is killed)
is started again after a delay that doubles from ``BACKOFF_START`` up to ``BACKOFF_MAX``
seconds while it keeps dying quickly, and resets once it has run for ``STABLE_SECONDS``; each
restart is logged, and a worker's death is recorded as a ``worker.crashed`` platform event
(by a short-lived thread: a slow database never delays a restart). ``stop`` sends SIGTERM to
all, then SIGKILL to those still running.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from quantdesk.core.events import EventKind, EventRecorder
from quantdesk.core.settings import Settings
from quantdesk.jobs.worker import worker_id

log = logging.getLogger("quantdesk.supervisor")

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
STABLE_SECONDS = 30.0
#: Settings a worker never needs: not in its environment. The JWT keys (the current one and
#: the previous one, whose tokens are still accepted: either forges a login), the admin's
#: password and the external Jupyter's token (notebooks are started by the API process).
WORKER_SECRETS = frozenset({
    "SECRET_KEY", "SECRET_KEY_PREVIOUS", "LOCAL_AUTH_PASSWORD", "LOCAL_AUTH_PASSWORD_HASH",
    "RESEARCH_NOTEBOOK_API_TOKEN",
})  # fmt: skip


def settings_env(settings: Settings, *, secrets: bool = True) -> dict[str, str]:
    """``settings`` as environment variables over ``os.environ``.

    Children then see exactly the server's settings. ``secrets=False`` leaves out
    ``WORKER_SECRETS``.
    """
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[name.upper()] = str(value)
    if not secrets:
        for name in WORKER_SECRETS:
            env.pop(name, None)
    return env


@dataclass
class ProcessSpec:
    """One supervised process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = BACKOFF_START
    next_start: float = 0.0
    restarts: int = 0
    exits: list[int] = field(default_factory=list)
    #: The worker slot (``None``: not a worker).
    slot: int | None = None
    #: The running worker's id (``worker.worker_id``, taken when it was started: its pid and
    #: start time), the subject of its crash report.
    worker: str | None = None


def worker_spec(settings: Settings, slot: int) -> ProcessSpec:
    """Worker ``slot``: ``python -m quantdesk.jobs.worker --slot N --exit-with-parent``."""
    argv = [sys.executable, "-m", "quantdesk.jobs.worker", "--slot", str(slot),
            "--exit-with-parent"]  # fmt: skip
    return ProcessSpec(f"worker-{slot}", argv, settings_env(settings, secrets=False), slot=slot)


class Supervisor:
    """Keeps ``specs`` running until ``stop``.

    Args:
        specs: The processes to keep running.
        record_event: Records a worker's death (``worker.crashed``, subject its worker id);
            ``None``: only logged.
    """

    def __init__(
        self, specs: list[ProcessSpec], *, record_event: EventRecorder | None = None
    ) -> None:
        self.specs = specs
        self._record_event = record_event
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._monitor = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._reporters: list[threading.Thread] = []

    def start(self) -> None:
        """Start every process and the monitor that restarts dead ones."""
        for spec in self.specs:
            self._spawn(spec)
        self._monitor.start()

    def _spawn(self, spec: ProcessSpec) -> None:
        spec.proc = subprocess.Popen(
            spec.argv, env=spec.env, stdin=subprocess.DEVNULL, pass_fds=spec.pass_fds
        )
        spec.started = time.monotonic()
        if spec.slot is not None:  # (read now: once it has exited its start time is gone)
            spec.worker = worker_id(spec.slot, spec.proc.pid)

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                for spec in self.specs:
                    self._check(spec)

    def _check(self, spec: ProcessSpec) -> None:
        now = time.monotonic()
        if spec.proc is not None and spec.proc.poll() is not None:
            code = spec.proc.returncode
            spec.exits.append(code)
            ran = now - spec.started
            spec.backoff = BACKOFF_START if ran >= STABLE_SECONDS else spec.backoff
            spec.next_start = now + spec.backoff
            log.warning(
                "%s (pid %d) exited with %s after %.1fs; restarting in %.1fs",
                spec.name, spec.proc.pid, _describe(code), ran, spec.backoff,
            )  # fmt: skip
            if spec.slot is not None and not self._stop.is_set():
                self._report(spec.worker or worker_id(spec.slot, spec.proc.pid), {
                    "slot": spec.slot, "pid": spec.proc.pid, "exit": _describe(code),
                    "returncode": code, "ran_seconds": round(ran, 1),
                    "restart_in_seconds": spec.backoff,
                })  # fmt: skip
            spec.backoff = min(spec.backoff * 2, BACKOFF_MAX)
            spec.proc = None
        if spec.proc is None and now >= spec.next_start and not self._stop.is_set():
            self._spawn(spec)
            spec.restarts += 1
            pid = spec.proc.pid if spec.proc is not None else -1
            log.info("%s restarted (pid %d, restart %d)", spec.name, pid, spec.restarts)

    def _report(self, worker: str, data: dict[str, Any]) -> None:
        """Record ``worker.crashed`` off the monitor thread (it never waits for a database)."""
        if self._record_event is None:
            return
        record = self._record_event

        def run() -> None:
            try:
                record(EventKind.WORKER_CRASHED, worker, data)
            except Exception:  # a database that is down must not stop the supervision
                log.exception("could not record the crash of worker %s", worker)

        reporter = threading.Thread(target=run, name="supervisor-event", daemon=True)
        self._reporters = [t for t in self._reporters if t.is_alive()]
        self._reporters.append(reporter)
        reporter.start()

    def pids(self, prefix: str = "") -> list[int]:
        """Pids of the running processes whose name starts with ``prefix``."""
        return [
            s.proc.pid for s in self.specs
            if s.proc is not None and s.proc.poll() is None and s.name.startswith(prefix)
        ]  # fmt: skip

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every process, then SIGKILL those still running after ``timeout``."""
        self._stop.set()
        with self._lock:
            procs = [s.proc for s in self.specs if s.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for reporter in self._reporters:  # crashes seen before the stop are still recorded
            reporter.join(max(0.1, deadline - time.monotonic()))


def _describe(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"status {code}"
