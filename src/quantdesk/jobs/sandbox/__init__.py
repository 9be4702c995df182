"""The sandbox every piece of user code runs in (jobs, the compile check).

``Sandbox`` turns ``Settings`` into a ``SandboxPolicy`` per run and starts it through a
``Starter``: the worker's warm ``ForkServer`` (``jobs/forkserver.py``) or the one-shot
``Launcher``. ``detect`` is the start-up self-test: it runs the probe under every layer the
machine seems to offer, keeps those whose effect the probe observed (for the network: a TCP
connect to a port the self-test listens on must fail), and gives the ``Level``.
Nothing else in quantdesk starts user code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from quantdesk.core.errors import ConfigurationError
from quantdesk.core.settings import Settings
from quantdesk.jobs.sandbox.cgroups import Hierarchy, JobCgroup, sweep
from quantdesk.jobs.sandbox.handle import CappedLog, LiveLog, Pipes, SandboxRun
from quantdesk.jobs.sandbox.policy import (
    Layer,
    Level,
    Outcome,
    SandboxPolicy,
    level_of,
    missing_core,
    runtime_paths,
)  # fmt: skip
from quantdesk.jobs.sandbox.probe import network_namespace

__all__ = [
    "CappedLog",
    "Detection",
    "Launcher",
    "Layer",
    "Level",
    "LiveLog",
    "Outcome",
    "Sandbox",
    "SandboxPolicy",
    "SandboxRun",
    "Starter",
    "check_mode",
]  # fmt: skip

log = logging.getLogger(__name__)


class Starter(Protocol):
    """Starts sandboxed runs (a fork server or the one-shot launcher)."""

    def spawn(
        self,
        policy: SandboxPolicy,
        target: str,
        args: dict[str, Any],
        log: CappedLog | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> SandboxRun:
        """Start ``target`` under ``policy``; raises ``OSError``/``RuntimeError`` if it cannot."""
        ...


class Launcher:
    """Starts each run as a fresh ``python -I -m quantdesk.jobs.sandbox.launch``.

    No warm template: for rare runs such as the compile check.
    """

    def spawn(
        self,
        policy: SandboxPolicy,
        target: str,
        args: dict[str, Any],
        log: CappedLog | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> SandboxRun:
        """Start ``target`` under ``policy`` in a new launcher process; the run owns its pipes.

        Raises:
            OSError: the launcher could not be started or given the request.
        """
        pipes = Pipes()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "quantdesk.jobs.sandbox.launch",
                 *map(str, pipes.writers)],
                env={}, pass_fds=pipes.writers, stdin=subprocess.PIPE, cwd="/",
            )  # fmt: skip
            assert proc.stdin is not None
            with proc.stdin:
                request = {"target": target, "args": args, "policy": policy.to_dict()}
                proc.stdin.write(json.dumps(request).encode())
        except BaseException:
            pipes.close_readers()
            raise
        finally:
            pipes.close_writers()
        return pipes.run(proc.pid, log, on_event, proc)


@dataclass(frozen=True)
class Detection:
    """The self-test's result: the layers that work, the level, and what is missing."""

    layers: frozenset[Layer]
    level: Level
    missing: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def runnable(self) -> bool:
        """Whether jobs may run (strict mode needs the core layers; ``off`` always runs)."""
        return self.level != Level.WEAK

    def describe(self) -> str:
        """One line for the log: the level, the working layers and what is missing."""
        names = ", ".join(sorted(str(layer) for layer in self.layers)) or "none"
        text = f"sandbox level {self.level}: {names}"
        if self.missing:
            text += f"; missing: {', '.join(self.missing)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        """``{"level", "layers" (sorted), "missing"}`` as JSON-able data (``/api/health``)."""
        return {
            "level": str(self.level),
            "layers": sorted(str(layer) for layer in self.layers),
            "missing": list(self.missing),
        }


def check_mode(settings: Settings) -> None:
    """Refuse ``BACKTEST_SANDBOX=off`` outside development.

    Raises:
        ConfigurationError: ``off`` with ``CONFIG_ENV`` other than development.
    """
    if settings.backtest_sandbox == "off" and not settings.is_development:
        raise ConfigurationError(
            "BACKTEST_SANDBOX=off runs other users' code without isolation; it is accepted "
            "only with CONFIG_ENV=development"
        )


def _candidates() -> set[Layer]:
    """Layers this machine seems to offer, before the probe confirms them."""
    from quantdesk.jobs.sandbox import landlock

    found = {Layer.RLIMITS, Layer.IDENTITY, Layer.FILESYSTEM, Layer.NETWORK, Layer.PID}
    if os.geteuid() != 0:
        found.add(Layer.USERNS)
    elif Hierarchy.find() is not None:
        found.add(Layer.CGROUP)
    if landlock.abi_version() >= 4:
        found.add(Layer.LANDLOCK)
    with contextlib.suppress(ImportError, OSError):
        import pyseccomp  # noqa: F401  (libseccomp2 loads)

        found.add(Layer.SECCOMP)
    return found


#: Layers dropped one at a time when the probe cannot start with all of them.
_FALLBACK_ORDER = (
    Layer.LANDLOCK, Layer.SECCOMP, Layer.CGROUP, Layer.PID, Layer.NETWORK, Layer.FILESYSTEM,
    Layer.USERNS, Layer.IDENTITY,
)  # fmt: skip


class Sandbox:
    """Policies for this deployment's runs, started through ``starter``.

    Args:
        settings: Limits, uid range, paths, ``BACKTEST_SANDBOX``.
        starter: Fork server (worker) or launcher (API).
    """

    def __init__(self, settings: Settings, starter: Starter) -> None:
        self.settings = settings
        self.starter = starter
        base = settings.backtest_base_dir.resolve()
        self.instance = hashlib.sha256(str(base).encode()).hexdigest()[:12]
        self.scratch = base / ".sandbox" / "root"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.detection: Detection | None = None
        commands = (settings.rqalpha_command,) if settings.rqalpha_command else ()
        paths = (*runtime_paths(commands), str(settings.data_dir.resolve()))
        if settings.rqalpha_bundle_path is not None:  # read-only, like the catalog
            paths = (*paths, str(settings.rqalpha_bundle_path.resolve()))
        private = [base, settings.secret_key_path.resolve(), *_database_files(settings)]
        self._read_only = tuple(p for p in paths if not any(_within(x, p) for x in private))
        for dropped in sorted(set(paths) - set(self._read_only)):
            log.warning("not shown to user code (it contains private files): %s", dropped)

    @property
    def enabled(self) -> bool:
        """Whether jobs run sandboxed (any ``BACKTEST_SANDBOX`` but ``off``)."""
        return self.settings.backtest_sandbox != "off"

    def uid_for(self, slot: int | None) -> int:
        """The uid (= gid) of worker ``slot``; ``None``: the compile check's (the last).

        Raises:
            ConfigurationError: the slot is outside ``BACKTEST_SANDBOX_UIDS``.
        """
        uids = self.settings.sandbox_uids
        if slot is None:
            return uids[-1]
        if not 0 <= slot < len(uids):
            raise ConfigurationError(
                f"worker slot {slot} has no uid in "
                f"BACKTEST_SANDBOX_UIDS={self.settings.backtest_sandbox_uids}"
            )
        return uids[slot]

    def policy(
        self,
        slot: int | None,
        *,
        work_dir: Path | None = None,
        inputs: tuple[str, ...] = (),
        cgroup: str | None = None,
        env: dict[str, str] | None = None,
        layers: frozenset[Layer] | None = None,
    ) -> SandboxPolicy:
        """The policy of one run for worker ``slot`` (``None``: the compile check)."""
        s = self.settings
        uid = self.uid_for(slot)
        if layers is None:
            layers = self.detection.layers if self.detection and self.enabled else frozenset()
        return SandboxPolicy(
            uid=uid, gid=uid, layers=tuple(sorted(str(x) for x in layers)),
            read_only=self._read_only, work_dir=str(work_dir) if work_dir else None,
            inputs=inputs, collect=work_dir is not None, memory_mb=s.backtest_memory_mb,
            max_procs=s.backtest_max_procs, cpus=s.backtest_cpus, disk_mb=s.backtest_disk_mb,
            tmp_mb=s.backtest_tmp_mb,
            cpu_seconds=int(s.backtest_timeout) + 30, cgroup=cgroup, instance=self.instance,
            scratch=str(self.scratch), env=env or {},
        )  # fmt: skip

    @property
    def isolates_files(self) -> bool:
        """True when runs get their own file system (the work folder is ``/job`` inside)."""
        detection = self.detection
        return self.enabled and detection is not None and Layer.FILESYSTEM in detection.layers

    def research_policy(
        self,
        uid: int,
        *,
        notebook_dir: Path,
        extra_read_only: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> SandboxPolicy:
        """The policy of a user's notebook server: ``notebook_dir`` bound read-write at ``/job``.

        Research limits (``RESEARCH_MEMORY_MB``, ``RESEARCH_MAX_PROCS``), no CPU-time limit (a
        server lives for hours), everything else as a job's.
        """
        s = self.settings
        layers = self.detection.layers if self.detection and self.enabled else frozenset()
        return SandboxPolicy(
            uid=uid, gid=uid, layers=tuple(sorted(str(x) for x in layers)),
            read_only=(*self._read_only, *extra_read_only), work_dir=str(notebook_dir),
            persistent=True, inet_sockets=True, memory_mb=s.research_memory_mb,
            max_procs=s.research_max_procs, cpus=max(s.backtest_cpus, 1.0),
            disk_mb=s.backtest_disk_mb, tmp_mb=s.backtest_tmp_mb,
            cpu_seconds=None, cgroup="research-" if Layer.CGROUP in layers else None,
            instance=self.instance, scratch=str(self.scratch), env=env or {},
        )  # fmt: skip

    def cgroup(self, name: str) -> JobCgroup | None:
        """The control group ``name`` of this deployment (``None`` without cgroups)."""
        hierarchy = Hierarchy.find()
        return JobCgroup(hierarchy, self.instance, name) if hierarchy else None

    def sweep(self, prefix: str = "") -> list[str]:
        """Kill and remove leftover control groups (of a crashed previous incarnation)."""
        hierarchy = Hierarchy.find() if os.geteuid() == 0 else None
        return sweep(hierarchy, self.instance, prefix) if hierarchy else []

    def detect(self, slot: int | None = None) -> Detection:
        """Run the self-test (cached on the object); logs the result."""
        if not self.enabled:
            self.detection = Detection(frozenset(), Level.OFF, ("BACKTEST_SANDBOX=off",))
            log.warning("%s: user code runs WITHOUT isolation", self.detection.describe())
            return self.detection
        layers = _candidates()
        details: dict[str, Any] = {}
        for drop in (None, *_FALLBACK_ORDER):
            if drop is not None:
                if drop not in layers:
                    continue
                layers.discard(drop)
            observed, error = self._probe(slot, frozenset(layers))
            if observed is not None:
                details = observed
                layers = _confirmed(layers, observed, self.instance)
                break
            details["errors"] = [*details.get("errors", []), f"{drop}: {error}"]
        else:
            layers = set()
        missing = tuple(missing_core(layers))
        self.detection = Detection(frozenset(layers), level_of(layers), missing, details)
        log.info("%s", self.detection.describe())
        return self.detection

    def _probe(
        self, slot: int | None, layers: frozenset[Layer]
    ) -> tuple[dict[str, Any] | None, str]:
        """Run the probe under ``layers``: its report, or ``None`` and why it failed.

        The probe tries a TCP connection to a port this process listens on (on 127.0.0.1),
        with IPv4 sockets allowed by the system-call filter (as a notebook kernel has them),
        so that only the network namespace or Landlock can stop it.
        """
        secret = self.settings.secret_key_path
        prefix = "probe-" if slot is None else f"s{slot}-probe-"  # swept with the slot's groups
        policy = self.policy(slot, layers=layers, cgroup=prefix if Layer.CGROUP in layers else None)
        policy = dataclasses.replace(policy, inet_sockets=True)
        reports: list[dict[str, Any]] = []
        with _listening() as port:
            args = {
                "paths": [
                    str(self.settings.backtest_base_dir.resolve()),
                    str(secret),
                    "/etc/shadow",
                    *map(str, _database_files(self.settings)),
                ],
                "ports": [port],
            }
            try:
                run = self.starter.spawn(policy, "probe", args, on_event=reports.append)
            except (OSError, RuntimeError) as exc:
                return None, str(exc)
            if not run.wait(30.0):
                run.kill()
        outcome = run.outcome or Outcome(error="no outcome")
        reports = [r for r in reports if "uid" in r]
        if outcome.error or outcome.exit_code != 0 or not reports:
            tail = run.output.decode(errors="replace").strip().splitlines()[-1:] or [""]
            return None, outcome.error or f"exit {outcome.exit_code} {tail[0]}"
        return reports[0], ""


@contextlib.contextmanager
def _listening() -> Iterator[int]:
    """A TCP socket listening on 127.0.0.1 for the probe to try (never accepted); its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # (the kernel completes a connection in the backlog by itself)
        yield int(listener.getsockname()[1])


def _confirmed(layers: set[Layer], seen: dict[str, Any], instance: str) -> set[Layer]:
    """Keep only the layers whose effect the probe observed.

    The network layer only when the probe failed to reach every port it was given and, when
    it could tell, sat in a network namespace other than this process's.
    """
    kept = set(layers)
    if not (seen.get("uid", 0) != 0 and seen.get("cap_eff", 1) == 0 and seen.get("no_new_privs")):
        kept.discard(Layer.IDENTITY)
    if any(seen.get("paths", {}).values()) or seen.get("write_root"):
        kept.discard(Layer.FILESYSTEM)
    if seen.get("seccomp") != 2:
        kept.discard(Layer.SECCOMP)
    if seen.get("visible_pids", 0) > 8 or seen.get("hostname") != "sandbox":
        kept.discard(Layer.PID)
    if Layer.CGROUP in kept and instance not in str(seen.get("cgroup", "")):
        kept.discard(Layer.CGROUP)
    ports = seen.get("ports")
    if not isinstance(ports, dict) or not ports or "connected" in ports.values():
        kept.discard(Layer.NETWORK)
    netns = seen.get("netns")
    if netns and netns == network_namespace():
        kept.discard(Layer.NETWORK)
    return kept


def _within(path: Path, parent: str) -> bool:
    return str(path) == parent or str(path).startswith(parent.rstrip("/") + "/")


def _database_files(settings: Settings) -> list[Path]:
    url = settings.database_url
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return [Path(url[len("sqlite:///") :].split("?")[0]).resolve()]
    return []
