"""Entering the sandbox: three processes per run, all forked (never exec'd), prepared before
the job is known so that starting a job costs a message instead of forks and mounts.

::

    monitor (root, outside)    namespaces, private root; on activation: control group, inputs;
      │                        waits; collects results; reports on the outcome pipe
      └─ init (pid 1 inside)   /proc, pivot_root, identity, rlimits, seccomp; reaps; when it
           │                   exits the kernel kills everything left in the pid namespace
           └─ shell            Landlock; the job's parent: exits with the code's status
                └─ code        waits for its job: then fds 0 /dev/null, 1+2 the log pipe,
                               3 the events pipe; runs the target

``prepare`` (in the fork server, or the one-shot launcher) forks a monitor that builds all of
this for a policy's ``template_key`` (the control group is named ``policy.cgroup`` + a random
suffix) and waits; ``Prepared.activate`` hands it the job (the
full policy, the target, and the log/events/outcome pipes). The monitor reports on the
outcome pipe one JSON line ``{"event": "started", "pid": <init's host pid>, "cgroup": name}``,
then ``{"event": "exited", ...Outcome}`` (or ``{"event": "error", "message"}``) and exits.
Every process sets ``PR_SET_PDEATHSIG``, so the chain dies with its parent: killing the
worker, its fork server or the monitor ends the run within milliseconds.
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
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from quantdesk.jobs.sandbox import landlock, rootfs, seccomp
from quantdesk.jobs.sandbox.cgroups import Hierarchy, JobCgroup
from quantdesk.jobs.sandbox.linux import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
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
    write_id_maps,
)  # fmt: skip
from quantdesk.jobs.sandbox.policy import MAX_COLLECTED, Layer, Outcome, SandboxPolicy
from quantdesk.jobs.sandbox.targets import resolve

#: Exit status of init when the sandbox could not be entered (the code never ran).
SETUP_FAILED = 125
#: Bytes of free space under which the job folder or /tmp counts as full.
_FULL_BYTES = 256 * 1024
EVENTS_FD = 3
_MAX_MESSAGE = 1 << 20
_MAX_FD = 1 << 20
#: Signals the sandbox's init ignores (as pid 1 it would anyway, but Python's own handlers
#: would not); the shell and the code get the default actions back.
_IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
            signal.SIGUSR2, signal.SIGALRM)  # fmt: skip


def _send(fd: int, payload: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps(payload) + "\n").encode())


@dataclass
class Prepared:
    """A monitor waiting for its job (held by the process that forked it)."""

    pid: int
    key: str
    control: socket.socket

    def activate(self, request: dict[str, Any], fds: list[int]) -> None:
        """Hand over the job: ``{"policy", "target", "args"}`` and the log, events and outcome
        pipes (which the caller may close afterwards)."""
        socket.send_fds(self.control, [json.dumps(request).encode()], fds)
        self.control.close()

    def discard(self) -> None:
        """Drop an unused monitor (it exits when its control socket closes)."""
        self.control.close()


def prepare(policy: SandboxPolicy) -> Prepared:
    """Fork a monitor that sets up a sandbox for ``policy.template_key()`` and waits.

    The monitor keeps no descriptor of the caller's but its control socket: standard streams
    go to ``/dev/null`` and everything else is closed, so nothing below it (and nothing a job
    could reach) holds the worker's socket, another job's pipes or the server's log.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        _only_keep(theirs.fileno())
        _monitor_main(policy, theirs)
    theirs.close()
    return Prepared(pid, policy.template_key(), ours)


def _only_keep(keep: int) -> None:
    """Point fds 0-2 at ``/dev/null`` and close every other descriptor but ``keep``."""
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, _MAX_FD)


class _ParentGone(BaseException):
    """The fork server (or launcher) that started this monitor died."""


def _parent_gone(_signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up
    raise _ParentGone


def _monitor_main(template: SandboxPolicy, control: socket.socket) -> NoReturn:
    status = 0
    outcome_fd = -1
    box: _Box | None = None
    try:
        os.setsid()
        # SIGTERM, not SIGKILL: the monitor removes its control group before it goes (its
        # init and everything below die with it through their own parent-death signals).
        signal.signal(signal.SIGTERM, _parent_gone)
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _scheduling(0, idle=True)  # preparing must not slow down the job that is running
        box = _Box(template)
        message, fds, _flags, _addr = socket.recv_fds(control, _MAX_MESSAGE, 4)
        if not message or len(fds) != 3:
            box.abandon()
            os._exit(0)  # discarded before use
        outcome_fd = fds[2]
        box.run(json.loads(message), fds[0], fds[1], outcome_fd)
    except _ParentGone:
        if box is not None:
            box.abandon()
        status = 71
    except BaseException as exc:  # report, never raise out of a forked child
        if outcome_fd >= 0:
            _send(outcome_fd, {"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        status = 70
    finally:
        os._exit(status)


class _Box:
    """The monitor's view of one sandbox: built at once, run when the job arrives."""

    def __init__(self, template: SandboxPolicy) -> None:
        self.template = template
        flags = 0
        if template.has(Layer.USERNS):
            flags |= CLONE_NEWUSER
        if template.has(Layer.FILESYSTEM):
            flags |= CLONE_NEWNS
        if template.has(Layer.NETWORK):
            flags |= CLONE_NEWNET
        if template.has(Layer.PID):
            flags |= CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
        outer_uid, outer_gid = os.getuid(), os.getgid()
        if flags:
            unshare(flags)
        if template.has(Layer.USERNS):
            write_id_maps(template.uid, template.gid, outer_uid, outer_gid)
        self.root = rootfs.build(template) if template.has(Layer.FILESYSTEM) else None
        # Created now, not when the job arrives: moving a process into a control group waits
        # for an RCU grace period (milliseconds), which must not delay the job's start.
        self.group = _cgroup(template)
        self.init_pid = 0
        try:  # (a signal may land anywhere in here: whatever exists is undone)
            if self.group is not None:
                self.group.create(template.memory_mb, template.max_procs, template.cpus)
            self._start_init(template)
        except BaseException:
            self.abandon()
            raise

    def _start_init(self, template: SandboxPolicy) -> None:
        self.job, code_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        go_read, go_write = os.pipe()
        ready_read, ready_write = os.pipe()
        self.init_pid = os.fork()
        if self.init_pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the monitor's handler is its own
            self.job.close()
            os.close(ready_read)
            os.close(go_write)
            os.read(go_read, 1)  # wait until the monitor moved us into the control group
            os.close(go_read)
            _init(template, self.root, code_end, ready_write)
        code_end.close()
        os.close(ready_write)
        os.close(go_read)
        if self.group is not None:
            self.group.add(self.init_pid)  # the code process, forked by init, follows
        os.write(go_write, b"1")
        os.close(go_write)
        self._ready = ready_read

    def abandon(self) -> None:
        """Kill what was started and remove the control group."""
        if self.init_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.init_pid, 0)
        if self.group is not None:
            self.group.remove()

    def run(self, request: dict[str, Any], log_fd: int, events_fd: int, outcome_fd: int) -> None:
        policy = SandboxPolicy.from_dict(request["policy"])
        if policy.template_key() != self.template.template_key():
            raise ValueError("the job's policy does not match the prepared sandbox")
        for pid in (os.getpid(), self.init_pid):
            _scheduling(pid, idle=False)  # first: the preparation may still be running
        ready = os.read(self._ready, 65536)  # b"1": the shell forked the code process
        os.close(self._ready)
        if ready != b"1":
            detail = ready[1:].decode(errors="replace").strip().splitlines()[-1:] or ["died"]
            raise RuntimeError(f"the sandbox could not be entered: {detail[0]}")
        for pid in _descendants(self.init_pid):
            _scheduling(pid, idle=False)
        group = self.group
        try:
            if self.root is not None and policy.work_dir is not None:
                rootfs.stage(policy, self.root)
            work_dir = policy.work_dir
            if work_dir is not None and self.root is not None:
                work_dir = rootfs.JOB_DIR
            job = {"target": request["target"], "args": request.get("args") or {},
                   "env": policy.env, "work_dir": work_dir}  # fmt: skip
            socket.send_fds(self.job, [json.dumps(job).encode()], [log_fd, events_fd])
            self.job.close()
            os.close(log_fd)
            os.close(events_fd)
            name = group.name if group is not None else None
            _send(outcome_fd, {"event": "started", "pid": self.init_pid, "cgroup": name})
            _, wait_status = os.waitpid(self.init_pid, 0)
            self.init_pid = 0  # reaped: never signal that number again
            if group is not None:
                group.kill()  # nothing of the job may run while its files are copied out
            outcome = self._outcome(policy, os.waitstatus_to_exitcode(wait_status), group)
        finally:
            if group is not None:
                group.remove()
        _send(outcome_fd, {"event": "exited", **outcome.__dict__})

    def _outcome(self, policy: SandboxPolicy, code: int, group: JobCgroup | None) -> Outcome:
        exit_code: int | None = code if 0 <= code < 128 else None
        sig = -code if code < 0 else (code - 128 if code >= 128 else None)
        full = _full(policy, self.root)
        collected: list[str] = []
        if self.root is not None and policy.collect and exit_code == 0:
            try:
                collected = rootfs.collect(policy, self.root)
            except rootfs.CollectLimit as exc:
                exit_code, full = 1, f"the job folder ({exc})"
        return Outcome(
            exit_code=exit_code,
            signal=sig,
            oom_kills=group.oom_kills() if group else 0,
            pids_limit_hits=group.pids_limit_hits() if group else 0,
            disk_full=bool(full),
            full=full,
            peak_memory=group.peak_memory() if group else 0,
            collected=tuple(collected[:MAX_COLLECTED]),
        )


def _prefault() -> None:
    """Touch a backtest's memory before the job arrives (``jobs.child.prefault``), when the
    fork server preloaded it."""
    child = sys.modules.get("quantdesk.jobs.child")
    if child is not None:
        with contextlib.suppress(Exception):
            child.prefault()


def _scheduling(pid: int, *, idle: bool) -> None:
    """``SCHED_IDLE`` while a sandbox waits for its job, normal once it has one (as root the
    monitor may raise its unprivileged children back; elsewhere the call is a no-op)."""
    policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
    with contextlib.suppress(OSError):
        os.sched_setscheduler(pid, policy, os.sched_param(0))


def _descendants(pid: int) -> list[int]:
    with contextlib.suppress(OSError, ValueError):
        children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return children + [d for c in children for d in _descendants(c)]
    return []


def _cgroup(policy: SandboxPolicy) -> JobCgroup | None:
    if not (policy.has(Layer.CGROUP) and policy.cgroup):
        return None
    hierarchy = Hierarchy.find()
    if hierarchy is None:
        raise RuntimeError("no writable cgroup hierarchy with memory and pids controllers")
    return JobCgroup(hierarchy, policy.instance, f"{policy.cgroup}{uuid.uuid4().hex[:12]}")


def _full(policy: SandboxPolicy, root: str | None) -> str:
    if root is None:
        return ""
    places = ["/tmp"] + ([rootfs.JOB_DIR] if policy.work_dir is not None else [])
    for place in places:
        with contextlib.suppress(OSError):
            if rootfs.space_left(root, place) < _FULL_BYTES:
                return "the job folder" if place == rootfs.JOB_DIR else "/tmp"
    return ""


def _init(policy: SandboxPolicy, root: str | None, code_end: socket.socket, ready: int) -> NoReturn:
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
    """Wait for ``pid`` (reaping any orphan too, as pid 1 must) and exit with its status
    (``128 + signal`` when it was killed)."""
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
    """The job's parent inside the sandbox (what the job sees as its worker): applies
    Landlock when the job folder is already known (``/job``), forks the code process, and
    exits with its status. Code that kills it (``os.kill(os.getppid(), signal.SIGKILL)``, or
    SIGTERM...) ends its own run as a lost worker would."""
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
        # Our own pid namespace's /proc (without the pid layer it would show the host's).
        mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
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
        seccomp.install()


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
    """The code's process: wait for the job, then streams, environment, folder, Landlock,
    and the target."""
    code = 1
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        prctl(PR_SET_DUMPABLE, 1)  # its own /proc/self stays readable to it
        for number in _IGNORED:
            signal.signal(number, signal.SIG_DFL)
        if policy.work_dir is not None:
            _prefault()
        message, fds, _flags, _addr = socket.recv_fds(control, _MAX_MESSAGE, 2)
        if not message or len(fds) != 2:
            os._exit(0)  # the sandbox was discarded unused
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
