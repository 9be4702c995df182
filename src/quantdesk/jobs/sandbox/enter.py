"""Entering the sandbox: three processes per run, all forked (never exec'd) from the caller.

::

    monitor (root, outside)   control group, namespaces, private root; waits; collects results
      └─ init (pid 1 inside)   /proc, pivot_root, identity, Landlock, seccomp; reaps; when it
           │                   exits the kernel kills everything left in the pid namespace
           └─ code             fd 0 /dev/null, 1+2 the log pipe, 3 the events pipe

``run_monitor`` is what a fork server child (or the one-shot launcher) calls. It never
returns: it reports on ``outcome_fd`` one JSON line ``{"event": "started", "pid": <init's host
pid>}`` and then one ``{"event": "exited", ...Outcome}`` (or ``{"event": "error", "message"}``)
and exits. Every process sets ``PR_SET_PDEATHSIG`` so the chain dies with its parent: killing
the worker, its fork server or the monitor ends the run within milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

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
from quantdesk.jobs.sandbox.policy import Layer, Outcome, SandboxPolicy

#: Exit status of init when the sandbox could not be entered (the code never ran).
SETUP_FAILED = 125
#: Bytes of free space under which the job folder or /tmp counts as full.
_FULL_BYTES = 256 * 1024
EVENTS_FD = 3

Target = Callable[[], int]


def _send(fd: int, payload: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps(payload) + "\n").encode())


def run_monitor(
    policy: SandboxPolicy, target: Target, log_fd: int, events_fd: int, outcome_fd: int
) -> NoReturn:
    """Run ``target`` in the sandbox ``policy`` describes; report on ``outcome_fd``; exit."""
    status = 0
    try:
        os.setsid()
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _monitor(policy, target, log_fd, events_fd, outcome_fd)
    except BaseException as exc:  # report, never raise out of a forked child
        _send(outcome_fd, {"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        status = 70
    finally:
        os._exit(status)


def _monitor(
    policy: SandboxPolicy, target: Target, log_fd: int, events_fd: int, outcome_fd: int
) -> None:
    group = _cgroup(policy)
    flags = 0
    if policy.has(Layer.USERNS):
        flags |= CLONE_NEWUSER
    if policy.has(Layer.FILESYSTEM):
        flags |= CLONE_NEWNS
    if policy.has(Layer.NETWORK):
        flags |= CLONE_NEWNET
    if policy.has(Layer.PID):
        flags |= CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    outer_uid, outer_gid = os.getuid(), os.getgid()
    try:
        if flags:
            unshare(flags)
        if policy.has(Layer.USERNS):
            write_id_maps(policy.uid, policy.gid, outer_uid, outer_gid)
        root = rootfs.build(policy) if policy.has(Layer.FILESYSTEM) else None
        go_read, go_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_write)
            os.close(outcome_fd)
            _init(policy, root, go_read, log_fd, events_fd, target)
        os.close(go_read)
        if group is not None:
            group.add(pid)
        os.write(go_write, b"1")
        os.close(go_write)
        os.close(log_fd)
        os.close(events_fd)
        _send(outcome_fd, {"event": "started", "pid": pid})
        _, wait_status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(wait_status)
        if code == SETUP_FAILED:
            raise RuntimeError("the sandbox could not be entered (see the log)")
        exit_code: int | None = code if 0 <= code < 128 else None
        sig = -code if code < 0 else (code - 128 if code >= 128 else None)
        full = _full(policy, root)
        collected: list[str] = []
        if root is not None and policy.collect and exit_code == 0:
            collected = rootfs.collect(policy, root)
        outcome = Outcome(
            exit_code=exit_code,
            signal=sig,
            oom_kills=group.oom_kills() if group else 0,
            pids_limit_hits=group.pids_limit_hits() if group else 0,
            disk_full=bool(full),
            full=full,
            peak_memory=group.peak_memory() if group else 0,
            collected=tuple(collected),
        )
    finally:
        if group is not None:
            group.remove()
    _send(outcome_fd, {"event": "exited", **outcome.__dict__})


def _cgroup(policy: SandboxPolicy) -> JobCgroup | None:
    if not (policy.has(Layer.CGROUP) and policy.cgroup):
        return None
    hierarchy = Hierarchy.find()
    if hierarchy is None:
        raise RuntimeError("no writable cgroup hierarchy with memory and pids controllers")
    group = JobCgroup(hierarchy, policy.instance, policy.cgroup)
    group.create(policy.memory_mb, policy.max_procs)
    return group


def _full(policy: SandboxPolicy, root: str | None) -> str:
    if root is None:
        return ""
    places = ["/tmp"] + ([policy.work_dir] if policy.work_dir else [])
    for place in places:
        with contextlib.suppress(OSError):
            if rootfs.space_left(root, place) < _FULL_BYTES:
                return "the job folder" if place == policy.work_dir else "/tmp"
    return ""


def _init(
    policy: SandboxPolicy, root: str | None, go_fd: int, log_fd: int, events_fd: int,
    target: Target,
) -> NoReturn:  # fmt: skip
    """Pid 1 of the sandbox: finish entering it, start the code, reap until the code exits."""
    try:
        os.read(go_fd, 1)  # the monitor moved us into the control group
        os.close(go_fd)
        _enter(policy, root)
        os.setsid()
        pid = os.fork()
        if pid == 0:
            _run_code(policy, log_fd, events_fd, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.write(log_fd, f"sandbox setup failed:\n{traceback.format_exc()}".encode())
        os._exit(SETUP_FAILED)
    os.close(log_fd)
    os.close(events_fd)
    while True:
        try:
            child, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(SETUP_FAILED)
        except InterruptedError:
            continue
        if child == pid:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def _enter(policy: SandboxPolicy, root: str | None) -> None:
    """Mounts, identity, limits and filters, in the order the kernel allows them."""
    if root is not None:
        unshare(CLONE_NEWNS)  # a nested namespace: pivot_root must not move the monitor
        if policy.has(Layer.PID):
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
        prctl(PR_SET_DUMPABLE, 1)  # a uid change cleared it; /proc/self stays the job's own
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
    if policy.has(Layer.LANDLOCK):
        read_write = ["/tmp", "/dev/shm", "/dev/null", "/dev/zero", "/dev/full", "/dev/tty"]
        if policy.work_dir:
            read_write.append(policy.work_dir)
        read_only = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/dev", "/proc"]
        landlock.restrict(read_only + list(policy.read_only), read_write)
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


def _run_code(policy: SandboxPolicy, log_fd: int, events_fd: int, target: Target) -> NoReturn:
    """The code's process: standard streams, environment, working folder, then ``target``."""
    code = 1
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.dup2(events_fd, EVENTS_FD)
        os.closerange(EVENTS_FD + 1, 65536)
        os.chdir(policy.work_dir or "/tmp")
        os.environ.clear()
        os.environ.update(policy.env)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
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
