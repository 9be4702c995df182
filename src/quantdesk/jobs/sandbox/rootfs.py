"""The sandbox's private file system, built in its own mount namespace.

::

    /                  tmpfs (read-only once built)
    /usr /lib* /bin /sbin   read-only binds of the host's (or the symlinks merged-/usr has)
    /etc               ld.so cache, time zone, alternatives, nsswitch; passwd/group/hosts made up
    /dev               null zero full random urandom tty (binds), shm (tmpfs), fd/std* links
    /proc              the sandbox's own (mounted by its init, in its pid namespace)
    /tmp               tmpfs of ``tmp_mb``
    <read_only paths>  read-only binds at their host paths (runtime, venvs, catalog)
    /job               the job folder: tmpfs of ``disk_mb`` owned by the sandbox uid, holding
                       copies of ``inputs`` (``stage``); copied back by ``collect``. A
                       ``persistent`` policy binds the folder itself there instead (a user's
                       notebooks: what the code writes stays).

Nothing else of the host exists inside: not ``var/``, the database, ``secret_key``, other
jobs' folders or ``strategies/``. Binds are not recursive, so a host mount below a bound
directory stays invisible rather than writable.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path

from quantdesk.core.files import atomic_writer
from quantdesk.jobs.sandbox.linux import (
    MS_BIND,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    mount,
)  # fmt: skip
from quantdesk.jobs.sandbox.policy import SYSTEM_DIRS, SandboxPolicy

ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "alternatives",
    "nsswitch.conf", "mime.types",
)  # fmt: skip
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
#: Names in the job folder the sandbox may not replace (the worker's, or its own inputs).
RESERVED = frozenset({"run.log", "status.json", "job_meta.json", "strategy.py", "config.yml"})
_MAX_COLLECT_DEPTH = 8
#: Most result files copied back from one job.
MAX_COLLECT_FILES = 10_000
_COPY_CHUNK = 1 << 20
#: Where the job folder is inside the sandbox (the same for every job, so a sandbox can be
#: prepared before its job is known).
JOB_DIR = "/job"


def _inside(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _bind(root: str, source: str, *, read_only: bool = True, flags: int = 0) -> None:
    target = _inside(root, source)
    if os.path.isdir(source):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if not os.path.exists(target):
            Path(target).touch(mode=0o644)
    mount(source, target, None, MS_BIND)
    if read_only:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | flags)


def _mirror(root: str, source: str) -> None:
    """Show ``source`` at the same path: a symlink as the same symlink, else read-only."""
    if os.path.islink(source):
        os.symlink(os.readlink(source), _inside(root, source))
    elif os.path.exists(source):
        _bind(root, source)


def _tmpfs(target: str, options: str) -> None:
    os.makedirs(target, mode=0o755, exist_ok=True)
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)


def build(policy: SandboxPolicy) -> str:
    """Build the private root on ``policy.scratch``. Returns the root path.

    This process must already be in its own mount namespace, with CAP_SYS_ADMIN there.
    """
    root = policy.scratch
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    for top in SYSTEM_DIRS:
        _mirror(root, top)
    # /tmp first: a bound path or the job folder may live under the host's /tmp.
    _tmpfs(_inside(root, "/tmp"), f"size={policy.tmp_mb}m,mode=1777")
    for path in policy.read_only:
        if os.path.exists(path):
            _bind(root, path, flags=MS_NODEV)
    _etc(root, policy)
    _dev(root, policy)
    os.makedirs(_inside(root, "/proc"), mode=0o555, exist_ok=True)
    if policy.work_dir and policy.persistent:
        target = _inside(root, JOB_DIR)
        os.makedirs(target, mode=0o700, exist_ok=True)
        mount(policy.work_dir, target, None, MS_BIND)
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    elif policy.work_dir is not None:
        _tmpfs(_inside(root, JOB_DIR),
               f"size={policy.disk_mb}m,mode=0700,uid={policy.uid},gid={policy.gid}")  # fmt: skip
    return root


def _etc(root: str, policy: SandboxPolicy) -> None:
    etc = _inside(root, "/etc")
    os.makedirs(etc, mode=0o755, exist_ok=True)
    for name in ETC_FILES:
        _mirror(root, os.path.join("/etc", name))
    nologin = "/usr/sbin/nologin"
    users = f"root:x:0:0:root:/:{nologin}\nsandbox:x:{policy.uid}:{policy.gid}::/tmp:{nologin}\n"
    groups = f"root:x:0:\nsandbox:x:{policy.gid}:\n"
    files = {
        "passwd": users, "group": groups, "hostname": "sandbox\n",
        "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
    }  # fmt: skip
    for name, text in files.items():
        Path(etc, name).write_text(text)


def _dev(root: str, policy: SandboxPolicy) -> None:
    dev = _inside(root, "/dev")
    os.makedirs(dev, mode=0o755, exist_ok=True)
    for name in DEVICES:
        source = os.path.join("/dev", name)
        if os.path.exists(source):
            Path(dev, name).touch(mode=0o666)
            mount(source, os.path.join(dev, name), None, MS_BIND)
    _tmpfs(os.path.join(dev, "shm"), f"size={min(policy.tmp_mb, 64)}m,mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, os.path.join(dev, name))


def stage(policy: SandboxPolicy, root: str) -> None:
    """Copy ``policy.inputs`` from the real job folder into the private one (read-only)."""
    assert policy.work_dir is not None
    inside = _inside(root, JOB_DIR)
    for name in policy.inputs:
        source = os.path.join(policy.work_dir, name)
        if os.path.isfile(source):
            target = os.path.join(inside, name)
            Path(target).write_bytes(Path(source).read_bytes())
            os.chmod(target, 0o444)


class CollectLimit(Exception):
    """The job's results do not fit the limits of the copy back (size, files, links)."""


def collect(policy: SandboxPolicy, root: str) -> list[str]:
    """Copy the regular files the code wrote in its private job folder back into the real one.

    Returns their relative paths.

    Called once nothing of the job runs any more. Walks with directory descriptors and opens
    with ``O_NOFOLLOW``, so no symlink (on any component) is ever followed; skips
    ``RESERVED`` names and the inputs; copies in chunks, atomically. Refuses (nothing is
    copied) when the files add up to more than ``disk_mb`` (sizes, so sparse files count
    whole), more than ``MAX_COLLECT_FILES``, or a file has several names (hard links would
    multiply it).

    Raises:
        CollectLimit: one of those limits was passed.
    """
    assert policy.work_dir is not None
    source_root = _inside(root, JOB_DIR)
    wanted = set(_plan(source_root, RESERVED | set(policy.inputs), policy.disk_mb))
    base = Path(policy.work_dir)
    copied: list[str] = []
    for rel, dir_fd, name in _files(source_root):  # nothing runs in there now: same tree
        target = base / rel
        if rel not in wanted or not _safe_target(base, target):
            continue
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as source, atomic_writer(target) as sink:
            while chunk := source.read(_COPY_CHUNK):
                sink.write(chunk)
        copied.append(rel)
    return copied


def _files(source_root: str) -> Iterator[tuple[str, int, str]]:
    """``(relative path, directory fd, name)`` of every regular file under ``source_root``.

    Depth-limited; the fd is valid during the iteration step only.
    """
    try:
        top = os.open(source_root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        for folder, dirs, files, dir_fd in os.fwalk(dir_fd=top, follow_symlinks=False):
            if os.path.normpath(folder).count(os.sep) >= _MAX_COLLECT_DEPTH:
                dirs.clear()
            for name in files:
                try:
                    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    yield os.path.normpath(os.path.join(folder, name)), dir_fd, name
    finally:
        os.close(top)


def _plan(source_root: str, skip: AbstractSet[str], disk_mb: int) -> list[str]:
    """The relative paths to copy, after checking the limits (see ``collect``)."""
    plan: list[str] = []
    total = 0
    for rel, dir_fd, name in _files(source_root):
        if rel in skip:
            continue
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if info.st_nlink > 1:
            raise CollectLimit(f"{rel} has {info.st_nlink} names (hard links)")
        total += info.st_size
        if total > disk_mb * 2**20:
            raise CollectLimit(f"the results are larger than {disk_mb} MiB")
        if len(plan) >= MAX_COLLECT_FILES:
            raise CollectLimit(f"more than {MAX_COLLECT_FILES} result files")
        plan.append(rel)
    return plan


def _safe_target(base: Path, target: Path) -> bool:
    """True when ``target`` stays inside ``base`` with no symlink on the way."""
    current = base
    for part in target.relative_to(base).parts[:-1]:
        current = current / part
        if current.is_symlink():
            return False
    return not target.is_symlink()


def space_left(root: str, path: str) -> int:
    """Free bytes of the file system at ``path`` inside the private root."""
    info = os.statvfs(_inside(root, path))
    return info.f_bavail * info.f_frsize
