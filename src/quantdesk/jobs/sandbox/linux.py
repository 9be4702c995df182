"""Linux system calls the sandbox needs and CPython 3.11 does not bind, through ``ctypes``.

``os`` has no ``unshare``/``mount``/``pivot_root``/``prctl``/``capset`` before 3.12 (and never
``mount``); the maintained wrappers (``python-prctl``, ``pyroute2``) each cover one corner and
need a compiler or bring a netlink stack. These are thin, errno-checked calls with the kernel's
constants, nothing more. Each raises ``OSError`` with the kernel's errno.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
#: Every namespace flag (the seccomp filter refuses them to clone()).
CLONE_NAMESPACES = (
    CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
    CLONE_NEWNET,
)  # fmt: skip

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

#: ``pivot_root`` has no glibc wrapper; its number differs per architecture.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [
    ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
]  # fmt: skip
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]  # fmt: skip
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def syscall(table: dict[str, int], *args: object) -> int:
    """Call the system call numbered ``table[machine]`` (OSError on failure)."""
    machine = platform.machine()
    if machine not in table:
        raise OSError(38, f"system call not mapped on {machine}")
    return _check(int(_libc.syscall(table[machine], *args)), "syscall")


def unshare(flags: int) -> None:
    """Move this process into new namespaces: the ``unshare`` system call (2).

    Raises:
        OSError: the call failed (its errno).
    """
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    """Mount ``source`` on ``target``: the ``mount`` system call (2).

    Raises:
        OSError: the call failed (its errno; the message names ``target``).
    """
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def umount(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    """Make ``new_root`` this mount namespace's root: the ``pivot_root`` system call (2).

    The old root is moved to ``put_old``.

    Raises:
        OSError: the call failed (its errno).
    """
    syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old))


def sethostname(name: str) -> None:
    """Set the host name (in a new UTS namespace): the ``sethostname`` system call (2).

    Raises:
        OSError: the call failed (its errno).
    """
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Operation ``option`` on this process: the ``prctl`` system call (2); returns its result.

    Raises:
        OSError: the call failed (its errno).
    """
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl {option}")


def last_capability() -> int:
    """The highest capability number this kernel knows (``cap_last_cap``)."""
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


def drop_bounding_set() -> None:
    """Remove every capability from the bounding set (needs CAP_SETPCAP) and the ambient set."""
    for cap in range(last_capability() + 1):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def clear_capabilities() -> None:
    """capset(2) with empty effective, permitted and inheritable sets (version 3, 64 bits)."""
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    syscall(_SYS_CAPSET, ctypes.byref(header), ctypes.byref(data))


def capabilities() -> dict[str, int]:
    """This process's capability sets and security flags, as integers.

    ``CapEff``, ``CapPrm``, ``CapBnd`` ..., ``NoNewPrivs`` and ``Seccomp``, from
    ``/proc/self/status``.
    """
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            out[key] = int(value.strip(), 16)
        elif key in ("NoNewPrivs", "Seccomp"):
            out[key] = int(value.strip())
    return out


def write_id_maps(inside_uid: int, inside_gid: int, outside_uid: int, outside_gid: int) -> None:
    """Map one uid and gid of a new user namespace onto the caller's own (unprivileged)."""
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{inside_uid} {outside_uid} 1")
    Path("/proc/self/gid_map").write_text(f"{inside_gid} {outside_gid} 1")
