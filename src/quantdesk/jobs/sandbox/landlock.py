"""Landlock (Linux ≥ 5.13): a file-system allow-list and, from ABI 4, no TCP.

Written with ``ctypes`` over the three system calls because the only Python package
(``landlock`` 1.0.0.dev5) is a development release; the ABI is the kernel's
(``include/uapi/linux/landlock.h``, Documentation/userspace-api/landlock.rst).
"""

from __future__ import annotations

import ctypes
import os

from quantdesk.jobs.sandbox.linux import PR_SET_NO_NEW_PRIVS, prctl, syscall

_SYS_CREATE = {"x86_64": 444, "aarch64": 444}
_SYS_ADD_RULE = {"x86_64": 445, "aarch64": 445}
_SYS_RESTRICT = {"x86_64": 446, "aarch64": 446}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
_ABI1_ALL = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

#: Rights that apply to a regular file (the rest only to directories).
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ_ONLY = EXECUTE | READ_FILE | READ_DIR


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """The kernel's Landlock ABI (0 when Landlock is missing or disabled)."""
    try:
        return syscall(_SYS_CREATE, None, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def _fs_rights(abi: int) -> int:
    rights = _ABI1_ALL
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(read_only: list[str], read_write: list[str]) -> int:
    """Restrict this process (and future children) with Landlock.

    Only ``read_only`` (read + execute) and ``read_write`` paths; deny TCP bind/connect
    (ABI ≥ 4), and scope abstract UNIX sockets and signals to the sandbox (ABI ≥ 6). Missing
    paths are skipped.

    Returns:
        The ABI that was applied.

    Raises:
        OSError: Landlock is unavailable or a call failed.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError(95, "Landlock is not available")
    everything = _fs_rights(abi)
    attr = _RulesetAttr(everything, 0, 0)
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    ruleset = syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    try:
        for paths, rights in ((read_only, READ_ONLY), (read_write, everything)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = rights if os.path.isdir(path) else rights & _FILE_RIGHTS
                    rule = _PathBeneath(allowed, fd)
                    syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
                finally:
                    os.close(fd)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        syscall(_SYS_RESTRICT, ruleset, 0)
    finally:
        os.close(ruleset)
    return abi
