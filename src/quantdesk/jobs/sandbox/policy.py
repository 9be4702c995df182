"""What a sandboxed process may see and use, the layers that enforce it, what happened to it.

``SandboxPolicy``, ``Layer`` and ``Outcome``. Plain data: it crosses the fork server's socket
as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import site
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Layer(StrEnum):
    """One isolation mechanism (``../shared/research/reliability.md`` §2.4)."""

    IDENTITY = "identity"  # own uid/gid (root) or a user namespace; no capabilities, no_new_privs
    USERNS = "userns"  # identity comes from an unprivileged user namespace (server not root)
    FILESYSTEM = "filesystem"  # own mount namespace: read-only runtime, private job copy + /tmp
    NETWORK = "network"  # own network namespace: no interface but a down loopback
    PID = "pid"  # own pid, IPC and UTS namespaces: nothing outlives the job's init
    CGROUP = "cgroup"  # memory and process limits by a control group
    SECCOMP = "seccomp"  # the system-call deny-list
    LANDLOCK = "landlock"  # file-system allow-list and no TCP, by the kernel's LSM
    RLIMITS = "rlimits"  # CPU, file size, open files, core dumps (+ memory/processes w/o cgroup)


#: System directories the sandbox shows read-only as a whole (or as the symlinks they are).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Without these, ``BACKTEST_SANDBOX=strict`` runs no job.
CORE = (Layer.IDENTITY, Layer.FILESYSTEM, Layer.NETWORK)
#: Memory/process limits are core too: a control group, or rlimits in a user namespace.
ALL_LAYERS = tuple(Layer)


class Level(StrEnum):
    """How much of the sandbox works on this machine."""

    STRONG = "strong"  # every layer
    STANDARD = "standard"  # the core layers and limits; some defence-in-depth layer missing
    WEAK = "weak"  # a core layer missing: strict mode refuses to run jobs
    OFF = "off"  # BACKTEST_SANDBOX=off (development only): no isolation at all


def level_of(layers: frozenset[Layer] | set[Layer], enabled: bool = True) -> Level:
    """The level a set of working layers gives."""
    if not enabled:
        return Level.OFF
    limits = Layer.CGROUP in layers or Layer.USERNS in layers
    if not (set(CORE) <= layers and limits):
        return Level.WEAK
    wanted = set(ALL_LAYERS) - {Layer.USERNS}
    return Level.STRONG if wanted <= layers else Level.STANDARD


def missing_core(layers: frozenset[Layer] | set[Layer]) -> list[str]:
    """Names of the core layers absent from ``layers`` (what strict mode needs)."""
    missing = [str(layer) for layer in CORE if layer not in layers]
    if Layer.CGROUP not in layers and Layer.USERNS not in layers:
        missing.append("memory/pids limits (cgroup)")
    return missing


@dataclass(frozen=True)
class SandboxPolicy:
    """One sandboxed run.

    Attributes:
        uid, gid: The unprivileged identity the code runs as.
        layers: The layers to apply (the self-test's result; empty = no isolation).
        read_only: Host paths visible read-only at the same path (runtime, catalog...).
        work_dir: The job folder. With the filesystem layer the code sees a private,
            ``disk_mb``-sized copy of it (``inputs`` copied in, results copied back when the
            code exits 0 and ``collect`` is set); without, the folder itself.
        inputs: File names copied from ``work_dir`` into the private copy (read-only there).
        collect: Copy regular files the code wrote back into ``work_dir`` (exit status 0).
        persistent: ``work_dir`` itself is bound read-write at ``/job`` (a user's notebook
            folder: what the code writes stays), instead of a private copy. Only for runs
            started by the one-shot launcher (the template knows the folder).
        inet_sockets: Let the code create IPv4/IPv6 sockets (``seccomp.install``): notebook
            kernels need it; the network namespace and Landlock still give them no network.
        memory_mb, max_procs, disk_mb, tmp_mb: Limits (MiB, processes + threads, MiB, MiB).
        cpus: CPU time the run may use, in cores (a control group quota).
        cpu_seconds: CPU-time limit (RLIMIT_CPU), ``None`` for none.
        cgroup: Name prefix of the run's control group (under ``quantdesk/<instance>/``; the
            sandbox adds a random suffix and reports the name when the run starts).
        instance: The deployment the group belongs to.
        scratch: An empty host directory the private root is mounted on (in the sandbox's
            own mount namespace only).
        env: The whole environment of the code.
    """

    uid: int
    gid: int
    layers: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()
    work_dir: str | None = None
    inputs: tuple[str, ...] = ()
    collect: bool = False
    persistent: bool = False
    inet_sockets: bool = False
    memory_mb: int = 2048
    max_procs: int = 64
    cpus: float = 1.0
    disk_mb: int = 1024
    tmp_mb: int = 256
    cpu_seconds: int | None = None
    cgroup: str | None = None
    instance: str = "default"
    scratch: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def has(self, layer: Layer) -> bool:
        """Whether the policy enables ``layer``."""
        return str(layer) in self.layers

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain JSON-able data (``from_dict`` reads it back)."""
        return dataclasses.asdict(self)

    def template_key(self) -> str:
        """The policy minus what only a job decides (its folder, inputs and environment).

        Two runs with the same key can use the same prepared sandbox.
        """
        generic = dataclasses.replace(
            self, work_dir=None if self.work_dir is None else "", inputs=(), env={}
        )
        return json.dumps(dataclasses.asdict(generic), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxPolicy:
        """The policy ``to_dict`` gave; unknown keys are ignored, JSON lists become tuples."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("layers", "read_only", "inputs"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)


#: Names of collected files an outcome lists (the rest are only counted).
MAX_COLLECTED = 1000


@dataclass(frozen=True)
class Outcome:
    """How a sandboxed run ended, as its monitor saw it.

    Attributes:
        exit_code: The code's exit status (``None`` when killed by a signal).
        signal: The signal that killed it, if any.
        oom_kills: Processes killed for exceeding the memory limit.
        pids_limit_hits: Forks refused at the process limit.
        disk_full: The private job folder or ``/tmp`` ran out of space (which one in
            ``full``).
        peak_memory: Peak memory of the group in bytes (0 unknown).
        collected: Files copied back into the job folder.
        error: The sandbox could not be set up (the code never ran).
    """

    exit_code: int | None = None
    signal: int | None = None
    oom_kills: int = 0
    pids_limit_hits: int = 0
    disk_full: bool = False
    full: str = ""
    peak_memory: int = 0
    collected: tuple[str, ...] = ()
    error: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        """The outcome a monitor reported.

        Raises:
            TypeError, ValueError: a field has the wrong type.
        """

        def number(name: str) -> int | None:
            value = data.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer")
            return value

        collected = data.get("collected") or []
        error = data.get("error")
        if not isinstance(collected, list) or not all(isinstance(x, str) for x in collected):
            raise TypeError("collected must be a list of names")
        return cls(
            exit_code=number("exit_code"), signal=number("signal"),
            oom_kills=number("oom_kills") or 0, pids_limit_hits=number("pids_limit_hits") or 0,
            disk_full=bool(data.get("disk_full")), full=str(data.get("full") or ""),
            peak_memory=number("peak_memory") or 0, collected=tuple(collected[:MAX_COLLECTED]),
            error=None if error is None else str(error),
        )  # fmt: skip


def runtime_paths(extra_commands: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Host paths a Python job needs read-only.

    This interpreter's installation and environment, every ``sys.path`` entry, and for each
    command in ``extra_commands`` (e.g. ``RQALPHA_COMMAND``) its virtual environment and base
    interpreter. ``/usr``, ``/lib*`` and a few ``/etc`` files are added by the sandbox itself.
    """
    paths: list[str] = [sys.base_prefix, sys.prefix, sys.exec_prefix, _package_root()]
    paths += _pth_dirs()  # editable installs; never sys.path[0] (the cwd or a script's dir)
    for command in extra_commands:
        paths += _command_paths(command)
    return _dedupe(paths)


def _package_root() -> str:
    """The directory holding the ``quantdesk`` package (``src/`` of an editable install)."""
    return str(Path(__file__).resolve().parents[3])


def _pth_dirs() -> list[str]:
    """Directories that ``.pth`` files of the site-packages add to ``sys.path``."""
    out: list[str] = []
    for site_dir in site.getsitepackages():
        for pth in Path(site_dir).glob("*.pth"):
            for raw in pth.read_text(errors="replace").splitlines():
                line = raw.strip()
                if line.startswith("/") and os.path.isdir(line):
                    out.append(line)
    return out


def _command_paths(command: str) -> list[str]:
    first = command.split(maxsplit=1)[0] if command.split() else ""
    found = shutil.which(first) if first else None
    if not found:
        return []
    out = [str(Path(found).resolve().parent)]
    venv = Path(os.path.abspath(found)).parent.parent
    cfg = venv / "pyvenv.cfg"
    if cfg.is_file():
        out.append(str(venv))
        for line in cfg.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            prefix = Path(value.strip()).resolve().parent
            # Only a Python installation (``<prefix>/lib/python3.*``), never e.g. a home folder.
            if key.strip() == "home" and value.strip() and any(prefix.glob("lib/python3*")):
                out.append(str(prefix))
    return out


def _dedupe(paths: list[str]) -> tuple[str, ...]:
    """Absolute existing paths, with those inside another one dropped.

    Not resolved: the sandbox shows them where the interpreter found them.
    """
    absolute = sorted({os.path.abspath(p) for p in paths if p and os.path.exists(p)}, key=len)
    kept: list[str] = []
    for path in absolute:
        if path == "/" or any(_within(path, top) for top in SYSTEM_DIRS):
            continue  # mounted as a whole by the sandbox
        if not any(_within(path, k) for k in kept):
            kept.append(path)
    return tuple(kept)


def _within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")
