"""The local worker pool ``quantdesk serve`` starts: N worker processes, restarted if they die."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from quantdesk.core.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as environment variables (so workers see exactly the server's settings)."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[name.upper()] = str(value)
    return env


class LocalWorkerPool:
    """Starts ``count`` ``python -m quantdesk.jobs.worker`` processes and keeps them alive."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._env = settings_env(settings)
        self._count = count
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="worker-pool", daemon=True)

    def start(self) -> None:
        """Start the workers and the monitor that restarts dead ones."""
        for i in range(self._count):
            self._spawn(i)
        self._monitor.start()

    def _spawn(self, index: int) -> None:
        self._procs[index] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "quantdesk.jobs.worker",
                "--id",
                f"local-{index}-{os.getpid()}",
                "--exit-with-parent",
            ],
            env=self._env,
            stdin=subprocess.DEVNULL,
        )

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for index, proc in list(self._procs.items()):
                if proc.poll() is not None and not self._stop.is_set():
                    self._spawn(index)

    @property
    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [p.pid for p in self._procs.values()]

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every worker to stop (SIGTERM), then kill those still running after ``timeout``."""
        self._stop.set()
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs.values():
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
