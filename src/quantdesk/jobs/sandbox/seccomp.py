"""The seccomp deny-list every sandboxed process runs under (libseccomp through ``pyseccomp``).

Default allow, and these fail with an errno instead of running (``../shared/research/
reliability.md`` §2.4, L4): process inspection (``ptrace``, ``process_vm_*``, ``kcmp``, taking
another process's descriptors with ``pidfd_getfd``), mounts and
namespaces (``mount``, ``umount2``, ``pivot_root``, ``chroot``, ``unshare``, ``setns``, ``clone``
with a namespace flag, the new mount API), kernel surfaces that widen the attack area (``bpf``,
``keyctl``, ``perf_event_open``, ``userfaultfd``, ``io_uring_*``, ``kexec_*``, module
loading, ``personality``, ``open_by_handle_at``, ``acct``, ``swapon``, ``reboot``), the
terminal injection ioctl ``TIOCSTI``, and every socket family but ``AF_UNIX``
(``EAFNOSUPPORT``). ``clone3`` answers ``ENOSYS`` so libc falls back to ``clone``, whose flags
the filter can see.
"""

from __future__ import annotations

import errno
import socket

import pyseccomp as sc

from quantdesk.jobs.sandbox.linux import CLONE_NAMESPACES

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "process_madvise", "process_mrelease",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "bpf", "keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "personality", "open_by_handle_at", "name_to_handle_at", "acct", "swapon", "swapoff",
    "reboot", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "quotactl",
    "lookup_dcookie", "syslog", "vhangup", "fanotify_init", "iopl", "ioperm",
)  # fmt: skip
_TIOCSTI = 0x5412


def install(*, inet_sockets: bool = False) -> None:
    """Load the filter into this process (and its future children).

    ``inet_sockets``: also let ``AF_INET``/``AF_INET6`` and ``AF_NETLINK`` sockets be created
    (notebook kernels: libzmq aborts when creating one fails instead of reporting it, and lists
    interfaces over netlink). They stay useless: the sandbox's network namespace has no
    interface up, Landlock refuses TCP bind/connect, and netlink sees only that namespace.

    Needs ``no_new_privs`` or CAP_SYS_ADMIN.

    Raises:
        OSError / RuntimeError: libseccomp refused the filter.
    """
    flt = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED:
        try:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        except (ValueError, RuntimeError, OSError):
            continue  # not a system call on this architecture
    if inet_sockets:  # every family but AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK
        allowed = {socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK}
        refuse = sc.ERRNO(errno.EAFNOSUPPORT)
        flt.add_rule(refuse, "socket", sc.Arg(0, sc.GT, max(allowed)))
        for family in range(max(allowed)):
            if family not in allowed:
                flt.add_rule(refuse, "socket", sc.Arg(0, sc.EQ, family))
    else:
        flt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
    flt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socketpair", sc.Arg(0, sc.NE, socket.AF_UNIX))
    for flag in CLONE_NAMESPACES:
        flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    flt.add_rule(sc.ERRNO(errno.EPERM), "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
    flt.load()
