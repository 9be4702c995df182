"""A fork server per worker: a template process with the engine stack imported once.

It is forked per job so a job starts in milliseconds instead of paying an interpreter start-up.

The template is ``python -I -m quantdesk.jobs.forkserver FD``, started by ``ForkServer`` with
an empty environment and only its end of a ``SOCK_SEQPACKET`` socket pair open: it holds no
database connection, no secret and no other socket. It sets the thread pools to one thread
(``THREAD_ENV``) before anything imports numpy, pandas or pyarrow (this module imports none of
them at its top: the sandbox modules it uses pull them in, so they are imported in the
functions that need them), imports numpy, pandas, pyarrow, exchange_calendars and the
engines, answers ``ready``, then serves requests (one JSON object per message, file
descriptors attached)::

    {"op": "spawn", "target": "job", "args": {...}, "policy": {...}}  + [log, events, outcome]
        -> {"pid": <monitor pid>}   (a sandbox prepared by ``sandbox.enter.prepare`` takes the
                                     job; the next one is prepared while it runs)
    {"op": "warm", "data_dir": "..."}   -> {"ok": true}   (load the catalog's calendars once)

It never runs user code itself, dies with its worker (``PR_SET_PDEATHSIG``) and exits when the
worker closes the socket. The worker restarts it if it dies. Its life is reported through the
worker's ``EventRecorder`` (``forkserver.started``, ``.stopped``, ``.crashed``): the template
process holds no database connection, and neither does this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from quantdesk.core.events import EventKind, EventRecorder

if TYPE_CHECKING:  # (imported where used: each of them imports numpy, pandas and pyarrow)
    from quantdesk.jobs.sandbox.enter import Prepared
    from quantdesk.jobs.sandbox.handle import CappedLog, SandboxRun
    from quantdesk.jobs.sandbox.policy import SandboxPolicy

log = logging.getLogger(__name__)

#: Thread pools pinned before numpy/pyarrow are imported (a job gets one core's worth): set
#: by ``main`` first thing, since numpy's OpenBLAS and pyarrow size their pools when loaded.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1", "ARROW_NUM_THREADS": "1",
}  # fmt: skip
PRELOAD = (
    "numpy", "pandas", "pyarrow", "pyarrow.parquet", "exchange_calendars", "yaml",
    "quantdesk.jobs.child", "quantdesk.jobs.compile_check", "quantdesk.jobs.sandbox.enter",
    "quantdesk.jobs.sandbox.probe", "quantdesk.backtest.engines.rqalpha",
    "quantdesk.backtest.engines.backtrader", "backtrader",
)  # fmt: skip
_MAX_MESSAGE = 1 << 20


def _preload() -> None:
    os.environ.update(THREAD_ENV)  # (already done by ``main``; kept for direct callers)
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with contextlib.suppress(ImportError, AttributeError):
        import pyarrow

        pyarrow.set_cpu_count(1)
        pyarrow.set_io_thread_count(1)
    _freeze()


def _freeze() -> None:
    """Move every object so far out of the garbage collector's sight.

    A collection in a forked child would otherwise write to each of them and copy the
    template's pages (copy on write), which is most of a job's start-up.
    """
    import gc

    gc.collect()
    gc.freeze()


class _Spare:
    """The next job's sandbox, prepared while the last one runs (at most one)."""

    def __init__(self) -> None:
        self.prepared: Prepared | None = None

    def take(self, policy: SandboxPolicy) -> Prepared:
        """The prepared sandbox for ``policy`` (prepared now if none fits)."""
        from quantdesk.jobs.sandbox.enter import prepare

        spare, self.prepared = self.prepared, None
        if spare is None or spare.key != policy.template_key():
            if spare is not None:
                spare.discard()
            spare = prepare(policy)
        return spare

    def refill(self, template: SandboxPolicy) -> None:
        """Prepare the next job's sandbox for ``template``."""
        from quantdesk.jobs.sandbox.enter import prepare

        self.prepared = prepare(template)

    def drop(self) -> None:
        """Discard the spare and wait until it removed its control group."""
        if self.prepared is not None:
            self.prepared.discard()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.prepared.pid, 0)
            self.prepared = None


def _serve(sock: socket.socket) -> None:
    spare = _Spare()
    try:
        while True:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass  # reap finished monitors
            ready, _, _ = select.select([sock], [], [], 1.0)
            if not ready:
                continue
            try:
                template = _handle(sock, spare)
            except EOFError:
                return  # the worker closed its end
            if template is not None:
                # Forked here, where no frame holds the job just handled: the next job's
                # sandbox inherits nothing of it (its request, folder, environment).
                spare.refill(template)
    finally:
        spare.drop()


def _handle(sock: socket.socket, spare: _Spare) -> SandboxPolicy | None:
    """Answer one request; for a spawn, the policy template of the next spare.

    Raises:
        EOFError: the worker closed the socket.
    """
    from quantdesk.jobs.sandbox.policy import SandboxPolicy
    from quantdesk.jobs.sandbox.targets import TARGETS

    try:
        message, fds, _flags, _addr = socket.recv_fds(sock, _MAX_MESSAGE, 8)
    except OSError:
        raise EOFError from None
    if not message:
        raise EOFError
    request = json.loads(message)
    if request.get("op") == "warm":
        _warm(request)
        _freeze()
        sock.send(json.dumps({"ok": True}).encode())
        return None
    try:
        policy = SandboxPolicy.from_dict(request["policy"])
        if request["target"] not in TARGETS or len(fds) != 3:
            raise ValueError(f"unknown target {request['target']!r} or missing pipes")
    except (KeyError, TypeError, ValueError) as exc:
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"error": f"bad request: {exc!r}"}).encode())
        return None
    prepared = spare.take(policy)
    prepared.activate(request, fds)
    for fd in fds:
        os.close(fd)
    sock.send(json.dumps({"pid": prepared.pid}).encode())
    return dataclasses.replace(policy, inputs=(), env={},
                               work_dir=None if policy.work_dir is None else "")  # fmt: skip


def _warm(request: dict[str, Any]) -> None:
    """Load what every job of this catalog reads first, so forks inherit it."""
    with contextlib.suppress(Exception):
        from quantdesk.jobs.child import warm

        warm(str(request.get("data_dir", "")))


def main() -> None:
    """The template process (``python -I -m quantdesk.jobs.forkserver FD``).

    Pins the thread pools (``THREAD_ENV``) before anything imports numpy, pandas or pyarrow:
    importing any ``quantdesk.jobs.sandbox`` module does.
    """
    os.environ.update(THREAD_ENV)
    from quantdesk.jobs.sandbox.linux import PR_SET_PDEATHSIG, prctl

    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    sock = socket.socket(fileno=int(sys.argv[1]))
    _preload()
    sock.send(json.dumps({"ready": True, "pid": os.getpid()}).encode())
    try:
        _serve(sock)
    finally:
        sock.close()


class ForkServerError(RuntimeError):
    """The template could not be started or did not answer."""


class ForkServer:
    """The worker's handle on its template process (started lazily, restarted when dead).

    A template that exits on its own is a crash: seen by ``check`` (the worker calls it while
    idle), or by the next ``spawn``, which starts a new one.

    Args:
        name: For log messages.
        start_timeout: Seconds the template may take to import the stack.
        record_event: Reports its starts, stops and crashes (``forkserver.*`` events about
            ``subject``); ``None``: only logged.
        subject: The subject of those events (the worker's id); default ``name``.
    """

    def __init__(
        self, name: str = "forkserver", start_timeout: float = 120.0, *,
        record_event: EventRecorder | None = None, subject: str | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self._timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self.starts = 0
        self.crashes = 0
        self._warm: dict[str, str] = {}
        self._record_event = record_event
        self._subject = subject or name

    @property
    def pid(self) -> int | None:
        """The template's process id; ``None`` before the first start."""
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        """Whether the template was started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (or restart) the template and wait for ``ready``.

        Raises:
            ForkServerError: it exited or did not answer within the start timeout.
        """
        self.check()
        self.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "quantdesk.jobs.forkserver", str(theirs.fileno())],
                env={},  # nothing of the worker's environment (DATABASE_URL...) gets in
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                cwd="/",
            )
        finally:
            theirs.close()
        self._sock = ours
        self.starts += 1
        reply = self._receive(self._timeout)
        if not reply.get("ready"):
            raise ForkServerError(f"{self.name}: unexpected first message {reply!r}")
        if self.starts > 1:
            log.warning("%s: template restarted (pid %s)", self.name, self.pid)
        self._notify(EventKind.FORKSERVER_STARTED, pid=self.pid, starts=self.starts)
        if self._warm:
            self._request(self._warm)

    def warm(self, data_dir: str) -> None:
        """Have the template load ``data_dir``'s calendars (remembered across restarts)."""
        self._warm = {"op": "warm", "data_dir": data_dir}
        if self.alive():
            self._request(self._warm)

    def _request(self, payload: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        assert self._sock is not None
        socket.send_fds(self._sock, [json.dumps(payload).encode()], fds or [])
        return self._receive(30.0)

    def _receive(self, timeout: float) -> dict[str, Any]:
        assert self._sock is not None
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self._sock], [], [], 0.1)
            if ready:
                data = self._sock.recv(_MAX_MESSAGE)
                if not data:
                    raise ForkServerError(f"{self.name}: the template closed the socket")
                reply = json.loads(data)
                if not isinstance(reply, dict):
                    raise ForkServerError(f"{self.name}: bad reply {reply!r}")
                return reply
            if self._proc is not None and self._proc.poll() is not None:
                raise ForkServerError(f"{self.name}: the template exited ({self._proc.returncode})")
            if time.monotonic() > deadline:
                raise ForkServerError(f"{self.name}: no answer within {timeout:g}s")

    def spawn(
        self,
        policy: SandboxPolicy,
        target: str,
        args: dict[str, Any],
        log: CappedLog | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> SandboxRun:
        """Fork a sandboxed run of ``target`` (restarting a dead template first).

        Raises:
            ForkServerError: the template could not be (re)started or refused the request.
        """
        from quantdesk.jobs.sandbox.handle import Pipes

        if not self.alive():
            self.start()
        pipes = Pipes()
        request = {"op": "spawn", "target": target, "args": args, "policy": policy.to_dict()}
        try:
            reply = self._request(request, pipes.writers)
            if "pid" not in reply:
                raise ForkServerError(f"{self.name}: {reply.get('error', reply)}")
        except BaseException:
            pipes.close_readers()
            raise
        finally:
            pipes.close_writers()
        return pipes.run(int(reply["pid"]), log, on_event)

    def check(self) -> bool:
        """Whether the template died on its own since it was started (a crash).

        A crash is logged and reported (``forkserver.crashed``) once, and the template is
        forgotten: the next ``spawn`` starts a new one.
        """
        if self._proc is None or self._proc.poll() is None:
            return False
        pid, code = self._proc.pid, self._proc.returncode
        self.crashes += 1
        log.warning("%s: the template (pid %d) died with %s", self.name, pid, _describe(code))
        self._notify(EventKind.FORKSERVER_CRASHED, pid=pid, exit=_describe(code),
                     returncode=code)  # fmt: skip
        self._release()
        return True

    def close(self) -> None:
        """Stop the template (closing the socket ends it; killed if it lingers).

        Reported as ``forkserver.stopped``, or ``forkserver.crashed`` when it was already dead.
        """
        if self.check() or self._proc is None:
            self._release()
            return
        proc = self._proc
        self._release()
        self._notify(EventKind.FORKSERVER_STOPPED, pid=proc.pid, exit=_describe(proc.returncode))

    def _release(self) -> None:
        """Close the socket and reap the template (killed if it lingers)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def _notify(self, kind: EventKind, **data: object) -> None:
        """Report ``kind`` about the worker; a failing recorder is logged, never raised."""
        if self._record_event is None:
            return
        try:
            self._record_event(kind, self._subject, data)
        except Exception:  # a database that went away must not take the jobs down
            log.exception("%s: could not record %s", self.name, kind)


def _describe(code: int) -> str:
    """``signal SIGKILL`` or ``status 1``."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"status {code}"


if __name__ == "__main__":
    main()
