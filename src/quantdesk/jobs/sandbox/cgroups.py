"""Per-job control groups: a memory and a process limit, what hit them, and a kill switch.

cgroup v1 (separate ``memory`` and ``pids`` hierarchies) and v2 (one unified tree with both
controllers) are supported; the hierarchy is found in ``/proc/self/mountinfo``. Groups live
under ``quantdesk/<instance>/`` where ``instance`` names one deployment (its job folder), so
two servers on a host never sweep each other's groups. Creating groups needs root (or a
delegated v2 subtree).

Files used (kernel docs ``cgroup-v1/memory.rst``, ``pids.rst``, ``cgroup-v2.rst``):
v1 ``memory.limit_in_bytes``, ``memory.memsw.limit_in_bytes``, ``memory.oom_control``
(``oom_kill N``), ``memory.max_usage_in_bytes``, ``pids.max``, ``pids.events`` (``max N``);
v2 ``memory.max``, ``memory.swap.max``, ``memory.events``, ``memory.peak``, ``pids.max``,
``pids.events``, ``cgroup.kill``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = "quantdesk"


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, super options) of every cgroup mount."""
    out: list[tuple[str, str, set[str]]] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        out.append((fields[4], tail[0], set(tail[2].split(","))))
    return out


@dataclass(frozen=True)
class Hierarchy:
    """Where the memory, pids and (optional) cpu controllers are.

    ``version`` 1 or 2 and their roots.
    """

    version: int
    memory: Path
    pids: Path
    cpu: Path | None = None

    @classmethod
    def find(cls) -> Hierarchy | None:
        """The writable hierarchy with both controllers, or ``None``."""
        mounts = _mounts()
        v1 = {c: Path(p) for p, t, opts in mounts if t == "cgroup" for c in opts}
        if "memory" in v1 and "pids" in v1:
            cpu = v1.get("cpu")
            found = cls(
                1, v1["memory"], v1["pids"], cpu if cpu and os.access(cpu, os.W_OK) else None
            )
        else:
            found = None
            for point, kind, _ in mounts:
                controllers = Path(point, "cgroup.controllers")
                with contextlib.suppress(OSError):
                    names = controllers.read_text().split()
                    if kind == "cgroup2" and {"memory", "pids"} <= set(names):
                        cpu = Path(point) if "cpu" in names else None
                        found = cls(2, Path(point), Path(point), cpu)
                        break
        if found is None or not all(os.access(p, os.W_OK) for p in (found.memory, found.pids)):
            return None
        return found

    def base(self, instance: str) -> list[Path]:
        """The deployment's parent groups (one per controller root, deduplicated)."""
        roots = [self.memory, self.pids, *([self.cpu] if self.cpu else [])]
        return list(dict.fromkeys(r / ROOT / instance for r in roots))


@dataclass(frozen=True)
class JobCgroup:
    """One job's group(s)."""

    hierarchy: Hierarchy
    instance: str
    name: str

    @property
    def paths(self) -> list[Path]:
        """The group's folders, one per controller root (deduplicated)."""
        return [b / self.name for b in self.hierarchy.base(self.instance)]

    def _file(self, controller: str, name: str) -> Path:
        roots = {"memory": self.hierarchy.memory, "pids": self.hierarchy.pids,
                 "cpu": self.hierarchy.cpu or self.hierarchy.memory}  # fmt: skip
        return roots[controller] / ROOT / self.instance / self.name / name

    def create(self, memory_mb: int, max_procs: int, cpus: float | None = None) -> None:
        """Create the group(s) and set the limits.

        ``memory_mb`` in MiB, ``max_procs`` processes, ``cpus``: CPU time as a number of cores,
        where the cpu controller is available.

        Raises:
            OSError: the hierarchy is not writable.
        """
        if self.hierarchy.version == 2:
            self._enable_v2_controllers()
        for path in self.paths:
            path.mkdir(parents=True, exist_ok=True)
        limit = str(memory_mb * 1024 * 1024)
        if self.hierarchy.version == 1:
            self._file("memory", "memory.limit_in_bytes").write_text(limit)
            with contextlib.suppress(OSError):  # only with swap accounting
                self._file("memory", "memory.memsw.limit_in_bytes").write_text(limit)
        else:
            self._file("memory", "memory.max").write_text(limit)
            with contextlib.suppress(OSError):
                self._file("memory", "memory.swap.max").write_text("0")
        self._file("pids", "pids.max").write_text(str(max_procs))
        if cpus and self.hierarchy.cpu is not None:
            period = 100_000
            quota = max(1000, int(cpus * period))
            if self.hierarchy.version == 1:
                self._file("cpu", "cpu.cfs_period_us").write_text(str(period))
                self._file("cpu", "cpu.cfs_quota_us").write_text(str(quota))
            else:
                self._file("cpu", "cpu.max").write_text(f"{quota} {period}")

    def _enable_v2_controllers(self) -> None:
        root = self.hierarchy.memory
        for parent in (root, root / ROOT, root / ROOT / self.instance):
            parent.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text("+cpu")

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the group(s)."""
        for path in self.paths:
            (path / "cgroup.procs").write_text(str(pid))

    def _counter(self, controller: str, name: str, key: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            for line in self._file(controller, name).read_text().splitlines():
                k, _, v = line.partition(" ")
                if k == key:
                    return int(v)
        return 0

    def oom_kills(self) -> int:
        """Processes the kernel killed for exceeding the memory limit."""
        name = "memory.oom_control" if self.hierarchy.version == 1 else "memory.events"
        return self._counter("memory", name, "oom_kill")

    def pids_limit_hits(self) -> int:
        """Forks refused because of the process limit."""
        return self._counter("pids", "pids.events", "max")

    def peak_memory(self) -> int:
        """Peak memory use in bytes (0 when unknown)."""
        name = "memory.max_usage_in_bytes" if self.hierarchy.version == 1 else "memory.peak"
        with contextlib.suppress(OSError, ValueError):
            return int(self._file("memory", name).read_text())
        return 0

    def pids(self) -> list[int]:
        """Processes in the group."""
        found: set[int] = set()
        for path in self.paths:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        return sorted(found)

    def kill(self) -> None:
        """SIGKILL every process in the group (v2: ``cgroup.kill``; v1: until it is empty)."""
        if self.hierarchy.version == 2:
            with contextlib.suppress(OSError):
                self._file("pids", "cgroup.kill").write_text("1")
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self, timeout: float = 2.0) -> bool:
        """Kill what is left and remove the group(s); False if one could not be removed."""
        deadline = time.monotonic() + timeout
        ok = True
        for path in self.paths:
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        ok = False
                        break
                    self.kill()
                    time.sleep(0.01)
        return ok


def sweep(hierarchy: Hierarchy, instance: str, prefix: str = "") -> list[str]:
    """Kill and remove the deployment's leftover groups whose name starts with ``prefix``.

    Those are a previous incarnation's, after a crash. Returns the names removed.
    """
    removed: list[str] = []
    for base in hierarchy.base(instance):
        if not base.is_dir():
            continue
        for child in base.iterdir():
            if child.is_dir() and child.name.startswith(prefix):
                group = JobCgroup(hierarchy, instance, child.name)
                if group.remove() and child.name not in removed:
                    removed.append(child.name)
        if not prefix:  # the whole deployment: its own folder too, once empty
            with contextlib.suppress(OSError):
                base.rmdir()
    return removed
