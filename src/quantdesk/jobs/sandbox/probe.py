"""The self-test's probe: runs inside a sandbox and reports what it can see and do.

Writes one JSON line to the events pipe (fd 3): identity (uid, capabilities, no_new_privs,
seccomp mode), the host paths it was asked about (``exists`` / readable), whether an AF_INET
socket connects to the host ports it was given (``"connected"`` or the error), its network
namespace, how many processes it sees, its hostname and control groups. Imports nothing
heavy, so the one-shot launcher stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from quantdesk.jobs.events import EVENTS_FD
from quantdesk.jobs.sandbox.linux import capabilities


def _connect(port: int) -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(("127.0.0.1", port))
        return "connected"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"


def network_namespace() -> str:
    """This process's network namespace (``net:[inode]``; ``""`` when it cannot be read)."""
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return ""


def _visible(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        return True
    except IsADirectoryError:
        return True
    except OSError:
        return os.path.exists(path)


def observe(args: dict[str, Any]) -> dict[str, Any]:
    """What this process sees (see the module docstring)."""
    caps = capabilities()
    pids = [p for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []
    report: dict[str, Any] = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cap_eff": caps.get("CapEff", -1),
        "cap_bnd": caps.get("CapBnd", -1),
        "no_new_privs": caps.get("NoNewPrivs", 0),
        "seccomp": caps.get("Seccomp", 0),
        "pid": os.getpid(),
        "visible_pids": len(pids),
        "hostname": socket.gethostname(),
        "paths": {p: _visible(p) for p in args.get("paths", [])},
        "ports": {str(p): _connect(int(p)) for p in args.get("ports", [])},
        "netns": network_namespace(),
        "cgroup": "",
        "write_root": False,
    }
    with contextlib.suppress(OSError):
        report["cgroup"] = Path("/proc/self/cgroup").read_text()
    if args.get("syscalls"):
        report["syscalls"] = _syscalls()
    if args.get("inherited"):
        report["frames"] = _frames()
        report["fds"] = {fd: _fd_target(fd) for fd in sorted(map(int, os.listdir("/proc/self/fd")))}
        try:
            report["parent_fds"] = os.listdir(f"/proc/{os.getppid()}/fd")
        except OSError as exc:
            report["parent_fds"] = type(exc).__name__
    if args.get("exec"):
        import subprocess

        try:
            report["exec"] = subprocess.run(["sleep", "0"], check=False).returncode
        except OSError as exc:
            report["exec"] = f"{type(exc).__name__}: {exc}"
    with contextlib.suppress(OSError):
        Path("/.quantdesk-probe").write_text("x")
        report["write_root"] = True
    return report


#: System calls the probe tries with harmless arguments when asked (``syscalls``). Each fails
#: without the filter with an error of its own (shown), raised before any permission check
#: where the kernel allows (``mount``, ``setns``, ``bpf``, ``perf_event_open``,
#: ``process_vm_*``), so that the filter's ``EPERM`` stands out; ``init_module`` and
#: ``kexec_load`` check the capability first (``EPERM`` either way unprivileged: ``ENOSYS``
#: on a kernel built without them).
_SYSCALLS: dict[str, tuple[int, ...]] = {
    "ptrace": (0, 0, 0, 0),  # PTRACE_TRACEME
    "keyctl": (0, -3, 0, 0),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "io_uring_setup": (1, 0, 0, 0),  # (a NULL params pointer: EFAULT when allowed)
    "unshare": (0, 0, 0, 0),  # no flags: a no-op when allowed
    "personality": (0xFFFFFFFF, 0, 0, 0),  # query only
    "pidfd_getfd": (-1, 0, 0, 0),  # a bad pidfd: EBADF when allowed
    "mount": (0, 0, 1, 0, 0),  # a bad fstype pointer: EFAULT, copied before the check
    "setns": (-1, 0),  # a bad fd: EBADF
    "bpf": (0x7FFFFFFF, 0, 0),  # no such command: EINVAL (EPERM before Linux 5.x's rework)
    "perf_event_open": (0, 0, -1, -1, -1),  # unknown flags: EINVAL before anything else
    "process_vm_readv": (0, 0, 0, 0, 0, 1),  # flags must be 0: EINVAL
    "process_vm_writev": (0, 0, 0, 0, 0, 1),  # likewise
    "init_module": (0, 0, 0),  # (CAP_SYS_MODULE first: EPERM; as root ENOEXEC, no image)
    "kexec_load": (0, 1 << 30, 0, 0),  # (CAP_SYS_BOOT first; as root EINVAL: segments)
}


def _syscalls() -> dict[str, str]:
    """``{name: "ok" | errno name}`` of ``_SYSCALLS`` and of sockets by family."""
    import ctypes
    import errno

    import pyseccomp

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    out: dict[str, str] = {}
    arch = pyseccomp.system_arch()
    for name, call_args in _SYSCALLS.items():
        number = pyseccomp.resolve_syscall(arch, name)
        result = libc.syscall(number, *(ctypes.c_long(a) for a in call_args))
        out[name] = "ok" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    for family in ("AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"):
        try:
            socket.socket(getattr(socket, family), socket.SOCK_DGRAM).close()
            out[family] = "ok"
        except OSError as exc:
            out[family] = errno.errorcode.get(exc.errno or 0, "?")
    return out


def _frames() -> list[list[str]]:
    """``[function, local names...]`` of every frame above this one.

    What a job could reach of the process it was forked from.
    """
    import sys

    out: list[list[str]] = []
    frame = sys._getframe(1)
    while frame is not None:
        out.append([frame.f_code.co_name, *sorted(frame.f_locals)])
        frame = frame.f_back  # type: ignore[assignment]
    return out


def _fd_target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError as exc:
        return type(exc).__name__


def probe(args: dict[str, Any]) -> int:
    """The ``probe`` target: report, exit 0."""
    os.write(EVENTS_FD, (json.dumps(observe(args)) + "\n").encode())
    return 0
