"""Entering the sandbox: four processes per run, all forked (never exec'd).

They are prepared before the job is known so that starting a job costs a message instead of
forks and mounts. This module is the monitor's side; ``sandbox/inside.py`` the rest.

::

    monitor (root, outside)    namespaces, private root, control group; on activation: the
      │                        inputs; waits; collects results; reports on the outcome pipe
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
import signal
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from quantdesk.jobs.sandbox import rootfs
from quantdesk.jobs.sandbox.cgroups import Hierarchy, JobCgroup
from quantdesk.jobs.sandbox.inside import MAX_MESSAGE, init_main
from quantdesk.jobs.sandbox.linux import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    PR_SET_PDEATHSIG,
    prctl,
    unshare,
    write_id_maps,
)  # fmt: skip
from quantdesk.jobs.sandbox.policy import MAX_COLLECTED, Layer, Outcome, SandboxPolicy

#: Bytes of free space under which the job folder or /tmp counts as full.
_FULL_BYTES = 256 * 1024
_MAX_FD = 1 << 20


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
        """Hand over the job: ``{"policy", "target", "args"}`` and the run's pipes.

        The pipes are the log, events and outcome ones, which the caller may close afterwards.
        """
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
        ours.close()  # (not just its number: no stale socket object may close a reused fd)
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
        box = _Box(template, control)
        message, fds, _flags, _addr = socket.recv_fds(control, MAX_MESSAGE, 4)
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

    def __init__(self, template: SandboxPolicy, control: socket.socket) -> None:
        self.template = template
        self._control = control  # the monitor's: closed in init, so the sandbox never holds it
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
            self._control.close()
            os.close(ready_read)
            os.close(go_write)
            os.read(go_read, 1)  # wait until the monitor moved us into the control group
            os.close(go_read)
            init_main(template, self.root, code_end, ready_write)
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
            if self.root is not None and policy.work_dir is not None and not policy.persistent:
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


def _scheduling(pid: int, *, idle: bool) -> None:
    """``SCHED_IDLE`` while a sandbox waits for its job, normal once it has one.

    As root the monitor may raise its unprivileged children back; elsewhere the call is a no-op.
    """
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
