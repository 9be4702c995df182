"""Users' notebook servers: JupyterLab in the job sandbox, on a Unix socket.

One server per research session. It runs the ``jupyter`` sandbox target under the user's own
uid (``RESEARCH_SANDBOX_UIDS``), with the user's notebook folder bound read-write at ``/job``
(its only writable place besides ``/tmp``), the runtime and the catalog read-only, the user's
finished jobs (``load_job``) read-only, no network (kernels talk ZMQ over ``ipc``), and the
research memory/process limits. The server listens on ``<folder>/.quantdesk/jupyter.sock``
only; the platform's proxy (``api/jupyter_proxy.py``) is its one client and adds the token,
which is derived from the session id and the platform's secret (``session_token``), so no
process needs to store it and it never reaches a browser.

Checked on this kind of machine: ``../shared/research/jupyter.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from quantdesk.core.errors import ConfigurationError, InternalError
from quantdesk.core.settings import Settings
from quantdesk.jobs.sandbox import CappedLog, Sandbox, SandboxRun

log = logging.getLogger(__name__)

#: The server's folder inside a user's notebook folder (socket, runtime files).
SERVER_DIR = ".quantdesk"
SOCKET_NAME = "jupyter.sock"
#: Seconds a server may take to answer its first request.
START_TIMEOUT = 90.0
#: Longest Unix socket path the kernel accepts (``sun_path``), minus the terminating NUL.
MAX_SOCKET_PATH = 107
_LOG_BYTES = 4 * 1024 * 1024


def session_token(secret: str, session_id: str) -> str:
    """The Jupyter token of ``session_id``: HMAC-SHA256 of it under the platform's secret."""
    return hmac.new(secret.encode(), f"jupyter:{session_id}".encode(), hashlib.sha256).hexdigest()


@dataclass
class NotebookServer:
    """A started server: where it listens, its launcher's pid, its pipes and their pump."""

    session_id: str
    socket_path: Path
    pid: int
    run: SandboxRun
    pump: threading.Thread | None = None
    log: CappedLog | None = None


class NotebookServers:
    """Starts and stops this process's notebook servers (their pipes pumped by a thread).

    Args:
        settings: Paths, limits, uid range, secret (``secret``).
        sandbox: The deployment's sandbox (its self-test decides the layers).
        secret: The platform's signing secret (tokens are derived from it).
    """

    def __init__(self, settings: Settings, sandbox: Sandbox, secret: str) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self._secret = secret
        self._servers: dict[str, NotebookServer] = {}
        self._lock = threading.Lock()
        # The launcher dies with the *thread* that started it (PR_SET_PDEATHSIG is per thread):
        # start them from one thread that lives as long as this process, never from a pool
        # thread that may be retired while the notebook runs.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="notebook-spawner")
        self.log_dir = (settings.backtest_base_dir.parent / "research" / "logs").resolve()

    def uid_for(self, user_id: int) -> int:
        """The uid user ``user_id``'s notebooks run as.

        Raises:
            ConfigurationError: the user id is beyond ``RESEARCH_SANDBOX_UIDS``.
        """
        uids = self.settings.research_uids
        if not 0 <= user_id < len(uids):
            raise ConfigurationError(
                f"user {user_id} has no notebook uid in RESEARCH_SANDBOX_UIDS="
                f"{self.settings.research_sandbox_uids}"
            )
        return uids[user_id]

    def start(
        self, *, session_id: str, user_id: int, notebook_dir: Path, jobs_dir: Path, base_url: str
    ) -> NotebookServer:
        """Start the server of ``session_id`` and wait until it answers.

        Raises:
            ConfigurationError: no sandbox / uid for the user, or a socket path too long.
            InternalError: the server did not come up (its log's tail in the message).
        """
        uid = self.uid_for(user_id)
        detection = self.sandbox.detection or self.sandbox.detect()
        if not detection.runnable:
            raise ConfigurationError(
                "notebooks run user code and need the sandbox; missing: "
                + ", ".join(detection.missing)
            )
        notebook_dir = notebook_dir.resolve()
        server_dir = notebook_dir / SERVER_DIR
        socket_path = server_dir / SOCKET_NAME
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            raise ConfigurationError(
                f"the notebook socket path {socket_path} is longer than {MAX_SOCKET_PATH} bytes; "
                "set a shorter RESEARCH_NOTEBOOK_ROOT_DIR"
            )
        _own(notebook_dir, uid)
        server_dir.mkdir(mode=0o700, exist_ok=True)
        _own(server_dir, uid)
        _lab_settings(server_dir, uid)
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        inside_dir = "/job" if self.sandbox.isolates_files else str(notebook_dir)
        env = {
            "HOME": inside_dir,
            "JUPYTER_TOKEN": session_token(self._secret, session_id),
            "JUPYTER_RUNTIME_DIR": f"{inside_dir}/{SERVER_DIR}/runtime",
            "JUPYTER_CONFIG_DIR": f"{inside_dir}/{SERVER_DIR}/config",
            "IPYTHONDIR": f"{inside_dir}/{SERVER_DIR}/ipython",
            "DATA_DIR": str(self.settings.data_dir.resolve()),
            "QUANTDESK_JOBS_DIR": str(jobs_dir.resolve()),
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "LANG": "C.UTF-8",
        }
        policy = self.sandbox.research_policy(
            uid, notebook_dir=notebook_dir, extra_read_only=(str(jobs_dir.resolve()),), env=env
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        capped = CappedLog(self.log_dir / f"{session_id}.log", _LOG_BYTES, "research log")
        args = {"socket": f"{inside_dir}/{SERVER_DIR}/{SOCKET_NAME}", "base_url": base_url}
        try:
            run = self._spawner.submit(
                self.sandbox.starter.spawn, policy, "jupyter", args, log=capped
            ).result()
        except (OSError, RuntimeError) as exc:
            capped.close()
            raise InternalError(f"the notebook sandbox could not start: {exc}") from exc
        server = NotebookServer(session_id, socket_path, run.monitor_pid, run, log=capped)
        server.pump = threading.Thread(target=self._pump, args=(server,), daemon=True,
                                       name=f"notebook-{session_id}")  # fmt: skip
        with self._lock:
            self._servers[session_id] = server
        server.pump.start()
        if not _answers(socket_path, server, START_TIMEOUT):
            self.stop(session_id, server.pid)
            tail = _tail(self.log_dir / f"{session_id}.log")
            raise InternalError(f"the notebook server did not start: {tail}")
        return server

    def _pump(self, server: NotebookServer) -> None:
        """Drain the server's pipes until it ends (its log would otherwise fill and block)."""
        while not server.run.wait(1.0):
            pass
        if server.log is not None:
            server.log.close()
        with self._lock:
            self._servers.pop(server.session_id, None)
        log.info("notebook server of %s ended: %s", server.session_id, server.run.outcome)

    def stop(self, session_id: str, pid: int | None) -> None:
        """Stop a session's server (ours, or another API process's on this host, by pid).

        SIGTERM to its launcher: the monitor kills everything in the sandbox; SIGKILL after
        2 s (the rest then dies by parent-death signals).
        """
        with self._lock:
            server = self._servers.get(session_id)
        pid = server.pid if server is not None else pid
        if pid is None or not is_launcher(pid):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
        if server is not None and server.pump is not None:
            server.pump.join(2.0)  # the pump reaps the launcher when the run ends
        else:
            for _ in range(40):
                if not is_launcher(pid):
                    return
                time.sleep(0.05)
        if is_launcher(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            if server is not None and server.pump is not None:
                server.pump.join(2.0)

    def stop_all(self) -> None:
        """Stop every server this process started (shutdown)."""
        with self._lock:
            servers = list(self._servers.values())
        for server in servers:
            self.stop(server.session_id, server.pid)

    def running(self, session_id: str) -> bool:
        """True while this process's server of ``session_id`` runs."""
        with self._lock:
            server = self._servers.get(session_id)
        return server is not None and not server.run.done


def is_launcher(pid: int) -> bool:
    """True when ``pid`` is a live sandbox launcher (not a process that reused the number)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"quantdesk.jobs.sandbox.launch" in cmdline


def _own(path: Path, uid: int) -> None:
    """Make ``path`` the notebook uid's (when we may): the sandboxed server writes in it."""
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.chown(path, uid, uid)
            path.chmod(0o700)


def give_to(path: Path, top: Path, uid: int) -> None:
    """Make ``path`` and its folders up to (not including) ``top`` the notebook uid's."""
    current = path
    while current != top and top in current.parents:
        _own(current, uid)
        current = current.parent


#: JupyterLab user settings a new server starts with (the servers have no network: no news).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}  # fmt: skip


def _lab_settings(server_dir: Path, uid: int) -> None:
    """Write ``LAB_SETTINGS`` under the server's config folder (once; the user may change them)."""
    root = server_dir / "config" / "lab" / "user-settings"
    for relative, values in LAB_SETTINGS.items():
        path = root / relative
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
        give_to(path, server_dir, uid)


def _answers(socket_path: Path, server: NotebookServer, timeout: float) -> bool:
    """Wait until the server accepts a connection on ``socket_path`` (False: gave up or died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.pump is not None and not server.pump.is_alive():
            return False
        if socket_path.exists():
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(1.0)
                probe.connect(str(socket_path))
                return True
        time.sleep(0.1)
    return False


def _tail(path: Path, lines: int = 8) -> str:
    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "no output"
    return "no output"
