"""Inside the sandbox: its init (pid 1), the job's shell and the code process.

The monitor (``sandbox/enter.py``) forks them. ``init_main`` finishes entering the sandbox
(``/proc``, ``pivot_root``, identity, rlimits, seccomp), forks the shell (Landlock; the job's
parent), which forks the code process: it waits for its job on a socket, then runs the
target with fd 0 ``/dev/null``, 1+2 the log pipe and 3 the events pipe.

Setting up reports on the ``ready`` pipe: ``b"1"`` once the code process exists, else
``b"E"`` and the traceback. After that, init's exit status is the code's (``128 + signal``
when it was killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import sys
import time
import traceback
from typing import NoReturn

from quantdesk.jobs.events import EVENTS_FD
from quantdesk.jobs.sandbox import landlock, rootfs, seccomp
from quantdesk.jobs.sandbox.linux import (
    CLONE_NEWNS,
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REMOUNT,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    clear_capabilities,
    drop_bounding_set,
    mount,
    pivot_root,
    prctl,
    sethostname,
    umount,
    unshare,
)  # fmt: skip
from quantdesk.jobs.sandbox.policy import Layer, SandboxPolicy
from quantdesk.jobs.sandbox.targets import resolve

#: Exit status of init or the shell when the sandbox could not be entered.
SETUP_FAILED = 125
#: Largest job message (JSON) the code process accepts.
MAX_MESSAGE = 1 << 20
#: Signals the sandbox's init ignores (as pid 1 it would anyway, but Python's own handlers
#: would not); the shell and the code get the default actions back.
_IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
            signal.SIGUSR2, signal.SIGALRM)  # fmt: skip
#: Options of the sandbox's ``/proc`` without the pid layer, where it shows the host's pid
#: namespace: only processes the code could trace (its own) are listed, not the workers, the
#: server or other users' jobs. Named values exist since Linux 5.8, the first kernel where
#: each ``/proc`` mount has its own options; on older ones the mount fails (the self-test then
#: reports the filesystem layer missing) rather than hiding processes in the host's ``/proc``.
HIDE_OTHER_PROCESSES = "hidepid=invisible"


def init_main(
    policy: SandboxPolicy, root: str | None, code_end: socket.socket, ready: int
) -> NoReturn:
    """Pid 1 of the sandbox: finish entering it, fork the job's shell, reap until it exits."""
    try:
        for number in _IGNORED:
            signal.signal(number, signal.SIG_IGN)
        _enter(policy, root)
        os.setsid()
        pid = os.fork()
        if pid == 0:
            _shell(policy, root, code_end, ready)
        code_end.close()
        os.close(ready)
    except BaseException:
        _setup_failed(ready)
    _wait_for(pid, reap_all=True)


def _setup_failed(ready: int) -> NoReturn:
    """Report why entering the sandbox failed (to the monitor, on the ready pipe) and exit."""
    with contextlib.suppress(Exception):
        os.write(ready, b"E" + traceback.format_exc().encode()[-8000:])
    os._exit(SETUP_FAILED)


def _wait_for(pid: int, *, reap_all: bool) -> NoReturn:
    """Wait for ``pid`` (reaping any orphan too, as pid 1 must) and exit with its status.

    The status is ``128 + signal`` when it was killed.
    """
    while True:
        try:
            child, status = os.waitpid(-1 if reap_all else pid, 0)
        except ChildProcessError:
            os._exit(SETUP_FAILED)
        except InterruptedError:
            continue
        if child == pid:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def _shell(
    policy: SandboxPolicy, root: str | None, code_end: socket.socket, ready: int
) -> NoReturn:
    """The job's parent inside the sandbox (what the job sees as its worker).

    Applies Landlock when the job folder is already known (``/job``), forks the code process,
    and exits with its status. Code that kills it (``os.kill(os.getppid(), signal.SIGKILL)``, or
    SIGTERM...) ends its own run as a lost worker would.
    """
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for number in _IGNORED:  # (init ignores them; the shell dies of them, as a worker would)
            signal.signal(number, signal.SIG_DFL)
        early = policy.has(Layer.LANDLOCK) and (root is not None or policy.work_dir is None)
        if early:
            work_dir = rootfs.JOB_DIR if policy.work_dir is not None else None
            _landlock(policy, work_dir)
        pid = os.fork()
        if pid == 0:
            os.close(ready)
            _code(policy, code_end, landlocked=early)
        code_end.close()
        os.write(ready, b"1")
        os.close(ready)
    except BaseException:
        _setup_failed(ready)
    _wait_for(pid, reap_all=False)


def _landlock(policy: SandboxPolicy, work_dir: str | None) -> None:
    read_write = ["/tmp", "/dev/shm", "/dev/null", "/dev/zero", "/dev/full", "/dev/tty"]
    read_only = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/dev", "/proc"]
    extra = [work_dir] if work_dir else []
    landlock.restrict([*read_only, *policy.read_only], [*read_write, *extra])


def _enter(policy: SandboxPolicy, root: str | None) -> None:
    """Mounts, identity, limits and the system-call filter, in the order the kernel allows."""
    if root is not None:
        unshare(CLONE_NEWNS)  # a nested namespace: pivot_root must not move the monitor
        # Our own pid namespace's /proc (without the pid layer, the host's: others hidden).
        mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              proc_options(policy))  # fmt: skip
        mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.chdir(root)
        pivot_root(".", ".")
        umount(".", MNT_DETACH)
        os.chdir("/")
    if policy.has(Layer.PID):
        sethostname("sandbox")
    _rlimits(policy)
    if policy.has(Layer.IDENTITY):
        drop_bounding_set()
        if policy.has(Layer.USERNS):
            clear_capabilities()
        else:
            os.setgroups([])
            os.setresgid(policy.gid, policy.gid, policy.gid)
            os.setresuid(policy.uid, policy.uid, policy.uid)
    # Not dumpable: the job (same uid) cannot open init's or the shell's /proc/<pid>/fd, ptrace
    # them or take their descriptors; only the code process becomes dumpable again.
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
    if policy.has(Layer.SECCOMP):
        seccomp.install(inet_sockets=policy.inet_sockets)


def proc_options(policy: SandboxPolicy) -> str | None:
    """Mount options of the sandbox's ``/proc``: ``HIDE_OTHER_PROCESSES`` without the pid layer."""
    return None if policy.has(Layer.PID) else HIDE_OTHER_PROCESSES


def _rlimits(policy: SandboxPolicy) -> None:
    mib = 1024 * 1024
    limits = {
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NOFILE: 4096,
        resource.RLIMIT_FSIZE: policy.disk_mb * mib,
    }
    if policy.cpu_seconds:
        limits[resource.RLIMIT_CPU] = policy.cpu_seconds
    if not policy.has(Layer.CGROUP):  # weaker stand-ins for the control group
        limits[resource.RLIMIT_AS] = max(policy.memory_mb, 256) * mib * 2
        if policy.has(Layer.USERNS):
            limits[resource.RLIMIT_NPROC] = policy.max_procs
    for which, wanted in limits.items():
        _soft, hard = resource.getrlimit(which)
        value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(which, (value, value))


def _code(policy: SandboxPolicy, control: socket.socket, *, landlocked: bool) -> NoReturn:
    """The code's process: wait for the job, then streams, environment, folder, Landlock, target."""
    code = 1
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for number in _IGNORED:
            signal.signal(number, signal.SIG_DFL)
        if policy.work_dir is not None:
            os.dup2(0, EVENTS_FD)  # held for the events pipe: no library may take fd 3 first
            _prefault()
        message, fds, _flags, _addr = socket.recv_fds(control, MAX_MESSAGE, 2)
        if not message or len(fds) != 2:
            os._exit(0)  # the sandbox was discarded unused
        # Its own /proc/self readable to it from now on; not while it waited: a job running
        # under the same uid (its slot's previous one) must not see or open this process,
        # which its /proc lists when there is no pid layer.
        prctl(PR_SET_DUMPABLE, 1)
        job = json.loads(message)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[0], 2)
        os.dup2(fds[1], EVENTS_FD)
        os.closerange(EVENTS_FD + 1, 65536)
        work_dir = job.get("work_dir") or "/tmp"
        os.chdir(work_dir)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in (job.get("env") or {}).items()})
        os.environ.setdefault("HOME", work_dir)
        if policy.has(Layer.LANDLOCK) and not landlocked:
            _landlock(policy, work_dir)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        target = resolve(str(job["target"]), job.get("args") or {})
        os.write(EVENTS_FD, (json.dumps({"sandbox_ready_at": time.time()}) + "\n").encode())
        code = target()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    os._exit(code)


def _prefault() -> None:
    """Touch a backtest's memory before the job arrives (``jobs.child.prefault``).

    Only when the fork server preloaded it.
    """
    child = sys.modules.get("quantdesk.jobs.child")
    if child is not None:
        with contextlib.suppress(Exception):
            child.prefault()
